//! Running probes over HTTP with reqwest: connection reuse, up to 5 redirects,
//! and the probe's timeout on the whole exchange.

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::domain::HttpMethod;
use crate::domain::probe::{ProbeSpec, status_is_up};

/// How much of a response body is read (and thrown away) so that the
/// connection can be reused; the rest is not waited for.
const BODY_READ_LIMIT: usize = 64 * 1024;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub up: bool,
    pub http_status: Option<u16>,
    pub latency_ms: u32,
    /// A short reason when down: `timeout`, `connection refused`, `dns`, `tls`,
    /// `status 503`, ...
    pub error: Option<String>,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct ProberError(#[source] reqwest::Error);

/// A reusable HTTP client for probes; clone it freely (it shares its pool).
#[derive(Debug, Clone)]
pub struct Prober {
    client: reqwest::Client,
}

impl Prober {
    pub fn new() -> Result<Self, ProberError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("upwatch/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(ProberError)?;
        Ok(Self { client })
    }

    /// Runs one probe; never fails: every problem is a `down` outcome.
    pub async fn probe(&self, spec: &ProbeSpec) -> ProbeOutcome {
        let started_at = OffsetDateTime::now_utc();
        let clock = Instant::now();
        let timeout = Duration::from_millis(u64::from(spec.timeout.get()));
        let result = tokio::time::timeout(timeout, self.exchange(spec)).await;
        let latency_ms = u32::try_from(clock.elapsed().as_millis()).unwrap_or(u32::MAX);
        let finished_at = OffsetDateTime::now_utc();
        let (up, http_status, error) = match result {
            Err(_) => (false, None, Some("timeout".to_owned())),
            Ok(Err(e)) => (false, None, Some(describe(&e))),
            Ok(Ok(status)) => {
                let up = status_is_up(status, spec.expected_status.as_ref());
                let error = (!up).then(|| format!("status {status}"));
                (up, Some(status), error)
            }
        };
        ProbeOutcome {
            up,
            http_status,
            latency_ms,
            error,
            started_at,
            finished_at,
        }
    }

    /// Sends the request and reads (a bounded part of) the body; the status.
    async fn exchange(&self, spec: &ProbeSpec) -> Result<u16, reqwest::Error> {
        let request = match spec.method {
            HttpMethod::Get => self.client.get(spec.url.as_url().clone()),
            HttpMethod::Head => self.client.head(spec.url.as_url().clone()),
        };
        let mut response = request.send().await?;
        let status = response.status().as_u16();
        let mut read = 0;
        while let Some(chunk) = response.chunk().await? {
            read += chunk.len();
            if read >= BODY_READ_LIMIT {
                break;
            }
        }
        Ok(status)
    }
}

/// A short, stable description of why a request failed.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timeout".to_owned();
    }
    if error.is_redirect() {
        return "too many redirects".to_owned();
    }
    let chain = error_chain(error);
    let lower = chain.to_lowercase();
    if lower.contains("connection refused") {
        "connection refused".to_owned()
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        "dns".to_owned()
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        "tls".to_owned()
    } else if lower.contains("connection reset") {
        "connection reset".to_owned()
    } else if error.is_connect() {
        "connect failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "body read failed".to_owned()
    } else {
        let mut short = chain;
        short.truncate(200);
        short
    }
}

/// The error and all its causes, joined, for classification and messages.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}
