//! Slack incoming webhooks: a readable line naming the monitor, its new
//! status and the reason, with the same as a block plus the details.

use serde_json::{Value, json};

use crate::domain::channel::ChannelUrl;
use crate::domain::notification::{Attempt, Notification};

pub async fn send(
    client: &reqwest::Client,
    url: &ChannelUrl,
    notification: &Notification,
) -> Attempt {
    let body = message(notification).to_string().into_bytes();
    super::post_json(client, url.as_url(), body, &[]).await
}

/// `{"text": ..., "blocks": [...]}`.
pub fn message(n: &Notification) -> Value {
    let text = n.summary();
    let mut details = Vec::new();
    if let Some(monitor) = &n.monitor {
        details.push(format!("*URL:* {}", monitor.url));
        if !monitor.tags.is_empty() {
            details.push(format!("*Tags:* {}", monitor.tags.join(", ")));
        }
    }
    if let Some(change) = &n.change {
        details.push(format!("*Latency:* {} ms", change.latency_ms));
        if let Some(error) = &change.error {
            details.push(format!("*Error:* {error}"));
        }
    }
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": format!("*{text}*")},
    })];
    if !details.is_empty() {
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": details.join("  ·  ")}],
        }));
    }
    json!({ "text": text, "blocks": blocks })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::webhook::tests::down_notification;

    #[test]
    fn the_text_names_the_monitor_the_status_and_the_reason() {
        let message = message(&down_notification());
        let text = message["text"].as_str().unwrap();
        assert_eq!(text, "checkout is DOWN: status 503 (expected 2xx)");
        assert!(
            message["blocks"][1]["elements"][0]["text"]
                .as_str()
                .unwrap()
                .contains("https://shop.example/health")
        );
    }
}
