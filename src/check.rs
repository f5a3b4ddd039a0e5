//! `upwatch check URL`: parsing its arguments and printing its result.

use serde_json::json;

use crate::domain::check::{Check, CheckFields};
use crate::domain::condition::Conditions;
use crate::domain::observation::Observation;
use crate::domain::probe::ProbeSpec;
use crate::domain::{MonitorUrl, TimeoutMs};

/// The probe `check` runs; the error names the bad argument.
pub fn spec(url: &str, timeout_ms: i64, conditions: &[String]) -> Result<ProbeSpec, String> {
    let conditions = Conditions::parse(conditions).map_err(|(index, e)| match index {
        Some(i) => format!("--condition `{}`: {e}", conditions[i]),
        None => format!("--condition: {e}"),
    })?;
    let fields = CheckFields {
        conditions,
        ..CheckFields::of(MonitorUrl::parse(url).map_err(|e| format!("URL {e}"))?)
    };
    Ok(ProbeSpec {
        check: Check::parse(fields).map_err(|e| format!("URL {}", e.message))?,
        timeout: TimeoutMs::parse(timeout_ms).map_err(|e| format!("--timeout-ms {e}"))?,
    })
}

/// One JSON line, shaped like a stored result.
pub fn report(url: &str, outcome: &Observation) -> String {
    json!({
        "url": url,
        "status": if outcome.up { "up" } else { "down" },
        "http_status": outcome.details.http_status,
        "certificate_expires_at": outcome.details.certificate_expires_at
            .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok()),
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
    })
    .to_string()
}
