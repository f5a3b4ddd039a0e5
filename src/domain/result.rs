//! A probe's result as the pipeline carries it from worker to folder.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::health::HealthSample;
use super::observation::Observation;

/// One finished probe (or a job given up on), stored append-only: the job's
/// tick and the probe's `Observation`, laid out flat (the results streams
/// and the table hold these fields).
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
    /// When the leaf certificate expires (https, tls); absent in results
    /// published before this field existed.
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_expires_at: Option<OffsetDateTime>,
    /// The version the service reported, when the monitor expects one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_version: Option<String>,
}

impl ProbeResult {
    /// What the state machine needs to know of this result.
    pub fn sample(&self) -> HealthSample {
        HealthSample {
            up: self.up,
            scheduled_at: self.scheduled_at,
            checked_at: self.checked_at,
        }
    }
}

impl ProbeResult {
    /// The result of `job_id` (monitor `monitor_id`, tick `scheduled_at`)
    /// that `worker` observed.
    pub fn observed(
        job_id: Uuid,
        monitor_id: Uuid,
        scheduled_at: OffsetDateTime,
        observation: Observation,
        worker: String,
    ) -> Self {
        Self {
            job_id,
            monitor_id,
            scheduled_at,
            started_at: to_micros(observation.started_at),
            checked_at: to_micros(observation.finished_at),
            up: observation.up,
            http_status: observation.details.http_status.map(i32::from),
            latency_ms: i32::try_from(observation.latency_ms).unwrap_or(i32::MAX),
            error: observation.error,
            worker,
            certificate_expires_at: observation.details.certificate_expires_at.map(to_micros),
            observed_version: observation.details.observed_version,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_kept_to_the_microsecond() {
        let time = time::macros::datetime!(2026-01-01 00:00:00.123456789 UTC);
        assert_eq!(
            to_micros(time),
            time::macros::datetime!(2026-01-01 00:00:00.123456 UTC)
        );
    }
}
