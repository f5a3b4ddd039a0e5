//! E-mail over SMTP (`UPWATCH_SMTP_URL`, from `UPWATCH_SMTP_FROM`): subject
//! `[upwatch] <name> is DOWN`, a plain-text part and an HTML part.

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::domain::channel::EmailAddress;
use crate::domain::notification::{Attempt, Notification};

#[derive(Debug, thiserror::Error)]
pub enum EmailSetupError {
    #[error("UPWATCH_SMTP_URL cannot be used: {0}")]
    Url(String),
    #[error("UPWATCH_SMTP_FROM `{0}` is not an e-mail address")]
    From(String),
}

/// The SMTP transport (a connection per message: notification mail is
/// rare, and a pool would need a runtime to close its connections when
/// dropped) and the sender's address.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The transport holds the SMTP password.
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    pub fn new(url: &str, from: &str) -> Result<Self, EmailSetupError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| EmailSetupError::Url(e.to_string()))?
            .timeout(Some(super::ATTEMPT_TIMEOUT))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|_| EmailSetupError::From(from.to_owned()))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, to: &[EmailAddress], notification: &Notification) -> Attempt {
        let message = match message(&self.from, to, notification) {
            Ok(message) => message,
            Err(error) => return Attempt::Fail { error },
        };
        match self.transport.send(message).await {
            Ok(_) => Attempt::Delivered,
            Err(error) if error.is_permanent() => Attempt::Fail {
                error: format!("smtp: {error}"),
            },
            Err(error) if error.is_timeout() => Attempt::Retry {
                error: format!("timeout after {} s", super::ATTEMPT_TIMEOUT.as_secs()),
                retry_after: None,
            },
            Err(error) => Attempt::Retry {
                error: format!("smtp: {error}"),
                retry_after: None,
            },
        }
    }
}

/// `[upwatch] checkout is DOWN`.
pub fn subject(n: &Notification) -> String {
    match &n.monitor {
        Some(monitor) => format!("[upwatch] {} is {}", monitor.name, n.headline()),
        None => format!("[upwatch] test notification to {}", n.channel_name),
    }
}

/// The plain-text part: the summary line, then one detail per line.
pub fn plain_text(n: &Notification) -> String {
    let mut lines = vec![n.summary(), String::new()];
    if let Some(monitor) = &n.monitor {
        lines.push(format!("Monitor: {} ({})", monitor.name, monitor.id));
        lines.push(format!("URL: {}", monitor.url));
        if !monitor.tags.is_empty() {
            lines.push(format!("Tags: {}", monitor.tags.join(", ")));
        }
    }
    if let Some(change) = &n.change {
        lines.push(format!(
            "Status: {} -> {}",
            change.from.as_str(),
            change.to.as_str()
        ));
        lines.push(format!("Latency: {} ms", change.latency_ms));
        if let Some(status) = change.http_status {
            lines.push(format!("HTTP status: {status}"));
        }
        if let Some(error) = &change.error {
            lines.push(format!("Error: {error}"));
        }
    }
    if let Some(seq) = n.seq {
        lines.push(format!("Event: #{seq}"));
    }
    lines.push(format!("Delivery: {}", n.delivery_id));
    lines.join("\n")
}

/// The HTML part: the same, escaped.
pub fn html(n: &Notification) -> String {
    let mut items = String::new();
    for line in plain_text(n).lines().skip(2) {
        items.push_str(&format!("<li>{}</li>", escape(line)));
    }
    format!(
        "<!doctype html><html><body><p><strong>{}</strong></p><ul>{items}</ul></body></html>",
        escape(&n.summary())
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn message(from: &Mailbox, to: &[EmailAddress], n: &Notification) -> Result<Message, String> {
    let mut builder = Message::builder().from(from.clone()).subject(subject(n));
    for address in to {
        let mailbox = address
            .as_ref()
            .parse::<Mailbox>()
            .map_err(|e| format!("`{}` is not a deliverable address: {e}", address.as_ref()))?;
        builder = builder.to(mailbox);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(plain_text(n), html(n)))
        .map_err(|e| format!("cannot build the message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::webhook::tests::down_notification;

    #[test]
    fn subject_and_parts_name_the_monitor_and_its_status() {
        let n = down_notification();
        assert_eq!(subject(&n), "[upwatch] checkout is DOWN");
        let text = plain_text(&n);
        assert!(
            text.starts_with("checkout is DOWN: status 503 (expected 2xx)"),
            "{text}"
        );
        assert!(text.contains("Status: up -> down"), "{text}");
        let html = html(&n);
        assert!(html.contains("<strong>checkout is DOWN"), "{html}");
        let from: Mailbox = "upwatch@example.com".parse().unwrap();
        let to = [EmailAddress::parse("ops@example.com").unwrap()];
        let formatted = String::from_utf8(message(&from, &to, &n).unwrap().formatted()).unwrap();
        assert!(formatted.contains("multipart/alternative"), "{formatted}");
        assert!(formatted.contains("text/html"), "{formatted}");
    }
}
