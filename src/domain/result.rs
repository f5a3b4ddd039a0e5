//! A probe's result as the pipeline carries it from worker to folder, and the
//! partition a monitor's results travel in.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::health::Observation;

/// One finished probe (or a job given up on), stored append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub job_id: Uuid,
    pub monitor_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    pub up: bool,
    pub http_status: Option<i32>,
    pub latency_ms: i32,
    pub error: Option<String>,
    /// The worker that ran the probe.
    pub worker: String,
}

impl ProbeResult {
    /// What the state machine needs to know of this result.
    pub fn observation(&self) -> Observation {
        Observation {
            up: self.up,
            scheduled_at: self.scheduled_at,
            checked_at: self.checked_at,
        }
    }
}

/// `time` truncated to whole microseconds, the precision the log stores, so a
/// time reads back equal wherever it was copied.
pub fn to_micros(time: OffsetDateTime) -> OffsetDateTime {
    let nanos = time.nanosecond();
    time.replace_nanosecond(nanos - nanos % 1_000)
        .unwrap_or(time)
}

/// The partition a monitor belongs to, out of `partitions`: its results stream
/// and (for scale-out) the lease that decides who schedules and folds it.
/// Every process computes the same answer.
pub fn partition_of(monitor_id: Uuid, partitions: u16) -> u16 {
    let count = u128::from(partitions.max(1));
    // The remainder is below `partitions`, so it fits.
    u16::try_from(monitor_id.as_u128() % count).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_monitor_lands_in_one_of_the_partitions(id: u128, partitions in 1u16..=1024) {
            let partition = partition_of(Uuid::from_u128(id), partitions);
            prop_assert!(partition < partitions);
            prop_assert_eq!(partition, partition_of(Uuid::from_u128(id), partitions));
        }
    }

    #[test]
    fn times_are_kept_to_the_microsecond() {
        let time = time::macros::datetime!(2026-01-01 00:00:00.123456789 UTC);
        assert_eq!(
            to_micros(time),
            time::macros::datetime!(2026-01-01 00:00:00.123456 UTC)
        );
    }

    #[test]
    fn random_ids_spread_over_the_partitions() {
        let mut seen = [0u32; 8];
        for _ in 0..8_000 {
            seen[usize::from(partition_of(Uuid::new_v4(), 8))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 700), "uneven spread: {seen:?}");
    }
}
