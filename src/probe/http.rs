//! The HTTP prober: one shared reqwest client (connection reuse, up to 5
//! redirects); the status decides, a failed request is classified into a
//! short, stable error.

use std::time::Duration;

use super::{Finding, ProberError};
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
    pub(super) fn new() -> Result<Self, ProberError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("upwatch/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(ProberError)?;
        Ok(Self { client })
    }

    pub(super) async fn probe(&self, check: &HttpCheck) -> Finding {
        match self.exchange(check).await {
            Err(error) => Finding::down(describe(&error)),
            Ok(status) => {
                let up = check.is_up(status);
                Finding {
                    up,
                    error: (!up).then(|| format!("status {status}")),
                    details: Details {
                        http_status: Some(status),
                    },
                }
            }
        }
    }

    /// Sends the request and reads (a bounded part of) the body; the status.
    async fn exchange(&self, check: &HttpCheck) -> Result<u16, reqwest::Error> {
        let request = match check.method {
            HttpMethod::Get => self.client.get(check.url.as_url().clone()),
            HttpMethod::Head => self.client.head(check.url.as_url().clone()),
        };
        let mut response = request.send().await?;
        let status = response.status().as_u16();
        let mut read = 0;
        while let Some(chunk) = response.chunk().await? {
            read += chunk.len();
            if read >= BODY_READ_LIMIT {
                break;
            }
        }
        Ok(status)
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
    let chain = error_chain(error);
    let lower = chain.to_lowercase();
    if lower.contains("connection refused") {
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

/// The error and all its causes, joined, for classification and messages.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}
