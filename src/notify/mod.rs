//! Senders: one file per channel kind, behind one dispatch. Each turns a
//! `Notification` into its receiver's format, sends it once, and says what
//! the attempt came to; retrying is the notifier's business.

pub mod email;
pub mod pagerduty;
pub mod slack;
pub mod webhook;

use std::time::Duration;

use crate::domain::channel::Destination;
use crate::domain::notification::{Attempt, Notification};

/// The longest one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// PagerDuty's public Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// Where the senders that need more than a channel's own fields send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySettings {
    pub pagerduty_url: url::Url,
    /// `smtp://[user:password@]host:port` or `smtps://...`; e-mail channels
    /// cannot send without it.
    pub smtp_url: Option<String>,
    pub smtp_from: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot build the notifications' HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error(transparent)]
    Email(#[from] email::EmailSetupError),
}

/// Every sender, ready to send; cheap to share.
#[derive(Debug, Clone)]
pub struct Senders {
    http: reqwest::Client,
    pagerduty_url: url::Url,
    email: Option<email::Mailer>,
}

impl Senders {
    pub fn new(settings: &NotifySettings) -> Result<Self, NotifyError> {
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("upwatch/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(NotifyError::HttpClient)?;
        let email = settings
            .smtp_url
            .as_deref()
            .map(|url| email::Mailer::new(url, &settings.smtp_from))
            .transpose()?;
        Ok(Self {
            http,
            pagerduty_url: settings.pagerduty_url.clone(),
            email,
        })
    }

    /// One attempt to deliver `notification` to `destination`.
    pub async fn send(&self, destination: &Destination, notification: &Notification) -> Attempt {
        match destination {
            Destination::Webhook { url, secret } => {
                webhook::send(&self.http, url, secret.as_ref(), notification).await
            }
            Destination::Slack { url } => slack::send(&self.http, url, notification).await,
            Destination::Pagerduty { routing_key } => {
                pagerduty::send(&self.http, &self.pagerduty_url, routing_key, notification).await
            }
            Destination::Email { to } => match &self.email {
                Some(mailer) => mailer.send(to, notification).await,
                None => Attempt::Retry {
                    error: "no SMTP server is configured (UPWATCH_SMTP_URL)".into(),
                    retry_after: None,
                },
            },
        }
    }
}

/// POSTs a JSON `body` with `headers`; the receiver's answer decides.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &url::Url,
    body: Vec<u8>,
    headers: &[(&'static str, String)],
) -> Attempt {
    let mut request = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    match request.send().await {
        Ok(response) => {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
            Attempt::of_http_status(response.status().as_u16(), retry_after)
        }
        Err(error) => Attempt::Retry {
            error: describe(&error),
            retry_after: None,
        },
    }
}

/// `Retry-After`: whole seconds, or an HTTP date.
pub fn parse_retry_after(raw: &str, now: std::time::SystemTime) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(seconds) = raw.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(raw).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// A send error in a short, stable form.
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("timeout after {} s", ATTEMPT_TIMEOUT.as_secs());
    }
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => "connection reset".into(),
                _ => format!("connection failed: {io}"),
            };
        }
        source = e.source();
    }
    if error.is_connect() {
        return "connection failed".into();
    }
    format!("sending failed: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_http_dates() {
        let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_400);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(80))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
