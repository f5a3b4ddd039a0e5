//! The HTTP check: a request (GET, HEAD, or POST with a body; headers of
//! the monitor's own) whose status must match `expected_status` (or be any
//! 2xx).

use serde::{Deserialize, Serialize};

use super::{Check, CheckFields};
use crate::domain::condition::Conditions;
use crate::domain::config::FieldError;
use crate::domain::fields::{
    ExpectedStatuses, HttpMethod, InvalidValue, MonitorUrl, is_header_name,
};
use crate::domain::version::{ExpectedVersion, VersionSource};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    pub url: MonitorUrl,
    pub method: HttpMethod,
    pub expected_status: Option<ExpectedStatuses>,
    // Absent in checks stored before these existed.
    #[serde(default, skip_serializing_if = "RequestHeaders::is_empty")]
    pub headers: RequestHeaders,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<RequestBody>,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<ExpectedVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_source: Option<VersionSource>,
}

pub(super) fn parse(fields: CheckFields) -> Result<Check, FieldError> {
    let method = fields.method.unwrap_or_default();
    if fields.body.is_some() && method != HttpMethod::Post {
        return Err(FieldError::new(
            "body",
            format!("is sent only with method POST, not {method}"),
        ));
    }
    Ok(Check::Http(HttpCheck {
        url: fields.url,
        method,
        expected_status: fields.expected_status,
        headers: fields.headers,
        body: fields.body,
        conditions: fields.conditions,
        expected_version: fields.expected_version,
        version_source: fields.version_source,
    }))
}

/// Headers a probe sends: at most 20, names of HTTP token characters,
/// values up to 1024 characters with no CR, LF or other control characters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<(String, String)>", into = "Vec<(String, String)>")]
pub struct RequestHeaders(Vec<(String, String)>);

impl RequestHeaders {
    pub const MAX_COUNT: usize = 20;
    pub const MAX_VALUE_CHARS: usize = 1024;

    pub fn parse<N: AsRef<str>, V: AsRef<str>>(raw: &[(N, V)]) -> Result<Self, InvalidValue> {
        if raw.len() > Self::MAX_COUNT {
            return Err(InvalidValue(format!(
                "at most {} headers, got {}",
                Self::MAX_COUNT,
                raw.len()
            )));
        }
        let mut headers = Vec::with_capacity(raw.len());
        for (name, value) in raw {
            let (name, value) = (name.as_ref(), value.as_ref());
            if !is_header_name(name) {
                return Err(InvalidValue(format!("`{name}` is not a header name")));
            }
            if value.chars().any(|c| c.is_control() && c != '\t') {
                return Err(InvalidValue(format!(
                    "the value of `{name}` must not contain CR, LF or control characters"
                )));
            }
            if value.chars().count() > Self::MAX_VALUE_CHARS {
                return Err(InvalidValue(format!(
                    "the value of `{name}` must be at most {} characters",
                    Self::MAX_VALUE_CHARS
                )));
            }
            headers.push((name.to_owned(), value.to_owned()));
        }
        Ok(Self(headers))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl TryFrom<Vec<(String, String)>> for RequestHeaders {
    type Error = InvalidValue;
    fn try_from(value: Vec<(String, String)>) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RequestHeaders> for Vec<(String, String)> {
    fn from(value: RequestHeaders) -> Self {
        value.0
    }
}

/// A POST body: at most 8 KiB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestBody(String);

impl RequestBody {
    pub const MAX_BYTES: usize = 8 * 1024;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        if raw.len() > Self::MAX_BYTES {
            return Err(InvalidValue(format!(
                "must be at most {} bytes, got {}",
                Self::MAX_BYTES,
                raw.len()
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RequestBody {
    type Error = InvalidValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RequestBody> for String {
    fn from(value: RequestBody) -> Self {
        value.0
    }
}

impl HttpCheck {
    pub(super) fn fields(&self) -> CheckFields {
        CheckFields {
            url: self.url.clone(),
            method: Some(self.method),
            expected_status: self.expected_status.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
            conditions: self.conditions.clone(),
            expected_version: self.expected_version.clone(),
            version_source: self.version_source.clone(),
        }
    }

    /// Where the reported version is read, when one is expected.
    pub fn version_to_read(&self) -> Option<&VersionSource> {
        self.expected_version.as_ref()?;
        Some(
            self.version_source
                .as_ref()
                .unwrap_or(VersionSource::default_source()),
        )
    }

    /// Whether the prober must keep the response's headers.
    pub fn reads_answer(&self) -> bool {
        !self.conditions.is_empty() || self.expected_version.is_some()
    }

    /// Whether the prober must keep (the first 64 KiB of) the body.
    pub fn reads_body(&self) -> bool {
        self.conditions.need_body()
            || self
                .version_to_read()
                .is_some_and(|source| source.needs_body())
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
    fn headers_and_bodies_keep_to_their_limits() {
        assert!(
            RequestHeaders::parse(&[("X-Token", "abc"), ("Accept", "application/json")]).is_ok()
        );
        for (name, value) in [
            ("Bad Name", "x"),
            ("", "x"),
            ("X-Split", "a\r\nInjected: yes"),
            ("X-Newline", "a\nb"),
        ] {
            assert!(
                RequestHeaders::parse(&[(name, value)]).is_err(),
                "{name:?}: {value:?}"
            );
        }
        let longest = "v".repeat(1024);
        assert!(RequestHeaders::parse(&[("X-Long", longest.as_str())]).is_ok());
        let twenty: Vec<(String, String)> =
            (0..20).map(|i| (format!("X-{i}"), "v".into())).collect();
        assert!(RequestHeaders::parse(&twenty).is_ok());
        let long = "v".repeat(1025);
        assert!(RequestHeaders::parse(&[("X-Long", long.as_str())]).is_err());
        let many: Vec<(String, String)> = (0..21).map(|i| (format!("X-{i}"), "v".into())).collect();
        assert!(RequestHeaders::parse(&many).is_err());
        assert!(RequestBody::parse(&"b".repeat(8 * 1024)).is_ok());
        assert!(RequestBody::parse(&"b".repeat(8 * 1024 + 1)).is_err());
        let get_with_body = CheckFields {
            body: Some(RequestBody::parse("{}").unwrap()),
            ..CheckFields::of(MonitorUrl::parse("http://a.example/").unwrap())
        };
        assert_eq!(parse(get_with_body.clone()).unwrap_err().field, "body");
        let post = CheckFields {
            method: Some(HttpMethod::Post),
            ..get_with_body
        };
        assert!(parse(post).is_ok());
    }

    #[test]
    fn headers_and_bodies_read_and_write_as_json() {
        let headers = RequestHeaders::parse(&[("X-Token", "abc"), ("Accept", "*/*")]).unwrap();
        assert!(!headers.is_empty());
        assert!(RequestHeaders::default().is_empty());
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [("X-Token", "abc"), ("Accept", "*/*")]
        );
        let json = serde_json::to_value(&headers).unwrap();
        assert_eq!(
            json,
            serde_json::json!([["X-Token", "abc"], ["Accept", "*/*"]])
        );
        assert_eq!(
            serde_json::from_value::<RequestHeaders>(json).unwrap(),
            headers
        );
        assert!(serde_json::from_str::<RequestHeaders>(r#"[["Bad Name", "x"]]"#).is_err());

        let body = RequestBody::parse(r#"{"ping":1}"#).unwrap();
        assert_eq!(body.as_str(), r#"{"ping":1}"#);
        assert_eq!(serde_json::to_value(&body).unwrap(), r#"{"ping":1}"#);
    }

    fn http(fields: CheckFields) -> HttpCheck {
        match parse(fields).unwrap() {
            Check::Http(check) => check,
            other => panic!("{other:?}"),
        }
    }

    fn fields(url: &str) -> CheckFields {
        CheckFields::of(MonitorUrl::parse(url).unwrap())
    }

    #[test]
    fn a_check_keeps_only_the_parts_of_the_answer_it_reads() {
        let plain = http(fields("http://a.example/"));
        assert!(!plain.reads_answer() && !plain.reads_body());
        assert_eq!(plain.version_to_read(), None);
        assert!(plain.is_up(204) && !plain.is_up(301));

        let status_only = http(CheckFields {
            conditions: Conditions::parse(&["[STATUS] == 200"]).unwrap(),
            ..fields("http://a.example/")
        });
        assert!(status_only.reads_answer() && !status_only.reads_body());
        let body_condition = http(CheckFields {
            conditions: Conditions::parse(&["[BODY].status == UP"]).unwrap(),
            ..fields("http://a.example/")
        });
        assert!(body_condition.reads_answer() && body_condition.reads_body());

        let expected = Some(ExpectedVersion::parse("2.0").unwrap());
        let default_source = http(CheckFields {
            expected_version: expected.clone(),
            ..fields("http://a.example/")
        });
        assert!(default_source.reads_answer() && default_source.reads_body());
        assert_eq!(
            default_source.version_to_read(),
            Some(VersionSource::default_source())
        );
        let header = VersionSource::parse("[HEADER].x-version").unwrap();
        let from_header = http(CheckFields {
            expected_version: expected,
            version_source: Some(header.clone()),
            ..fields("http://a.example/")
        });
        assert!(from_header.reads_answer() && !from_header.reads_body());
        assert_eq!(from_header.version_to_read(), Some(&header));

        let redirect = http(CheckFields {
            expected_status: Some(ExpectedStatuses::parse(&[301]).unwrap()),
            ..fields("http://a.example/")
        });
        assert!(redirect.is_up(301) && !redirect.is_up(200));
    }

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
