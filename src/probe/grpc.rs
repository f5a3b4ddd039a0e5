//! The gRPC prober: `grpc.health.v1.Health/Check` over a fresh channel
//! (TLS for `grpcs://`, verified against the web's roots).

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::tls::TrustedRoots;
use super::{Answer, Finding};
use crate::domain::check::GrpcCheck;

/// Runs `grpc://` checks; `grpcs://` trusts the web's roots and the extra ones.
#[derive(Debug, Clone)]
pub(super) struct GrpcProber {
    tls: ClientTlsConfig,
}

impl GrpcProber {
    pub(super) fn new(roots: &TrustedRoots) -> Self {
        let mut tls = ClientTlsConfig::new().with_webpki_roots();
        if let Some(pem) = roots.pem() {
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        Self { tls }
    }

    pub(super) async fn probe(&self, check: &GrpcCheck) -> Finding {
        probe(check, &self.tls).await
    }
}

async fn probe(check: &GrpcCheck, tls: &ClientTlsConfig) -> Finding {
    let mut endpoint = match Endpoint::from_shared(check.endpoint()) {
        Ok(endpoint) => endpoint,
        Err(error) => return Finding::down(format!("grpc: {error}")),
    };
    if check.tls() {
        endpoint = match endpoint.tls_config(tls.clone()) {
            Ok(endpoint) => endpoint,
            Err(error) => return Finding::down(format!("tls: {error}")),
        };
    }
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(error) => return Finding::down(describe_connect(&error)),
    };
    let request = HealthCheckRequest {
        service: check.service().to_owned(),
    };
    let answer = Answer {
        connected: true,
        ..Answer::default()
    };
    match HealthClient::new(channel).check(request).await {
        Ok(response) => match response.into_inner().status() {
            ServingStatus::Serving => Finding {
                up: true,
                answer,
                ..Finding::default()
            },
            other => Finding {
                answer,
                ..Finding::down(format!("grpc: {}", other.as_str_name()))
            },
        },
        Err(status) if status.code() == tonic::Code::NotFound => Finding {
            answer,
            ..Finding::down("grpc: SERVICE_UNKNOWN")
        },
        Err(status) => Finding {
            answer,
            ..Finding::down(format!("grpc: {:?}", status.code()))
        },
    }
}

/// Why the channel did not open, in a short form.
fn describe_connect(error: &tonic::transport::Error) -> String {
    let lower = super::error_chain(error).to_lowercase();
    if lower.contains("connection refused") {
        "connection refused".to_owned()
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        "tls".to_owned()
    } else if lower.contains("dns") || lower.contains("lookup") {
        "dns".to_owned()
    } else {
        "connect failed".to_owned()
    }
}
