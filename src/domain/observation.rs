//! What a probe of any kind found: the generic observation every prober
//! reports and the pipeline carries to the store.

use time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub up: bool,
    pub latency_ms: u32,
    /// A short, stable reason when down: `timeout`, `connection refused`,
    /// `dns`, `tls`, `status 503`, ...
    pub error: Option<String>,
    pub details: Details,
    pub started_at: OffsetDateTime,
    pub finished_at: OffsetDateTime,
}

/// What only some kinds of check can tell; each kind fills in what it knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// The HTTP response status (HTTP checks).
    pub http_status: Option<u16>,
    /// When the leaf certificate expires (https, tls).
    pub certificate_expires_at: Option<OffsetDateTime>,
    /// The version the service reported, when one is expected.
    pub observed_version: Option<String>,
}
