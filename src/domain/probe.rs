//! What a probe asks for and what counts as up. Pure: the HTTP client lives in
//! `crate::probe`.

use serde::{Deserialize, Serialize};

use super::config::MonitorConfig;
use super::fields::{ExpectedStatuses, HttpMethod, MonitorUrl, TimeoutMs};

/// Everything needed to run one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeSpec {
    pub url: MonitorUrl,
    pub method: HttpMethod,
    pub timeout: TimeoutMs,
    pub expected_status: Option<ExpectedStatuses>,
}

impl From<&MonitorConfig> for ProbeSpec {
    fn from(config: &MonitorConfig) -> Self {
        Self {
            url: config.url.clone(),
            method: config.method,
            timeout: config.timeout_ms,
            expected_status: config.expected_status.clone(),
        }
    }
}

/// Whether a response status means up: one of `expected`, or any 2xx when
/// nothing is expected.
pub fn status_is_up(status: u16, expected: Option<&ExpectedStatuses>) -> bool {
    match expected {
        Some(expected) => expected.contains(status),
        None => (200..=299).contains(&status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify_against_the_expectation() {
        let redirects = ExpectedStatuses::parse(&[301, 302]).unwrap();
        let cases = [
            (200, None, true),
            (204, None, true),
            (299, None, true),
            (199, None, false),
            (301, None, false),
            (503, None, false),
            (301, Some(&redirects), true),
            (200, Some(&redirects), false),
        ];
        for (status, expected, up) in cases {
            assert_eq!(status_is_up(status, expected), up, "{status} {expected:?}");
        }
    }
}
