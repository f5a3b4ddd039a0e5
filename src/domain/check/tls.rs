//! The TLS check: a TCP connection to `tls://host:port` and a handshake
//! whose certificate verifies (and every condition holds).

use serde::{Deserialize, Serialize};

use super::{Check, CheckFields, refuse_http_fields};
use crate::domain::condition::Conditions;
use crate::domain::config::FieldError;
use crate::domain::fields::MonitorUrl;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsCheck {
    pub url: MonitorUrl,
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
}

pub(super) fn parse(fields: CheckFields) -> Result<Check, FieldError> {
    super::tcp::host_and_port_only(&fields.url, "tls")?;
    refuse_http_fields(&fields, "TLS")?;
    Ok(Check::Tls(TlsCheck {
        url: fields.url,
        conditions: fields.conditions,
    }))
}

impl TlsCheck {
    pub(super) fn fields(&self) -> CheckFields {
        CheckFields {
            conditions: self.conditions.clone(),
            ..CheckFields::of(self.url.clone())
        }
    }

    /// The host (also the name the certificate must carry) and port.
    pub fn address(&self) -> (String, u16) {
        super::tcp::address_of(&self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_check_names_its_host_and_port_and_reads_back() {
        let fields = CheckFields {
            conditions: Conditions::parse(&["[CERTIFICATE_EXPIRATION] > 72h"]).unwrap(),
            ..CheckFields::of(MonitorUrl::parse("tls://mail.example:465").unwrap())
        };
        let Check::Tls(check) = parse(fields).unwrap() else {
            panic!("not tls");
        };
        assert_eq!(check.address(), ("mail.example".to_owned(), 465));
        let check = Check::Tls(check);
        assert_eq!(parse(check.fields()).unwrap(), check);
    }
}
