//! The TCP check: a connection to `tcp://host:port` that opens within the
//! timeout (and every condition holds).

use serde::{Deserialize, Serialize};

use super::{Check, CheckFields, refuse_http_fields};
use crate::domain::condition::Conditions;
use crate::domain::config::FieldError;
use crate::domain::fields::MonitorUrl;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcpCheck {
    pub url: MonitorUrl,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
}

pub(super) fn parse(fields: CheckFields) -> Result<Check, FieldError> {
    host_and_port_only(&fields.url, "tcp")?;
    refuse_http_fields(&fields, "TCP")?;
    Ok(Check::Tcp(TcpCheck {
        url: fields.url,
        conditions: fields.conditions,
    }))
}

impl TcpCheck {
    pub(super) fn fields(&self) -> CheckFields {
        CheckFields {
            conditions: self.conditions.clone(),
            ..CheckFields::of(self.url.clone())
        }
    }

    /// The host and port to connect to.
    pub fn address(&self) -> (String, u16) {
        address_of(&self.url)
    }
}

/// Refuses a `scheme://host:port` URL with anything more (a path, a query,
/// credentials) or without a port.
pub(super) fn host_and_port_only(url: &MonitorUrl, scheme: &str) -> Result<(), FieldError> {
    let url = url.as_url();
    if url.port().is_none() {
        return Err(FieldError::new(
            "url",
            format!("must name a port: {scheme}://host:port"),
        ));
    }
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(FieldError::new(
            "url",
            format!("must be {scheme}://host:port, without a path or query"),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new("url", "must not carry credentials"));
    }
    Ok(())
}

/// The host (an IPv6 literal without its brackets) and port of a URL.
pub(super) fn address_of(url: &MonitorUrl) -> (String, u16) {
    let url = url.as_url();
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host.to_owned(), url.port().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fields::{ExpectedStatuses, HttpMethod};

    fn fields(url: &str) -> CheckFields {
        CheckFields::of(MonitorUrl::parse(url).unwrap())
    }

    #[test]
    fn a_tcp_check_needs_a_host_and_port_and_nothing_of_http() {
        let Check::Tcp(check) = parse(fields("tcp://db.example:5432")).unwrap() else {
            panic!("not tcp");
        };
        assert_eq!(check.address(), ("db.example".to_owned(), 5432));
        let Check::Tcp(v6) = parse(fields("tcp://[::1]:6379")).unwrap() else {
            panic!("not tcp");
        };
        assert_eq!(v6.address(), ("::1".to_owned(), 6379));
        for bad in [
            "tcp://db.example",
            "tcp://db.example:5432/x",
            "tcp://u:p@db.example:1",
            "tcp://u@db.example:1",
            "tcp://db.example:5432?x=1",
            "tcp://db.example:5432#x",
        ] {
            assert_eq!(parse(fields(bad)).unwrap_err().field, "url", "{bad}");
        }
        let with_method = CheckFields {
            method: Some(HttpMethod::Get),
            ..fields("tcp://db.example:5432")
        };
        assert_eq!(parse(with_method).unwrap_err().field, "method");
        let with_status = CheckFields {
            expected_status: Some(ExpectedStatuses::parse(&[200]).unwrap()),
            ..fields("tcp://db.example:5432")
        };
        assert_eq!(parse(with_status).unwrap_err().field, "expected_status");
    }

    #[test]
    fn a_tcp_check_reads_back_from_its_fields_with_its_conditions() {
        let check = parse(CheckFields {
            conditions: Conditions::parse(&["[CONNECTED] == true"]).unwrap(),
            ..fields("tcp://db.example:5432")
        })
        .unwrap();
        assert_eq!(parse(check.fields()).unwrap(), check);
    }
}
