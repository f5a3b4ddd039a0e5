//! Hourly roll-ups of probe results: checks, failures and a latency
//! histogram per monitor and hour, so long histories are read from a few
//! rows instead of every result.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::result::ProbeResult;

/// Upper bounds (inclusive, ms) of the latency buckets; the last bucket
/// holds everything above the last bound.
pub const BUCKET_BOUNDS_MS: [u32; 16] = [
    1, 2, 5, 10, 20, 50, 100, 200, 300, 500, 750, 1000, 2000, 5000, 10000, 30000,
];
pub const BUCKETS: usize = BUCKET_BOUNDS_MS.len() + 1;

/// One monitor's results in one hour (or, summed, in a longer bucket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    pub monitor_id: Uuid,
    pub start: OffsetDateTime,
    pub checks: i32,
    pub failed_checks: i32,
    pub latency_hist: [i32; BUCKETS],
}

impl Rollup {
    pub fn empty(monitor_id: Uuid, start: OffsetDateTime) -> Self {
        Self {
            monitor_id,
            start,
            checks: 0,
            failed_checks: 0,
            latency_hist: [0; BUCKETS],
        }
    }

    fn count(&mut self, up: bool, latency_ms: i32) {
        self.checks += 1;
        if !up {
            self.failed_checks += 1;
        }
        self.latency_hist[bucket_of(latency_ms)] += 1;
    }

    /// Adds `other`'s counts to this one's.
    pub fn absorb(&mut self, other: &Rollup) {
        self.checks += other.checks;
        self.failed_checks += other.failed_checks;
        for (mine, theirs) in self.latency_hist.iter_mut().zip(other.latency_hist) {
            *mine += theirs;
        }
    }

    /// The latency below which `quantile` (0–1) of the checks fell: the
    /// upper bound of the bucket it falls in; `None` without checks.
    pub fn latency_quantile_ms(&self, quantile: f64) -> Option<u32> {
        let total: i64 = self.latency_hist.iter().map(|&n| i64::from(n)).sum();
        if total == 0 {
            return None;
        }
        let wanted = (quantile.clamp(0.0, 1.0) * total as f64).ceil().max(1.0) as i64;
        let mut seen = 0;
        let index = self.latency_hist.iter().position(|&count| {
            seen += i64::from(count);
            seen >= wanted
        })?;
        Some(bound_of(index))
    }
}

fn bucket_of(latency_ms: i32) -> usize {
    let latency = u32::try_from(latency_ms).unwrap_or(0);
    BUCKET_BOUNDS_MS
        .iter()
        .position(|&bound| latency <= bound)
        .unwrap_or(BUCKETS - 1)
}

/// A bucket's upper bound; the open last bucket reports 60 s, the longest
/// a probe may take.
fn bound_of(index: usize) -> u32 {
    BUCKET_BOUNDS_MS.get(index).copied().unwrap_or(60_000)
}

/// The start of the hour `at` falls in (UTC).
pub fn hour_of(at: OffsetDateTime) -> OffsetDateTime {
    let at = at.to_offset(time::UtcOffset::UTC);
    at.replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(at)
}

/// The start of the day `at` falls in (UTC).
pub fn day_of(at: OffsetDateTime) -> OffsetDateTime {
    hour_of(at).replace_hour(0).unwrap_or(at)
}

/// Counts `results` by monitor and the hour of their tick.
pub fn by_hour<'a>(results: impl IntoIterator<Item = &'a ProbeResult>) -> Vec<Rollup> {
    let mut rollups: BTreeMap<(Uuid, OffsetDateTime), Rollup> = BTreeMap::new();
    for result in results {
        let hour = hour_of(result.scheduled_at);
        rollups
            .entry((result.monitor_id, hour))
            .or_insert_with(|| Rollup::empty(result.monitor_id, hour))
            .count(result.up, result.latency_ms);
    }
    rollups.into_values().collect()
}

/// The bucket starts from `from` (rounded down to its bucket) up to `to`.
pub fn bucket_starts(
    from: OffsetDateTime,
    to: OffsetDateTime,
    bucket: Duration,
) -> Vec<OffsetDateTime> {
    let mut start = if bucket >= Duration::DAY {
        day_of(from)
    } else {
        hour_of(from)
    };
    let mut starts = Vec::new();
    while start < to {
        starts.push(start);
        start += bucket;
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn result(monitor: u128, at: OffsetDateTime, up: bool, latency_ms: i32) -> ProbeResult {
        ProbeResult {
            job_id: Uuid::new_v4(),
            monitor_id: Uuid::from_u128(monitor),
            scheduled_at: at,
            started_at: at,
            checked_at: at,
            up,
            http_status: None,
            latency_ms,
            error: None,
            worker: "w".into(),
            certificate_expires_at: None,
            observed_version: None,
        }
    }

    #[test]
    fn results_count_into_their_monitor_and_hour() {
        let results = [
            result(1, datetime!(2026-01-01 10:05 UTC), true, 3),
            result(1, datetime!(2026-01-01 10:59:59 UTC), false, 700),
            result(1, datetime!(2026-01-01 11:00 UTC), true, 1),
            result(2, datetime!(2026-01-01 10:30 UTC), true, 40),
        ];
        let rollups = by_hour(&results);
        assert_eq!(rollups.len(), 3);
        let first = &rollups[0];
        assert_eq!(first.start, datetime!(2026-01-01 10:00 UTC));
        assert_eq!((first.checks, first.failed_checks), (2, 1));
        assert_eq!(first.latency_hist[bucket_of(3)], 1);
        assert_eq!(first.latency_hist[bucket_of(700)], 1);
        assert_eq!(rollups[1].start, datetime!(2026-01-01 11:00 UTC));
    }

    #[test]
    fn quantiles_come_from_the_buckets() {
        let mut rollup = Rollup::empty(Uuid::nil(), datetime!(2026-01-01 0:00 UTC));
        assert_eq!(rollup.latency_quantile_ms(0.5), None);
        for latency in [1, 1, 1, 1, 1, 1, 1, 1, 1, 400] {
            rollup.count(true, latency);
        }
        assert_eq!(rollup.latency_quantile_ms(0.5), Some(1));
        assert_eq!(rollup.latency_quantile_ms(0.95), Some(500));
        assert_eq!(rollup.latency_quantile_ms(0.9), Some(1));
        rollup.count(false, 90_000);
        assert_eq!(rollup.latency_quantile_ms(1.0), Some(60_000));
        let mut sum = Rollup::empty(Uuid::nil(), rollup.start);
        sum.absorb(&rollup);
        sum.absorb(&rollup);
        assert_eq!((sum.checks, sum.failed_checks), (22, 2));
        // The histograms add up too: 18 fast checks, 2 at 400 ms, 2 past 60 s.
        assert_eq!(sum.latency_hist[bucket_of(1)], 18);
        assert_eq!(sum.latency_hist[bucket_of(400)], 2);
        assert_eq!(sum.latency_quantile_ms(0.9), Some(500));
        assert_eq!(sum.latency_quantile_ms(1.0), Some(60_000));
    }

    #[test]
    fn buckets_start_on_the_hour_or_the_day() {
        let hours = bucket_starts(
            datetime!(2026-01-01 10:30 UTC),
            datetime!(2026-01-01 13:00 UTC),
            Duration::HOUR,
        );
        assert_eq!(hours.len(), 3);
        assert_eq!(hours[0], datetime!(2026-01-01 10:00 UTC));
        let days = bucket_starts(
            datetime!(2026-01-01 10:30 UTC),
            datetime!(2026-01-03 00:00:01 UTC),
            Duration::DAY,
        );
        assert_eq!(
            days,
            [
                datetime!(2026-01-01 0:00 UTC),
                datetime!(2026-01-02 0:00 UTC),
                datetime!(2026-01-03 0:00 UTC)
            ]
        );
    }
}
