//! Prometheus metrics: every metric upwatch exports is named and described
//! here, and recorded through the small functions below, so the names live
//! in one place. `/metrics` renders them (docs/operations.md lists them).

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const PROBES: &str = "upwatch_probes_total";
pub const PROBE_DURATION: &str = "upwatch_probe_duration_seconds";
pub const SCHEDULE_LAG: &str = "upwatch_schedule_lag_seconds";
pub const TRANSITIONS: &str = "upwatch_transitions_total";
pub const MONITORS: &str = "upwatch_monitors";
pub const TICKS_SKIPPED: &str = "upwatch_ticks_skipped_total";
pub const STREAM_PENDING: &str = "upwatch_stream_pending";
pub const NOTIFICATIONS: &str = "upwatch_notifications_total";
pub const PARTITIONS_OWNED: &str = "upwatch_partitions_owned";
pub const HTTP_REQUESTS: &str = "upwatch_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "upwatch_http_request_duration_seconds";

/// Probe durations: from a fast local answer to the longest timeout.
const PROBE_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];
/// Schedule lag: the budget is 250 ms at the 99th percentile.
const LAG_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use (once per process: tests
/// that run several upwatch applications in one process share it).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE.get_or_init(install).as_ref()
}

fn install() -> Option<PrometheusHandle> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(PROBE_DURATION.into()), &PROBE_BUCKETS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full(SCHEDULE_LAG.into()), &LAG_BUCKETS))
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.into()), &PROBE_BUCKETS)
        });
    let handle = match builder.and_then(PrometheusBuilder::install_recorder) {
        Ok(handle) => handle,
        Err(error) => {
            tracing::warn!(error = %error, "cannot install the metrics recorder; /metrics stays empty");
            return None;
        }
    };
    describe();
    Some(handle)
}

fn describe() {
    describe_counter!(PROBES, "Probes finished, by result (up or down).");
    describe_histogram!(
        PROBE_DURATION,
        metrics::Unit::Seconds,
        "How long each probe took."
    );
    describe_histogram!(
        SCHEDULE_LAG,
        metrics::Unit::Seconds,
        "From a tick's scheduled time to its probe's start."
    );
    describe_counter!(
        TRANSITIONS,
        "Status transitions recorded, by the status entered."
    );
    describe_gauge!(MONITORS, "Monitors that are not deleted, by status.");
    describe_counter!(
        TICKS_SKIPPED,
        "Ticks skipped on purpose because they could not be probed in time."
    );
    describe_gauge!(
        STREAM_PENDING,
        "Entries taken from a stream and not yet acknowledged."
    );
    describe_counter!(
        NOTIFICATIONS,
        "Delivery attempts, by notification kind, channel kind and outcome."
    );
    describe_gauge!(
        PARTITIONS_OWNED,
        "Partitions this process holds the lease of, by role."
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests served, by method, route and status."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "How long the API took to answer, by route."
    );
    // Present from the start, so alerts on them have a series to watch.
    counter!(TICKS_SKIPPED).absolute(0);
    for result in ["up", "down"] {
        counter!(PROBES, "result" => result).absolute(0);
    }
    for to in ["up", "down"] {
        counter!(TRANSITIONS, "to" => to).absolute(0);
    }
}

/// The text exposition of every metric of this process.
pub fn render() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

pub fn probe_finished(up: bool, duration: Duration, lag: Duration) {
    counter!(PROBES, "result" => if up { "up" } else { "down" }).increment(1);
    histogram!(PROBE_DURATION).record(duration.as_secs_f64());
    histogram!(SCHEDULE_LAG).record(lag.as_secs_f64());
}

pub fn transition(to: &'static str) {
    counter!(TRANSITIONS, "to" => to).increment(1);
}

pub fn monitors(status: &'static str, count: i64) {
    gauge!(MONITORS, "status" => status).set(count as f64);
}

pub fn ticks_skipped(count: u64) {
    counter!(TICKS_SKIPPED).increment(count);
}

pub fn stream_pending(stream: &'static str, count: u64) {
    gauge!(STREAM_PENDING, "stream" => stream).set(count as f64);
}

pub fn notification(kind: &'static str, channel: &'static str, outcome: &'static str) {
    counter!(NOTIFICATIONS, "kind" => kind, "channel" => channel, "outcome" => outcome)
        .increment(1);
}

pub fn partitions_owned(role: &'static str, count: usize) {
    gauge!(PARTITIONS_OWNED, "role" => role).set(count as f64);
}

pub fn http_request(method: String, route: String, status: u16, duration: Duration) {
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_REQUEST_DURATION, "route" => route).record(duration.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORTED: [&str; 11] = [
        PROBES,
        PROBE_DURATION,
        SCHEDULE_LAG,
        TRANSITIONS,
        MONITORS,
        TICKS_SKIPPED,
        STREAM_PENDING,
        NOTIFICATIONS,
        PARTITIONS_OWNED,
        HTTP_REQUESTS,
        HTTP_REQUEST_DURATION,
    ];

    #[test]
    fn the_operations_guide_lists_every_metric() {
        let guide = include_str!("../docs/operations.md");
        for metric in EXPORTED {
            assert!(guide.contains(&format!("| `{metric}` |")), "{metric}");
        }
    }

    #[test]
    fn the_example_alerts_use_only_exported_metrics() {
        let alerts = include_str!("../deploy/prometheus/upwatch-alerts.yml");
        let used: Vec<&str> = alerts
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("upwatch_"))
            .collect();
        assert!(used.len() >= 5, "{used:?}");
        for metric in used {
            let base = metric.trim_end_matches("_bucket");
            assert!(EXPORTED.contains(&base), "{metric} is not exported");
        }
    }
}
