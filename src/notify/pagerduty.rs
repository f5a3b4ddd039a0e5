//! PagerDuty Events API v2: a `trigger` when a monitor goes down (and on
//! reminders), a `resolve` when it comes back, both under the monitor's
//! `dedup_key`, so PagerDuty keeps one incident per outage.

use serde_json::{Value, json};

use crate::domain::channel::Secret;
use crate::domain::notification::{Attempt, Notification, NotificationKind};

pub async fn send(
    client: &reqwest::Client,
    events_url: &url::Url,
    routing_key: &Secret,
    notification: &Notification,
) -> Attempt {
    let body = event(routing_key.expose(), notification)
        .to_string()
        .into_bytes();
    super::post_json(client, events_url, body, &[]).await
}

/// The event: `routing_key`, `event_action`, `dedup_key`, `payload`.
pub fn event(routing_key: &str, n: &Notification) -> Value {
    let action = match n.kind {
        NotificationKind::Up => "resolve",
        _ => "trigger",
    };
    let dedup_key = match &n.monitor {
        Some(monitor) => format!("upwatch-{}", monitor.id),
        None => format!("upwatch-test-{}", n.delivery_id),
    };
    let source = n
        .monitor
        .as_ref()
        .map_or_else(|| "upwatch".to_owned(), |m| m.url.clone());
    let at =
        n.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
    json!({
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
        "payload": {
            "summary": n.summary(),
            "source": source,
            "severity": "critical",
            "timestamp": at,
            "component": n.monitor.as_ref().map(|m| m.name.as_str()),
            "custom_details": {
                "delivery_id": n.delivery_id,
                "seq": n.seq,
                "http_status": n.change.as_ref().and_then(|c| c.http_status),
                "error": n.change.as_ref().and_then(|c| c.error.as_deref()),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::webhook::tests::down_notification;

    #[test]
    fn downs_trigger_and_recoveries_resolve_under_the_monitors_key() {
        let down = down_notification();
        let trigger = event("key-1", &down);
        assert_eq!(trigger["routing_key"], "key-1");
        assert_eq!(trigger["event_action"], "trigger");
        assert_eq!(
            trigger["dedup_key"],
            format!("upwatch-{}", uuid::Uuid::nil())
        );
        assert_eq!(trigger["payload"]["severity"], "critical");
        assert_eq!(trigger["payload"]["source"], "https://shop.example/health");
        let resolve = event(
            "key-1",
            &Notification {
                kind: NotificationKind::Up,
                ..down
            },
        );
        assert_eq!(resolve["event_action"], "resolve");
        assert_eq!(resolve["dedup_key"], trigger["dedup_key"]);
    }
}
