//! What a monitor checks: one variant per kind, selected by the URL's
//! scheme. Adding a kind means a variant here, its parser (a file beside
//! this one, named in `KINDS`), and its prober (`crate::probe`); nothing
//! else in the pipeline knows the kinds apart: the monitors table and the
//! jobs stream carry a `Check` as it serialises, and probers report a
//! generic `Observation`.

mod grpc;
mod http;
mod tcp;
mod tls;

pub use grpc::GrpcCheck;
pub use http::{HttpCheck, RequestBody, RequestHeaders};
pub use tcp::TcpCheck;
pub use tls::TlsCheck;

use serde::{Deserialize, Serialize};

use super::condition::Conditions;
use super::config::FieldError;
use super::fields::{ExpectedStatuses, HttpMethod, MonitorUrl};
use super::version::{ExpectedVersion, VersionSource};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Check {
    Http(HttpCheck),
    Tcp(TcpCheck),
    Grpc(GrpcCheck),
    Tls(TlsCheck),
}

/// The monitor's writable fields that say what to check, as the API and the
/// event log carry them (flat, beside the monitor's other fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFields {
    pub url: MonitorUrl,
    /// `None`: the kind's default.
    pub method: Option<HttpMethod>,
    pub expected_status: Option<ExpectedStatuses>,
    /// HTTP only: headers sent with the request.
    pub headers: RequestHeaders,
    /// HTTP only, with `POST`: the request body.
    pub body: Option<RequestBody>,
    pub conditions: Conditions,
    /// HTTP only: the version the service should report, and where.
    pub expected_version: Option<ExpectedVersion>,
    pub version_source: Option<VersionSource>,
}

impl CheckFields {
    /// The fields of a check of `url` with every other field at its default.
    pub fn of(url: MonitorUrl) -> Self {
        Self {
            url,
            method: None,
            expected_status: None,
            headers: RequestHeaders::default(),
            body: None,
            conditions: Conditions::default(),
            expected_version: None,
            version_source: None,
        }
    }
}

/// A kind's parser: the check these fields describe, or the first field
/// that does not fit the kind.
type Parser = fn(CheckFields) -> Result<Check, FieldError>;

/// Every kind: the URL schemes that select it, and its parser.
const KINDS: &[(&[&str], Parser)] = &[
    (&["http", "https"], http::parse),
    (&["tcp"], tcp::parse),
    (&["grpc", "grpcs"], grpc::parse),
    (&["tls"], tls::parse),
];

/// Refuses the fields only HTTP checks have, naming the first one given.
fn refuse_http_fields(fields: &CheckFields, kind: &str) -> Result<(), FieldError> {
    let http_only = [
        ("method", fields.method.is_some()),
        ("expected_status", fields.expected_status.is_some()),
        ("headers", !fields.headers.is_empty()),
        ("body", fields.body.is_some()),
        ("expected_version", fields.expected_version.is_some()),
        ("version_source", fields.version_source.is_some()),
    ];
    match http_only.into_iter().find(|(_, given)| *given) {
        Some((field, _)) => Err(FieldError::new(
            field,
            format!("is for HTTP checks only, not {kind} ones"),
        )),
        None => Ok(()),
    }
}

impl Check {
    /// The check `fields` describe: the URL's scheme picks the kind.
    pub fn parse(fields: CheckFields) -> Result<Self, FieldError> {
        let scheme = fields.url.as_url().scheme();
        let parser = KINDS
            .iter()
            .find(|(schemes, _)| schemes.contains(&scheme))
            .map(|(_, parser)| parser);
        match parser {
            Some(parser) => parser(fields),
            None => {
                let known: Vec<&str> = KINDS.iter().flat_map(|(s, _)| s.iter().copied()).collect();
                Err(FieldError::new(
                    "url",
                    format!("scheme must be one of {}, got `{scheme}`", known.join(", ")),
                ))
            }
        }
    }

    /// The fields this check was parsed from (defaults filled in).
    pub fn fields(&self) -> CheckFields {
        match self {
            Self::Http(check) => check.fields(),
            Self::Tcp(check) => check.fields(),
            Self::Grpc(check) => check.fields(),
            Self::Tls(check) => check.fields(),
        }
    }

    /// What is probed.
    pub fn url(&self) -> &MonitorUrl {
        match self {
            Self::Http(check) => &check.url,
            Self::Tcp(check) => &check.url,
            Self::Grpc(check) => &check.url,
            Self::Tls(check) => &check.url,
        }
    }

    /// Where a probe reads the reported version, when one is expected.
    pub fn version_source(&self) -> Option<&VersionSource> {
        match self {
            Self::Http(check) => check.version_to_read(),
            _ => None,
        }
    }

    /// The version the service should report, if any.
    pub fn expected_version(&self) -> Option<&ExpectedVersion> {
        match self {
            Self::Http(check) => check.expected_version.as_ref(),
            _ => None,
        }
    }

    /// What is checked on every answer beyond the kind's own rule.
    pub fn conditions(&self) -> &Conditions {
        match self {
            Self::Http(check) => &check.conditions,
            Self::Tcp(check) => &check.conditions,
            Self::Grpc(check) => &check.conditions,
            Self::Tls(check) => &check.conditions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(url: &str) -> CheckFields {
        CheckFields::of(MonitorUrl::parse(url).unwrap())
    }

    #[test]
    fn the_scheme_picks_the_kind_and_an_unknown_one_names_the_url() {
        let check = Check::parse(fields("https://a.example/health")).unwrap();
        assert!(matches!(check, Check::Http(_)));
        assert_eq!(check.url().as_ref(), "https://a.example/health");
        let refused = Check::parse(fields("ftp://a.example/")).unwrap_err();
        assert_eq!(refused.field, "url");
        assert_eq!(
            refused.message,
            "scheme must be one of http, https, tcp, grpc, grpcs, tls, got `ftp`"
        );
        let tcp = Check::parse(fields("tcp://db.example:5432")).unwrap();
        assert!(matches!(tcp, Check::Tcp(_)));
    }

    #[test]
    fn a_check_reads_back_from_its_fields_and_from_json() {
        let check = Check::parse(CheckFields {
            method: Some(HttpMethod::Head),
            expected_status: Some(ExpectedStatuses::parse(&[301]).unwrap()),
            ..fields("http://a.example/")
        })
        .unwrap();
        assert_eq!(Check::parse(check.fields()).unwrap(), check);
        let json = serde_json::to_value(&check).unwrap();
        assert_eq!(json["kind"], "http");
        assert_eq!(serde_json::from_value::<Check>(json).unwrap(), check);
    }

    #[test]
    fn a_check_answers_for_its_version_and_conditions() {
        let conditions = Conditions::parse(&["[STATUS] == 200"]).unwrap();
        let expected = ExpectedVersion::parse("1.4.2").unwrap();
        let source = VersionSource::parse("[HEADER].x-version").unwrap();
        let http = Check::parse(CheckFields {
            conditions: conditions.clone(),
            expected_version: Some(expected.clone()),
            version_source: Some(source.clone()),
            ..fields("http://a.example/")
        })
        .unwrap();
        assert_eq!(http.expected_version(), Some(&expected));
        assert_eq!(http.version_source(), Some(&source));
        assert_eq!(http.conditions(), &conditions);

        let connected = Conditions::parse(&["[CONNECTED] == true"]).unwrap();
        let tcp = Check::parse(CheckFields {
            conditions: connected.clone(),
            ..fields("tcp://db.example:5432")
        })
        .unwrap();
        assert_eq!(tcp.conditions(), &connected);
        assert_eq!(tcp.expected_version(), None);
        assert_eq!(tcp.version_source(), None);
    }

    proptest! {
        #[test]
        fn only_http_urls_make_a_check(raw in "(https?|ftp|file)://[a-z0-9.]{1,20}(:[0-9]{1,5})?(/[a-z]{0,10})?") {
            if let Ok(url) = MonitorUrl::parse(&raw) {
                let scheme = url.as_url().scheme().to_owned();
                let parsed = Check::parse(CheckFields::of(url));
                prop_assert_eq!(parsed.is_ok(), scheme.starts_with("http"));
            }
        }
    }
}
