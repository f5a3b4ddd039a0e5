//! `upwatch check URL`: parsing its arguments and printing its result.

use serde_json::json;

use crate::domain::probe::ProbeSpec;
use crate::domain::{HttpMethod, MonitorUrl, TimeoutMs};
use crate::probe::ProbeOutcome;

/// The probe `check` runs; the error names the bad argument.
pub fn spec(url: &str, timeout_ms: i64) -> Result<ProbeSpec, String> {
    Ok(ProbeSpec {
        url: MonitorUrl::parse(url).map_err(|e| format!("URL {e}"))?,
        method: HttpMethod::Get,
        timeout: TimeoutMs::parse(timeout_ms).map_err(|e| format!("--timeout-ms {e}"))?,
        expected_status: None,
    })
}

/// One JSON line, shaped like a stored result.
pub fn report(url: &str, outcome: &ProbeOutcome) -> String {
    json!({
        "url": url,
        "status": if outcome.up { "up" } else { "down" },
        "http_status": outcome.http_status,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
    })
    .to_string()
}
