//! The JSON shapes of channels and deliveries: request bodies parsed into
//! domain values, and the responses of the contract.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dto::{integer, refuse_unknown_fields, string, strings};
use super::error::ApiError;
use crate::domain::channel::{
    ChannelChanges, ChannelKind, ChannelUrl, EmailAddress, RemindMinutes, Secret, parse_on,
};
use crate::domain::{InvalidValue, MonitorName, Tags};
use crate::store::channels::ChannelView;
use crate::store::deliveries::DeliveryView;

/// The writable fields, in the contract's order (errors name the first bad one).
const WRITABLE_FIELDS: [&str; 9] = [
    "name",
    "kind",
    "url",
    "secret",
    "routing_key",
    "to",
    "on",
    "match_tags",
    "remind_every_minutes",
];

/// Parses a POST or PATCH body into the changes it asks for.
pub fn parse_channel_changes(body: &Map<String, Value>) -> Result<ChannelChanges, ApiError> {
    refuse_unknown_fields(body, &WRITABLE_FIELDS, "field of a channel")?;
    let mut changes = ChannelChanges::default();
    for &field in &WRITABLE_FIELDS {
        let Some(value) = body.get(field) else {
            continue;
        };
        let invalid = |e: InvalidValue| ApiError::validation(field, e.0);
        match field {
            "name" => {
                changes.name = Some(MonitorName::parse(string(field, value)?).map_err(invalid)?)
            }
            "kind" => {
                changes.kind = Some(ChannelKind::parse(string(field, value)?).map_err(invalid)?)
            }
            "url" => changes.url = Some(ChannelUrl::parse(string(field, value)?).map_err(invalid)?),
            "secret" => {
                changes.secret = Some(match value {
                    Value::Null => None,
                    other => Some(Secret::hmac_key(string(field, other)?).map_err(invalid)?),
                });
            }
            "routing_key" => {
                changes.routing_key =
                    Some(Secret::routing_key(string(field, value)?).map_err(invalid)?);
            }
            "to" => {
                let addresses = strings(field, value)?
                    .into_iter()
                    .map(EmailAddress::parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(invalid)?;
                changes.to = Some(addresses);
            }
            "on" => changes.on = Some(parse_on(&strings(field, value)?).map_err(invalid)?),
            "match_tags" => {
                changes.match_tags = Some(Tags::parse(&strings(field, value)?).map_err(invalid)?);
            }
            "remind_every_minutes" => {
                changes.remind_every = Some(match value {
                    Value::Null => None,
                    other => Some(RemindMinutes::parse(integer(field, other)?).map_err(invalid)?),
                });
            }
            _ => {}
        }
    }
    Ok(changes)
}

/// A channel as responses show it: secrets only as `has_secret` /
/// `has_routing_key`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelResponse {
    pub id: Uuid,
    pub name: String,
    /// `webhook`, `slack`, `pagerduty` or `email`.
    #[schema(value_type = String)]
    pub kind: ChannelKind,
    pub url: Option<String>,
    pub to: Vec<String>,
    #[schema(value_type = Vec<String>)]
    pub on: Vec<&'static str>,
    pub match_tags: Vec<String>,
    pub remind_every_minutes: Option<u32>,
    pub has_secret: bool,
    pub has_routing_key: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

impl From<&ChannelView> for ChannelResponse {
    fn from(view: &ChannelView) -> Self {
        let c = &view.config;
        let d = &c.destination;
        Self {
            id: view.id,
            name: c.name.as_ref().to_owned(),
            kind: d.kind(),
            url: d.url().map(|u| u.as_ref().to_owned()),
            to: d.to().iter().map(|a| a.as_ref().to_owned()).collect(),
            on: c.on.iter().map(|k| k.as_str()).collect(),
            match_tags: c.match_tags.iter().map(|t| t.as_ref().to_owned()).collect(),
            remind_every_minutes: c.remind_every.map(RemindMinutes::get),
            has_secret: d.secret().is_some(),
            has_routing_key: d.routing_key().is_some(),
            created_at: view.created_at,
            updated_at: view.updated_at,
            version: view.version,
        }
    }
}

/// One delivery: `next_attempt_at` only while it is pending.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryResponse {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub monitor_id: Option<Uuid>,
    pub event_seq: Option<i64>,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
}

impl From<DeliveryView> for DeliveryResponse {
    fn from(d: DeliveryView) -> Self {
        let pending = d.status == "pending";
        Self {
            id: d.id,
            channel_id: d.channel_id,
            monitor_id: d.monitor_id,
            event_seq: d.event_seq,
            kind: d.kind,
            status: d.status,
            attempts: d.attempts,
            last_error: d.last_error,
            created_at: d.created_at,
            delivered_at: d.delivered_at,
            next_attempt_at: pending.then_some(d.next_attempt_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<ChannelChanges, ApiError> {
        parse_channel_changes(body.as_object().unwrap())
    }

    #[test]
    fn bad_fields_are_named() {
        for (body, field) in [
            (json!({"name": "a", "colour": "red"}), "colour"),
            (json!({"kind": "sms"}), "kind"),
            (json!({"url": "not a url"}), "url"),
            (json!({"secret": "short"}), "secret"),
            (json!({"to": "ops@example.com"}), "to"),
            (json!({"to": ["nobody"]}), "to"),
            (json!({"on": ["down", "sideways"]}), "on"),
            (json!({"match_tags": ["Prod"]}), "match_tags"),
            (json!({"remind_every_minutes": 1}), "remind_every_minutes"),
            (json!({"remind_every_minutes": "5"}), "remind_every_minutes"),
        ] {
            let error = parse(body.clone()).unwrap_err();
            assert_eq!(error.field.as_deref(), Some(field), "{body}");
            assert_eq!(error.status.as_u16(), 422);
        }
    }

    #[test]
    fn null_clears_the_secret_and_the_reminder_period() {
        let changes = parse(json!({"secret": null, "remind_every_minutes": null})).unwrap();
        assert_eq!(changes.secret, Some(None));
        assert_eq!(changes.remind_every, Some(None));
    }
}
