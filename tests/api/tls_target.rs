//! A test CA (rcgen) and a TLS server whose certificate it signed, for
//! `https://` and `tls://` checks; the CA's PEM file is what
//! `UPWATCH_TLS_CA_FILE` names.

use std::path::PathBuf;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A CA of the test's own and a server certificate it signed.
pub struct TestCertificates {
    /// The CA's certificate, PEM, in a file of the test's own.
    pub ca_file: PathBuf,
    pub leaf_pem: String,
    pub key_pem: String,
    leaf_der: Vec<u8>,
    key_der: Vec<u8>,
    /// When the server's certificate expires (whole seconds).
    pub not_after: OffsetDateTime,
}

impl Drop for TestCertificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

impl TestCertificates {
    /// A certificate for `localhost` and `127.0.0.1`, valid for `days` more days.
    pub fn issue(days: i64) -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "upwatch test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);

        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let mut leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let not_after = (OffsetDateTime::now_utc() + time::Duration::days(days))
            .replace_nanosecond(0)
            .unwrap();
        leaf_params.not_after = not_after;
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

        let ca_file =
            std::env::temp_dir().join(format!("upwatch-test-ca-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Self {
            ca_file,
            leaf_pem: leaf.pem(),
            key_pem: leaf_key.serialize_pem(),
            leaf_der: leaf.der().to_vec(),
            key_der: leaf_key.serialize_der(),
            not_after,
        }
    }
}

pub struct TlsTarget {
    pub port: u16,
    pub certificates: TestCertificates,
}

impl TlsTarget {
    /// A server for `localhost` and `127.0.0.1`, its certificate valid for
    /// `days` more days, answering every request `200 ok`.
    pub async fn start(days: i64) -> Self {
        let certificates = TestCertificates::issue(days);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certificates.leaf_der.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certificates.key_der.clone())),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        actix_web::rt::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                actix_web::rt::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut request = [0u8; 4096];
                    if matches!(tls.read(&mut request).await, Ok(n) if n > 0) {
                        let _ = tls
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                            .await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        Self { port, certificates }
    }
}
