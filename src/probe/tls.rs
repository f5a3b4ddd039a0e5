//! TLS for every kind: the trusted roots (the web's, plus the PEM file of
//! `UPWATCH_TLS_CA_FILE`), the `tls://` prober (TCP connect and a verified
//! handshake), and reading a leaf certificate's expiry.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use time::OffsetDateTime;
use tokio_rustls::TlsConnector;

use super::{Answer, Finding, ProberError};
use crate::domain::check::TlsCheck;

/// Roots trusted beyond the web's: an internal CA, say. Cheap to clone.
#[derive(Clone, Default)]
pub struct TrustedRoots {
    pem: Arc<Vec<u8>>,
    certificates: Arc<Vec<CertificateDer<'static>>>,
}

impl TrustedRoots {
    /// The certificates of a PEM bundle; at least one.
    pub fn from_pem(pem: Vec<u8>) -> Result<Self, String> {
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
        if certificates.is_empty() {
            return Err("holds no PEM certificate".into());
        }
        Ok(Self {
            pem: Arc::new(pem),
            certificates: Arc::new(certificates),
        })
    }

    /// The bundle in `path`.
    pub fn load(path: &std::path::Path) -> Result<Self, String> {
        let pem =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_pem(pem)
    }

    /// The bundle as given, unless there is none.
    pub fn pem(&self) -> Option<&[u8]> {
        (!self.certificates.is_empty()).then_some(self.pem.as_slice())
    }

    /// A rustls client configuration trusting the web's roots and these.
    fn client_config(&self) -> Result<rustls::ClientConfig, String> {
        let mut store = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for certificate in self.certificates.iter() {
            store
                .add(certificate.clone())
                .map_err(|e| format!("a trusted root cannot be used: {e}"))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(store)
            .with_no_client_auth())
    }
}

impl std::fmt::Debug for TrustedRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustedRoots({} extra)", self.certificates.len())
    }
}

/// When a DER certificate stops being valid.
pub fn not_after(der: &[u8]) -> Option<OffsetDateTime> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    OffsetDateTime::from_unix_timestamp(certificate.validity().not_after.timestamp()).ok()
}

/// Runs `tls://` checks.
#[derive(Clone)]
pub(super) struct TlsProber {
    connector: TlsConnector,
}

impl std::fmt::Debug for TlsProber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsProber")
    }
}

impl TlsProber {
    pub(super) fn new(roots: &TrustedRoots) -> Result<Self, ProberError> {
        let config = roots.client_config().map_err(ProberError::Tls)?;
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    pub(super) async fn probe(&self, check: &TlsCheck) -> Finding {
        let (host, port) = check.address();
        let stream = match tokio::net::TcpStream::connect((host.as_str(), port)).await {
            Ok(stream) => stream,
            Err(error) => return Finding::down(super::tcp::describe(&error)),
        };
        let Ok(name) = ServerName::try_from(host.clone()) else {
            return Finding::down(format!("tls: `{host}` is not a server name"));
        };
        match self.connector.connect(name, stream).await {
            Ok(tls) => {
                let (_, connection) = tls.get_ref();
                let expires = connection
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(|leaf| not_after(leaf));
                Finding {
                    up: true,
                    details: crate::domain::observation::Details {
                        certificate_expires_at: expires,
                        ..Default::default()
                    },
                    answer: Answer {
                        connected: true,
                        ..Answer::default()
                    },
                    ..Finding::default()
                }
            }
            Err(error) => Finding {
                answer: Answer {
                    connected: true,
                    ..Answer::default()
                },
                ..Finding::down(format!("tls: {error}"))
            },
        }
    }
}
