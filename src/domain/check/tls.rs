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
