//! `upwatch check URL`: parsing its arguments and printing its result.

use serde_json::json;

use crate::domain::check::{Check, CheckFields, RequestBody, RequestHeaders};
use crate::domain::condition::Conditions;
use crate::domain::observation::Observation;
use crate::domain::probe::ProbeSpec;
use crate::domain::version::ExpectedVersion;
use crate::domain::{HttpMethod, MonitorUrl, TimeoutMs};

/// What `upwatch check` was asked, as given on the command line.
#[derive(Debug, Clone, Default)]
pub struct CheckArgs {
    pub url: String,
    pub timeout_ms: i64,
    pub conditions: Vec<String>,
    /// `Name: value`, each.
    pub headers: Vec<String>,
    pub method: Option<String>,
    pub body: Option<String>,
    pub expected_version: Option<String>,
}

/// The probe `check` runs; the error names the bad argument.
pub fn spec(args: &CheckArgs) -> Result<ProbeSpec, String> {
    let conditions = Conditions::parse(&args.conditions).map_err(|(index, e)| match index {
        Some(i) => format!("--condition `{}`: {e}", args.conditions[i]),
        None => format!("--condition: {e}"),
    })?;
    let pairs = args
        .headers
        .iter()
        .map(|raw| {
            raw.split_once(':')
                .map(|(name, value)| (name.trim(), value.trim()))
                .ok_or_else(|| format!("--header `{raw}` must be `Name: value`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let headers = RequestHeaders::parse(&pairs).map_err(|e| format!("--header {e}"))?;
    let method = args
        .method
        .as_deref()
        .map(|raw| HttpMethod::parse(raw).map_err(|e| format!("--method {e}")))
        .transpose()?;
    let body = args
        .body
        .as_deref()
        .map(|raw| RequestBody::parse(raw).map_err(|e| format!("--body {e}")))
        .transpose()?;
    let expected_version = args
        .expected_version
        .as_deref()
        .map(|raw| ExpectedVersion::parse(raw).map_err(|e| format!("--expected-version {e}")))
        .transpose()?;
    let fields = CheckFields {
        method,
        headers,
        body,
        conditions,
        expected_version,
        ..CheckFields::of(MonitorUrl::parse(&args.url).map_err(|e| format!("URL {e}"))?)
    };
    let check = Check::parse(fields).map_err(|e| {
        let flag = match e.field {
            "method" => "--method",
            "headers" => "--header",
            "body" => "--body",
            "expected_version" => "--expected-version",
            _ => "URL",
        };
        format!("{flag} {}", e.message)
    })?;
    Ok(ProbeSpec {
        check,
        timeout: TimeoutMs::parse(args.timeout_ms).map_err(|e| format!("--timeout-ms {e}"))?,
    })
}

/// One JSON line, shaped like a stored result; with an expected version,
/// whether the observed one drifts from it.
pub fn report(url: &str, outcome: &Observation, expected_version: Option<&str>) -> String {
    let drift = expected_version.map(|expected| {
        outcome
            .details
            .observed_version
            .as_deref()
            .is_some_and(|observed| observed != expected)
    });
    json!({
        "drift": drift,
        "url": url,
        "status": if outcome.up { "up" } else { "down" },
        "http_status": outcome.details.http_status,
        "certificate_expires_at": outcome.details.certificate_expires_at
            .and_then(|at| at.format(&time::format_description::well_known::Rfc3339).ok()),
        "observed_version": outcome.details.observed_version,
        "latency_ms": outcome.latency_ms,
        "error": outcome.error,
    })
    .to_string()
}
