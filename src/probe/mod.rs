//! Running probes: one prober per kind of check (a file each) behind one
//! dispatch. Whatever the kind, the probe's timeout bounds the whole
//! exchange and every failure is a `down` observation with a short error.

mod grpc;
mod http;
mod tcp;
pub mod tls;

use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::domain::check::Check;
use crate::domain::condition::Evidence;
use crate::domain::observation::{Details, Observation};
use crate::domain::probe::ProbeSpec;

#[derive(Debug, thiserror::Error)]
pub enum ProberError {
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

/// What a kind's prober found, before the dispatch adds the timing and
/// checks the conditions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Finding {
    up: bool,
    error: Option<String>,
    details: Details,
    /// What only conditions read; filled in only when the check has some.
    answer: Answer,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Answer {
    connected: bool,
    /// Response headers, names lower-cased.
    headers: Vec<(String, String)>,
    /// The body's first 64 KiB as text, when a condition reads it.
    body: Option<String>,
    /// The leaf certificate's expiry (https).
    certificate_expires_at: Option<OffsetDateTime>,
}

impl Finding {
    fn down(error: impl Into<String>) -> Self {
        Self {
            up: false,
            error: Some(error.into()),
            ..Self::default()
        }
    }
}

/// Runs probes of every kind; clone it freely (the kinds share their
/// clients and pools).
#[derive(Debug, Clone)]
pub struct Prober {
    http: http::HttpProber,
    tls: tls::TlsProber,
    grpc: grpc::GrpcProber,
}

impl Prober {
    /// A prober trusting the web's roots.
    pub fn new() -> Result<Self, ProberError> {
        Self::trusting(&tls::TrustedRoots::default())
    }

    /// A prober trusting the web's roots and `roots` (`UPWATCH_TLS_CA_FILE`).
    pub fn trusting(roots: &tls::TrustedRoots) -> Result<Self, ProberError> {
        Ok(Self {
            http: http::HttpProber::new(roots)?,
            tls: tls::TlsProber::new(roots)?,
            grpc: grpc::GrpcProber::new(roots),
        })
    }

    /// Runs one probe; never fails: every problem is a `down` observation.
    pub async fn probe(&self, spec: &ProbeSpec) -> Observation {
        let started_at = OffsetDateTime::now_utc();
        let clock = Instant::now();
        let timeout = Duration::from_millis(u64::from(spec.timeout.get()));
        let mut finding = tokio::time::timeout(timeout, self.run(&spec.check))
            .await
            .unwrap_or_else(|_| Finding::down("timeout"));
        let latency_ms = u32::try_from(clock.elapsed().as_millis()).unwrap_or(u32::MAX);
        let conditions = spec.check.conditions();
        let version_source = spec.check.version_source();
        if (finding.up && !conditions.is_empty()) || version_source.is_some() {
            let seen = Evidence {
                status: finding.details.http_status,
                response_time_ms: latency_ms,
                body: finding.answer.body.as_deref(),
                headers: &finding.answer.headers,
                connected: finding.answer.connected,
                certificate_expires_in: finding.details.certificate_expires_at.map(|at| {
                    Duration::try_from(at - OffsetDateTime::now_utc()).unwrap_or_default()
                }),
            };
            let observed = version_source.and_then(|source| source.read(&seen));
            if finding.up
                && let Err(failed) = conditions.evaluate(&seen)
            {
                finding.up = false;
                finding.error = Some(failed.to_string());
            }
            finding.details.observed_version = observed;
        }
        Observation {
            up: finding.up,
            latency_ms,
            error: finding.error,
            details: finding.details,
            started_at,
            finished_at: OffsetDateTime::now_utc(),
        }
    }

    async fn run(&self, check: &Check) -> Finding {
        match check {
            Check::Http(check) => self.http.probe(check).await,
            Check::Tcp(check) => tcp::probe(check).await,
            Check::Grpc(check) => self.grpc.probe(check).await,
            Check::Tls(check) => self.tls.probe(check).await,
        }
    }
}

/// The error and all its causes, joined, for classification and messages.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}
