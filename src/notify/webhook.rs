//! Webhooks: the contract's JSON body, POSTed with the delivery id and kind
//! in headers and, with a secret, an HMAC-SHA256 signature of the raw body.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::domain::channel::{ChannelUrl, Secret};
use crate::domain::notification::{Attempt, Notification};

pub async fn send(
    client: &reqwest::Client,
    url: &ChannelUrl,
    secret: Option<&Secret>,
    notification: &Notification,
) -> Attempt {
    let body = body(notification).to_string().into_bytes();
    let mut headers = vec![
        ("X-Upwatch-Delivery", notification.delivery_id.to_string()),
        ("X-Upwatch-Event", notification.kind.as_str().to_owned()),
    ];
    if let Some(secret) = secret {
        headers.push(("X-Upwatch-Signature", signature(secret.expose(), &body)));
    }
    super::post_json(client, url.as_url(), body, &headers).await
}

/// The body: `{"delivery_id", "kind", "seq", "at", "monitor", "from", "to",
/// "reason", "latency_ms", "http_status", "error"}`; a test's `monitor` and
/// transition fields are null.
pub fn body(n: &Notification) -> Value {
    let at =
        n.at.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
    let change = n.change.as_ref();
    if let Some(drift) = &n.drift {
        return json!({
            "delivery_id": n.delivery_id,
            "kind": n.kind,
            "seq": n.seq,
            "at": at,
            "monitor": n.monitor,
            "expected": drift.expected,
            "observed": drift.observed,
            "resolved": drift.resolved,
        });
    }
    json!({
        "delivery_id": n.delivery_id,
        "kind": n.kind,
        "seq": n.seq,
        "at": at,
        "monitor": n.monitor,
        "from": change.map(|c| c.from.as_str()),
        "to": change.map(|c| c.to.as_str()),
        "reason": change.map(|c| c.reason.as_str()),
        "latency_ms": change.map(|c| c.latency_ms),
        "http_status": change.and_then(|c| c.http_status),
        "error": change.and_then(|c| c.error.as_deref()),
    })
}

/// `sha256=<hex HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts every key length"));
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::notification::{MonitorSummary, NotificationKind};
    use crate::domain::{StatusChange, status::Status};
    use time::macros::datetime;
    use uuid::Uuid;

    pub(crate) fn down_notification() -> Notification {
        Notification {
            delivery_id: Uuid::nil(),
            kind: NotificationKind::Down,
            seq: Some(42),
            at: datetime!(2026-12-01 10:00:00 UTC),
            monitor: Some(MonitorSummary {
                id: Uuid::nil(),
                name: "checkout".into(),
                url: "https://shop.example/health".into(),
                tags: vec!["prod".into()],
            }),
            change: Some(StatusChange {
                from: Status::Up,
                to: Status::Down,
                reason: "status 503 (expected 2xx)".into(),
                job_id: Uuid::nil(),
                checked_at: datetime!(2026-12-01 09:59:59 UTC),
                latency_ms: 12,
                http_status: Some(503),
                error: None,
            }),
            drift: None,
            channel_name: "ops".into(),
        }
    }

    #[test]
    fn the_body_has_the_contracts_fields() {
        let body = body(&down_notification());
        assert_eq!(body["kind"], "down");
        assert_eq!(body["seq"], 42);
        assert_eq!(body["at"], "2026-12-01T10:00:00Z");
        assert_eq!(body["monitor"]["name"], "checkout");
        assert_eq!(body["monitor"]["url"], "https://shop.example/health");
        assert_eq!(body["monitor"]["tags"], json!(["prod"]));
        assert_eq!(
            (body["from"].as_str(), body["to"].as_str()),
            (Some("up"), Some("down"))
        );
        assert_eq!(body["http_status"], 503);
        assert_eq!(body["error"], Value::Null);
        let test = Notification {
            kind: NotificationKind::Test,
            monitor: None,
            change: None,
            seq: None,
            ..down_notification()
        };
        let body = super::body(&test);
        assert_eq!(body["monitor"], Value::Null);
        assert_eq!(body["kind"], "test");
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
