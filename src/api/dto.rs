//! The JSON shapes of the API: request bodies parsed into domain values, and
//! the response bodies of the contract.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::ApiError;
use super::extract::json_kind;
use crate::domain::actor::AggregateType;
use crate::domain::audit::AuditState;
use crate::domain::check::{RequestBody, RequestHeaders};
use crate::domain::condition::Conditions;
use crate::domain::version::{ExpectedVersion, VersionSource};
use crate::domain::{
    ExpectedStatuses, HttpMethod, IntervalSeconds, InvalidValue, MonitorChanges, MonitorName,
    MonitorUrl, Tags, Threshold, TimeoutMs,
};
use crate::domain::{MonitorConfig, ProbeResult};
use crate::store::event_log::StoredEvent;
use crate::store::monitors::MonitorView;

/// The writable fields, in the contract's order (errors name the first bad one).
const WRITABLE_FIELDS: [&str; 14] = [
    "name",
    "url",
    "method",
    "interval_seconds",
    "timeout_ms",
    "expected_status",
    "failure_threshold",
    "recovery_threshold",
    "tags",
    "headers",
    "body",
    "conditions",
    "expected_version",
    "version_source",
];

/// Parses a POST or PATCH body into the changes it asks for. Unknown fields,
/// wrong JSON types and invalid values are refused, naming the field.
pub fn parse_changes(body: &Map<String, Value>) -> Result<MonitorChanges, ApiError> {
    refuse_unknown_fields(body, &WRITABLE_FIELDS, "field")?;
    let mut changes = MonitorChanges::default();
    for &field in &WRITABLE_FIELDS {
        let Some(value) = body.get(field) else {
            continue;
        };
        let invalid = |e: InvalidValue| ApiError::validation(field, e.0);
        match field {
            "name" => {
                changes.name = Some(MonitorName::parse(string(field, value)?).map_err(invalid)?)
            }
            "url" => changes.url = Some(MonitorUrl::parse(string(field, value)?).map_err(invalid)?),
            "method" => {
                changes.method = Some(HttpMethod::parse(string(field, value)?).map_err(invalid)?);
            }
            "interval_seconds" => {
                changes.interval_seconds =
                    Some(IntervalSeconds::parse(integer(field, value)?).map_err(invalid)?);
            }
            "timeout_ms" => {
                changes.timeout_ms =
                    Some(TimeoutMs::parse(integer(field, value)?).map_err(invalid)?);
            }
            "expected_status" => {
                changes.expected_status = Some(match value {
                    Value::Null => None,
                    Value::Array(items) => {
                        let codes = items
                            .iter()
                            .map(|item| integer(field, item))
                            .collect::<Result<Vec<_>, _>>()?;
                        Some(ExpectedStatuses::parse(&codes).map_err(invalid)?)
                    }
                    other => {
                        return Err(ApiError::validation(
                            field,
                            format!(
                                "must be an array of integers or null, got {}",
                                json_kind(other)
                            ),
                        ));
                    }
                });
            }
            "failure_threshold" => {
                changes.failure_threshold =
                    Some(Threshold::parse(integer(field, value)?).map_err(invalid)?);
            }
            "recovery_threshold" => {
                changes.recovery_threshold =
                    Some(Threshold::parse(integer(field, value)?).map_err(invalid)?);
            }
            "tags" => changes.tags = Some(Tags::parse(&strings(field, value)?).map_err(invalid)?),
            "headers" => changes.headers = Some(parse_headers(value)?),
            "body" => {
                changes.body = Some(match value {
                    Value::Null => None,
                    other => Some(RequestBody::parse(string(field, other)?).map_err(invalid)?),
                });
            }
            "conditions" => changes.conditions = Some(parse_conditions(value)?),
            "expected_version" => {
                changes.expected_version = Some(match value {
                    Value::Null => None,
                    other => Some(ExpectedVersion::parse(string(field, other)?).map_err(invalid)?),
                });
            }
            "version_source" => {
                changes.version_source = Some(match value {
                    Value::Null => None,
                    other => Some(VersionSource::parse(string(field, other)?).map_err(invalid)?),
                });
            }
            _ => {}
        }
    }
    Ok(changes)
}

/// `headers`: an object of header names to string values; null: none.
fn parse_headers(value: &Value) -> Result<RequestHeaders, ApiError> {
    let field = "headers";
    let pairs: Vec<(&str, &str)> = match value {
        Value::Null => Vec::new(),
        Value::Object(map) => map
            .iter()
            .map(|(name, value)| {
                value.as_str().map(|v| (name.as_str(), v)).ok_or_else(|| {
                    ApiError::validation(
                        field,
                        format!(
                            "the value of `{name}` must be a string, got {}",
                            json_kind(value)
                        ),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(ApiError::validation(
                field,
                format!("must be an object of strings, got {}", json_kind(other)),
            ));
        }
    };
    RequestHeaders::parse(&pairs).map_err(|e| ApiError::validation(field, e.0))
}

/// `conditions`: an array of condition strings; a bad one is named by its
/// index (`conditions[2]`).
fn parse_conditions(value: &Value) -> Result<Conditions, ApiError> {
    let field = "conditions";
    let Value::Array(items) = value else {
        return Err(ApiError::validation(
            field,
            format!("must be an array of strings, got {}", json_kind(value)),
        ));
    };
    let mut texts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let text = item.as_str().ok_or_else(|| {
            ApiError::validation(
                format!("{field}[{i}]"),
                format!("must be a string, got {}", json_kind(item)),
            )
        })?;
        texts.push(text);
    }
    Conditions::parse(&texts).map_err(|(index, e)| match index {
        Some(i) => ApiError::validation(format!("{field}[{i}]"), e.0),
        None => ApiError::validation(field, e.0),
    })
}

/// Refuses the first field of `body` not among `writable`, naming it.
pub(super) fn refuse_unknown_fields(
    body: &Map<String, Value>,
    writable: &[&str],
    what: &str,
) -> Result<(), ApiError> {
    match body.keys().find(|k| !writable.contains(&k.as_str())) {
        Some(unknown) => Err(ApiError::validation(
            unknown.clone(),
            format!(
                "is not a writable {what} (writable: {})",
                writable.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// An array of strings, or a 422 naming `field`.
pub(super) fn strings<'a>(field: &'static str, value: &'a Value) -> Result<Vec<&'a str>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::validation(
            field,
            format!("must be an array of strings, got {}", json_kind(value)),
        ));
    };
    items.iter().map(|item| string(field, item)).collect()
}

pub(super) fn string<'a>(field: &'static str, value: &'a Value) -> Result<&'a str, ApiError> {
    value.as_str().ok_or_else(|| {
        ApiError::validation(field, format!("must be a string, got {}", json_kind(value)))
    })
}

pub(super) fn integer(field: &'static str, value: &Value) -> Result<i64, ApiError> {
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            ApiError::validation(field, format!("must be a whole number in range, got {n}"))
        }),
        other => Err(ApiError::validation(
            field,
            format!("must be an integer, got {}", json_kind(other)),
        )),
    }
}

/// A monitor's writable fields, as responses show them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfigResponse {
    pub name: String,
    pub url: String,
    /// HTTP checks only.
    #[schema(value_type = Option<String>)]
    pub method: Option<&'static str>,
    pub interval_seconds: u32,
    pub timeout_ms: u32,
    pub expected_status: Option<Vec<u16>>,
    pub failure_threshold: u8,
    pub recovery_threshold: u8,
    pub tags: Vec<String>,
    /// HTTP only.
    #[schema(value_type = Object)]
    pub headers: Map<String, Value>,
    pub body: Option<String>,
    pub conditions: Vec<String>,
    pub expected_version: Option<String>,
    /// Where the version is read (the default when one is expected).
    pub version_source: Option<String>,
}

impl From<&MonitorConfig> for ConfigResponse {
    fn from(c: &MonitorConfig) -> Self {
        let check = c.check.fields();
        Self {
            name: c.name.as_ref().to_owned(),
            url: check.url.as_ref().to_owned(),
            method: check.method.map(HttpMethod::as_str),
            interval_seconds: c.interval_seconds.get(),
            timeout_ms: c.timeout_ms.get(),
            expected_status: check.expected_status.as_ref().map(|s| s.codes().to_vec()),
            failure_threshold: c.failure_threshold.get(),
            recovery_threshold: c.recovery_threshold.get(),
            tags: c.tags.iter().map(|t| t.as_ref().to_owned()).collect(),
            headers: check
                .headers
                .iter()
                .map(|(name, value)| (name.to_owned(), Value::String(value.to_owned())))
                .collect(),
            body: check.body.as_ref().map(|b| b.as_str().to_owned()),
            conditions: check.conditions.iter().map(ToString::to_string).collect(),
            expected_version: check
                .expected_version
                .as_ref()
                .map(|v| v.as_str().to_owned()),
            version_source: c.check.version_source().map(|s| s.to_string()),
        }
    }
}

/// A monitor, as every endpoint returns it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonitorResponse {
    pub id: Uuid,
    #[serde(flatten)]
    pub config: ConfigResponse,
    pub paused: bool,
    /// `unknown`, `up` or `down`.
    #[schema(value_type = String)]
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub status_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_checked_at: Option<OffsetDateTime>,
    pub last_latency_ms: Option<i32>,
    /// The version the newest result reported (monitors that expect one).
    pub observed_version: Option<String>,
    pub drift: bool,
    /// Ticks skipped on purpose because they could not be probed in time
    /// (an overload, or workers away), since Redis last kept its data;
    /// `null` when Redis could not be asked.
    pub skipped_ticks: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
}

impl From<&MonitorView> for MonitorResponse {
    fn from(view: &MonitorView) -> Self {
        let m = &view.monitor;
        Self {
            id: m.id,
            config: ConfigResponse::from(&m.config),
            paused: m.paused,
            status: view.health.status.as_str(),
            status_since: view.health.status_since,
            last_checked_at: view.health.last_checked_at,
            last_latency_ms: view.health.last_latency_ms,
            observed_version: view.health.observed_version.clone(),
            drift: view.health.drift,
            skipped_ticks: None,
            created_at: m.created_at,
            updated_at: m.updated_at,
            version: m.version,
        }
    }
}

/// A monitor as the event log says it was at `at` (the audit view, and each
/// line of `upwatch replay`).
#[derive(Debug, Serialize, ToSchema)]
pub struct StateResponse {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
    #[serde(flatten)]
    pub config: ConfigResponse,
    pub paused: bool,
    pub deleted: bool,
    pub status: &'static str,
    #[serde(with = "time::serde::rfc3339::option")]
    pub status_since: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: i64,
    /// Who registered the monitor, and who last changed it (the log's actors).
    pub created_by: String,
    pub changed_by: String,
}

impl StateResponse {
    pub fn new(state: &AuditState, at: Option<OffsetDateTime>) -> Self {
        let m = &state.monitor;
        Self {
            id: m.id,
            at,
            config: ConfigResponse::from(&m.config),
            paused: m.paused,
            deleted: m.deleted,
            status: state.status.as_str(),
            status_since: state.status_since,
            created_at: m.created_at,
            updated_at: m.updated_at,
            version: m.version,
            created_by: state.created_by.to_string(),
            changed_by: state.changed_by.to_string(),
        }
    }
}

/// An event of the log, as the contract shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventResponse {
    pub seq: i64,
    /// What the event is about (`monitor`, ...), and its id.
    pub aggregate_type: String,
    pub aggregate_id: Uuid,
    /// The monitor's id and per-monitor sequence, for a monitor's event.
    pub monitor_id: Option<Uuid>,
    pub monitor_seq: Option<i64>,
    /// The version of the event's data schema.
    pub schema_version: i16,
    /// Who made the change: a token's name, `system` or `anonymous`.
    pub actor: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(value_type = Object)]
    pub data: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

impl From<StoredEvent> for EventResponse {
    fn from(event: StoredEvent) -> Self {
        let of_monitor = event.aggregate_type == AggregateType::Monitor.as_str();
        Self {
            seq: event.seq,
            monitor_id: of_monitor.then_some(event.aggregate_id),
            monitor_seq: of_monitor.then_some(event.aggregate_seq),
            aggregate_id: event.aggregate_id,
            aggregate_type: event.aggregate_type,
            schema_version: event.schema_version,
            actor: event.actor.as_str().to_owned(),
            event_type: event.event_type,
            data: event.data,
            recorded_at: event.recorded_at,
        }
    }
}

/// A probe result, as the contract shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultResponse {
    pub job_id: Uuid,
    pub monitor_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub scheduled_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    /// `up` or `down`.
    #[schema(value_type = String)]
    pub status: &'static str,
    pub latency_ms: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub certificate_expires_at: Option<OffsetDateTime>,
    pub observed_version: Option<String>,
}

impl From<ProbeResult> for ResultResponse {
    fn from(result: ProbeResult) -> Self {
        Self {
            job_id: result.job_id,
            monitor_id: result.monitor_id,
            scheduled_at: result.scheduled_at,
            checked_at: result.checked_at,
            status: if result.up { "up" } else { "down" },
            latency_ms: result.latency_ms,
            http_status: result.http_status,
            error: result.error,
            certificate_expires_at: result.certificate_expires_at,
            observed_version: result.observed_version,
        }
    }
}

/// One page of a list, and the cursor of the next (null on the last page).
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row only
    /// tells that another page exists.
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: i64,
        cursor_of: impl Fn(&R) -> String,
        into_item: impl Fn(R) -> T,
    ) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(&cursor_of)
        } else {
            None
        };
        Self {
            items: rows.into_iter().map(into_item).collect(),
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<MonitorChanges, ApiError> {
        let Value::Object(map) = body else {
            panic!("test bodies are objects")
        };
        parse_changes(&map)
    }

    #[test]
    fn unknown_fields_are_named() {
        let error = parse(json!({"name": "a", "colour": "red"})).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("colour"));
        let read_only = parse(json!({"status": "up"})).unwrap_err();
        assert_eq!(read_only.field.as_deref(), Some("status"));
    }

    #[test]
    fn wrong_json_types_name_their_field() {
        let cases = [
            json!({"name": 5}),
            json!({"url": null}),
            json!({"method": ["GET"]}),
            json!({"interval_seconds": "60"}),
            json!({"interval_seconds": 1.5}),
            json!({"timeout_ms": true}),
            json!({"expected_status": "200"}),
            json!({"expected_status": [200, "201"]}),
            json!({"failure_threshold": null}),
            json!({"recovery_threshold": 1e300}),
            json!({"tags": "prod"}),
            json!({"tags": [1]}),
        ];
        for body in cases {
            let field = body.as_object().unwrap().keys().next().unwrap().clone();
            let error = parse(body.clone()).unwrap_err();
            assert_eq!(error.code, "validation_failed", "{body}");
            assert_eq!(error.field.as_deref(), Some(field.as_str()), "{body}");
        }
    }

    #[test]
    fn the_first_bad_field_in_contract_order_is_named() {
        let error = parse(json!({"tags": ["BAD"], "interval_seconds": 0})).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("interval_seconds"));
    }

    #[test]
    fn null_expected_status_is_an_explicit_any_2xx() {
        let changes = parse(json!({"expected_status": null})).unwrap();
        assert_eq!(changes.expected_status, Some(None));
        assert_eq!(parse(json!({})).unwrap().expected_status, None);
    }

    #[test]
    fn pages_carry_a_cursor_only_when_more_rows_exist() {
        let page = Page::from_rows(vec![1, 2, 3], 2, |n| n.to_string(), |n| n * 10);
        assert_eq!(page.items, vec![10, 20]);
        assert_eq!(page.next_cursor.as_deref(), Some("2"));
        let last = Page::from_rows(vec![1, 2], 2, |n| n.to_string(), |n| n);
        assert_eq!(last.next_cursor, None);
    }
}
