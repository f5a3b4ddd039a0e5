//! The HTTP prober: one shared reqwest client (connection reuse, up to 5
//! redirects); the status decides, a failed request is classified into a
//! short, stable error.

use std::time::Duration;

use super::tls::{TrustedRoots, not_after};
use super::{Answer, Finding, ProberError};
use crate::domain::HttpMethod;
use crate::domain::check::HttpCheck;
use crate::domain::observation::Details;

/// How much of a response body is read (and thrown away) so that the
/// connection can be reused; the rest is not waited for.
const BODY_READ_LIMIT: usize = 64 * 1024;

/// A reusable HTTP client; clone it freely (it shares its pool).
#[derive(Debug, Clone)]
pub(super) struct HttpProber {
    client: reqwest::Client,
}

impl HttpProber {
    pub(super) fn new(roots: &TrustedRoots) -> Result<Self, ProberError> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("upwatch/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .tls_info(true);
        if let Some(pem) = roots.pem() {
            let extra = reqwest::Certificate::from_pem_bundle(pem).map_err(ProberError::Http)?;
            builder = builder.tls_certs_merge(extra);
        }
        let client = builder.build().map_err(ProberError::Http)?;
        Ok(Self { client })
    }

    pub(super) async fn probe(&self, check: &HttpCheck) -> Finding {
        match self.exchange(check).await {
            Err(error) => Finding::down(describe(&error)),
            Ok((status, answer)) => {
                let up = check.is_up(status);
                Finding {
                    up,
                    error: (!up).then(|| format!("status {status}")),
                    details: Details {
                        http_status: Some(status),
                        certificate_expires_at: answer.certificate_expires_at,
                        ..Details::default()
                    },
                    answer,
                }
            }
        }
    }

    /// Sends the request and reads (a bounded part of) the body: the status,
    /// and what the check's conditions read (headers, the body as text).
    async fn exchange(&self, check: &HttpCheck) -> Result<(u16, Answer), reqwest::Error> {
        let url = check.url.as_url().clone();
        let mut request = match check.method {
            HttpMethod::Get => self.client.get(url),
            HttpMethod::Head => self.client.head(url),
            HttpMethod::Post => self.client.post(url),
        };
        for (name, value) in check.headers.iter() {
            request = request.header(name, value);
        }
        if let Some(body) = &check.body {
            request = request.body(body.as_str().to_owned());
        }
        let mut response = request.send().await?;
        let status = response.status().as_u16();
        let mut answer = Answer {
            connected: true,
            certificate_expires_at: response
                .extensions()
                .get::<reqwest::tls::TlsInfo>()
                .and_then(reqwest::tls::TlsInfo::peer_certificate)
                .and_then(not_after),
            ..Answer::default()
        };
        if check.reads_answer() {
            answer.headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect();
        }
        let keep_body = check.reads_body();
        let mut body = Vec::new();
        let mut read = 0;
        while let Some(chunk) = response.chunk().await? {
            read += chunk.len();
            if keep_body {
                let room = BODY_READ_LIMIT.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            if read >= BODY_READ_LIMIT {
                break;
            }
        }
        if keep_body {
            answer.body = Some(String::from_utf8_lossy(&body).into_owned());
        }
        Ok((status, answer))
    }
}

/// A short, stable description of why a request failed.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timeout".to_owned();
    }
    if error.is_redirect() {
        return "too many redirects".to_owned();
    }
    let chain = super::error_chain(error);
    let lower = chain.to_lowercase();
    if let Some(protocol) = protocol_error(&lower) {
        protocol.to_owned()
    } else if lower.contains("connection refused") {
        "connection refused".to_owned()
    } else if lower.contains("dns error") || lower.contains("failed to lookup") {
        "dns".to_owned()
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        "tls".to_owned()
    } else if lower.contains("connection reset") {
        "connection reset".to_owned()
    } else if error.is_connect() {
        "connect failed".to_owned()
    } else if error.is_body() || error.is_decode() {
        "body read failed".to_owned()
    } else {
        let mut short = chain;
        short.truncate(200);
        short
    }
}

/// A response that is not HTTP as it should be, in a short form; `lower` is
/// the lower-cased error chain (hyper's parse errors name the part at fault).
fn protocol_error(lower: &str) -> Option<&'static str> {
    const CLASSES: [(&str, &str); 6] = [
        ("invalid http version", "protocol: invalid HTTP version"),
        (
            "message head is too large",
            "protocol: response headers too large",
        ),
        ("invalid http status-code", "protocol: invalid status code"),
        ("invalid http header", "protocol: invalid header"),
        ("invalid http method", "protocol: invalid response"),
        (
            "connection closed before message completed",
            "protocol: connection closed before the response",
        ),
    ];
    CLASSES
        .iter()
        .find(|(needle, _)| lower.contains(needle))
        .map(|(_, short)| *short)
}
