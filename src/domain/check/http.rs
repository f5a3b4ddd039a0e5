//! The HTTP check: a request whose status must match `expected_status` (or
//! be any 2xx).

use serde::{Deserialize, Serialize};

use super::{Check, CheckFields};
use crate::domain::condition::Conditions;
use crate::domain::config::FieldError;
use crate::domain::fields::{ExpectedStatuses, HttpMethod, MonitorUrl};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    pub url: MonitorUrl,
    pub method: HttpMethod,
    pub expected_status: Option<ExpectedStatuses>,
    /// Absent in checks stored before conditions existed.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
}

pub(super) fn parse(fields: CheckFields) -> Result<Check, FieldError> {
    Ok(Check::Http(HttpCheck {
        url: fields.url,
        method: fields.method.unwrap_or_default(),
        expected_status: fields.expected_status,
        conditions: fields.conditions,
    }))
}

impl HttpCheck {
    pub(super) fn fields(&self) -> CheckFields {
        CheckFields {
            url: self.url.clone(),
            method: Some(self.method),
            expected_status: self.expected_status.clone(),
            conditions: self.conditions.clone(),
        }
    }

    /// Whether a response status means up.
    pub fn is_up(&self, status: u16) -> bool {
        status_is_up(status, self.expected_status.as_ref())
    }
}

/// Whether a response status means up: one of `expected`, or any 2xx when
/// nothing is expected.
fn status_is_up(status: u16, expected: Option<&ExpectedStatuses>) -> bool {
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
