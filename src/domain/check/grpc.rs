//! The gRPC check: `grpc.health.v1.Health/Check` at `grpc://host:port` (or
//! `grpcs://` over TLS), for the service named by the path (none: the
//! whole server). Up when the answer is `SERVING`.

use serde::{Deserialize, Serialize};

use super::{Check, CheckFields, refuse_http_fields};
use crate::domain::condition::Conditions;
use crate::domain::config::FieldError;
use crate::domain::fields::MonitorUrl;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcCheck {
    pub url: MonitorUrl,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
}

pub(super) fn parse(fields: CheckFields) -> Result<Check, FieldError> {
    let url = fields.url.as_url();
    if url.port().is_none() {
        return Err(FieldError::new(
            "url",
            "must name a port: grpc://host:port[/service.Name]",
        ));
    }
    let service = url.path().trim_start_matches('/');
    let valid_service = service
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid_service || url.query().is_some() || url.fragment().is_some() {
        return Err(FieldError::new(
            "url",
            "must be grpc://host:port or grpc://host:port/package.Service",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new("url", "must not carry credentials"));
    }
    refuse_http_fields(&fields, "gRPC")?;
    Ok(Check::Grpc(GrpcCheck {
        url: fields.url,
        conditions: fields.conditions,
    }))
}

impl GrpcCheck {
    pub(super) fn fields(&self) -> CheckFields {
        CheckFields {
            conditions: self.conditions.clone(),
            ..CheckFields::of(self.url.clone())
        }
    }

    /// Whether the channel is TLS (`grpcs://`).
    pub fn tls(&self) -> bool {
        self.url.as_url().scheme() == "grpcs"
    }

    /// The service asked about; empty for the whole server.
    pub fn service(&self) -> &str {
        self.url.as_url().path().trim_start_matches('/')
    }

    /// `http(s)://host:port`, what the channel connects to.
    pub fn endpoint(&self) -> String {
        let url = self.url.as_url();
        let scheme = if self.tls() { "https" } else { "http" };
        format!(
            "{scheme}://{}:{}",
            url.host_str().unwrap_or_default(),
            url.port().unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(url: &str) -> Result<GrpcCheck, FieldError> {
        match parse(CheckFields::of(MonitorUrl::parse(url).unwrap()))? {
            Check::Grpc(check) => Ok(check),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_path_names_the_service_and_grpcs_means_tls() {
        let whole = parsed("grpc://10.0.0.5:50051").unwrap();
        assert_eq!((whole.service(), whole.tls()), ("", false));
        assert_eq!(whole.endpoint(), "http://10.0.0.5:50051");
        let named = parsed("grpcs://api.example:443/orders.v1.Orders").unwrap();
        assert_eq!((named.service(), named.tls()), ("orders.v1.Orders", true));
        assert_eq!(named.endpoint(), "https://api.example:443");
        for bad in [
            "grpc://h",
            "grpc://h:1/a/b",
            "grpc://h:1/?x=1",
            "grpc://u:p@h:1",
            "grpc://u@h:1",
        ] {
            assert_eq!(parsed(bad).unwrap_err().field, "url", "{bad}");
        }
    }

    #[test]
    fn a_grpc_check_reads_back_from_its_fields_with_its_conditions() {
        let check = Check::parse(CheckFields {
            conditions: Conditions::parse(&["[RESPONSE_TIME] < 300"]).unwrap(),
            ..CheckFields::of(MonitorUrl::parse("grpc://10.0.0.5:50051").unwrap())
        })
        .unwrap();
        assert_eq!(Check::parse(check.fields()).unwrap(), check);
    }
}
