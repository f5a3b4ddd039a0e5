//! The JSON shape of a monitors file: `{"monitors": [...], "channels": [...]}`
//! with the writable fields (and a monitor's `paused`), or the seeds'
//! `{"services": [...]}`; the plan as `POST /api/v1/apply` answers it; and
//! the export, which reads back as the same file.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::channel_dto::{ChannelResponse, parse_channel_changes};
use super::dto::{ConfigResponse, parse_changes, refuse_unknown_fields};
use super::error::ApiError;
use super::extract::json_kind;
use crate::domain::MonitorConfig;
use crate::domain::channel::default_on;
use crate::domain::manifest::{Action, DesiredChannel, DesiredMonitor, Manifest, Plan};
use crate::domain::version::ExpectedVersion;
use crate::domain::{MonitorChanges, MonitorName, MonitorUrl, Tags};

/// Parses a monitors file, already read into JSON, naming the first bad
/// field as `monitors[3].url`.
pub fn parse_manifest(value: &Value) -> Result<Manifest, ApiError> {
    let Value::Object(file) = value else {
        return Err(ApiError::validation(
            "body",
            format!(
                "must be an object with `monitors` and `channels`, got {}",
                json_kind(value)
            ),
        ));
    };
    if file.contains_key("services") {
        refuse_unknown_fields(file, &["services"], "key beside `services`")?;
        return parse_services(&file["services"]);
    }
    refuse_unknown_fields(file, &["monitors", "channels"], "key of a monitors file")?;
    let mut manifest = Manifest::default();
    for (index, entry) in entries(file, "monitors")?.iter().enumerate() {
        let place = format!("monitors[{index}]");
        let mut fields = object(entry, &place)?.clone();
        let paused = match fields.remove("paused") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(paused)) => Some(paused),
            Some(other) => {
                return Err(ApiError::validation(
                    format!("{place}.paused"),
                    format!("must be true or false, got {}", json_kind(&other)),
                ));
            }
        };
        let changes = parse_changes(&fields).map_err(|e| e.within(&place))?;
        let config =
            MonitorConfig::from_changes(changes).map_err(|e| ApiError::from(e).within(&place))?;
        manifest.monitors.push(DesiredMonitor { config, paused });
    }
    for (index, entry) in entries(file, "channels")?.iter().enumerate() {
        let place = format!("channels[{index}]");
        let mut changes =
            parse_channel_changes(object(entry, &place)?).map_err(|e| e.within(&place))?;
        // What a file leaves out takes its default, except the write-only
        // values an export cannot show: those stay as they are.
        changes.on.get_or_insert_with(default_on);
        changes.match_tags.get_or_insert_with(Tags::default);
        changes.remind_every.get_or_insert(None);
        manifest.channels.push(DesiredChannel { changes });
    }
    Ok(manifest)
}

fn entries<'a>(file: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], ApiError> {
    match file.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(ApiError::validation(
            key.to_owned(),
            format!("must be an array, got {}", json_kind(other)),
        )),
    }
}

fn object<'a>(value: &'a Value, place: &str) -> Result<&'a Map<String, Value>, ApiError> {
    value.as_object().ok_or_else(|| {
        ApiError::validation(
            place.to_owned(),
            format!("must be an object, got {}", json_kind(value)),
        )
    })
}

/// The seeds' format: `{"services": [{"id", "name", "url", "expectedVersion",
/// "environment", "enabled"}]}`. The environment becomes a tag,
/// `enabled: false` a paused monitor; other keys are not upwatch's and are
/// left alone.
fn parse_services(services: &Value) -> Result<Manifest, ApiError> {
    let Value::Array(services) = services else {
        return Err(ApiError::validation(
            "services",
            format!("must be an array, got {}", json_kind(services)),
        ));
    };
    let mut manifest = Manifest::default();
    for (index, service) in services.iter().enumerate() {
        let place = format!("services[{index}]");
        let service = object(service, &place)?;
        let text = |key: &str| -> Result<Option<&str>, ApiError> {
            match service.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(ApiError::validation(
                    format!("{place}.{key}"),
                    format!("must be a string, got {}", json_kind(other)),
                )),
            }
        };
        let invalid = |key: &str, e: crate::domain::InvalidValue| {
            ApiError::validation(format!("{place}.{key}"), e.0)
        };
        let required =
            |key: &str| ApiError::validation(format!("{place}.{key}"), "is required".to_owned());
        let name = text("name")?.ok_or_else(|| required("name"))?;
        let url = text("url")?.ok_or_else(|| required("url"))?;
        let mut changes = MonitorChanges {
            name: Some(MonitorName::parse(name).map_err(|e| invalid("name", e))?),
            url: Some(MonitorUrl::parse(url).map_err(|e| invalid("url", e))?),
            ..MonitorChanges::default()
        };
        if let Some(version) = text("expectedVersion")?.filter(|v| !v.is_empty()) {
            changes.expected_version = Some(Some(
                ExpectedVersion::parse(version).map_err(|e| invalid("expectedVersion", e))?,
            ));
        }
        if let Some(environment) = text("environment")?.filter(|e| !e.is_empty()) {
            let tag = environment_tag(environment);
            changes.tags = Some(Tags::parse(&[tag]).map_err(|e| invalid("environment", e))?);
        }
        let paused = match service.get("enabled") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(enabled)) => Some(!enabled),
            Some(other) => {
                return Err(ApiError::validation(
                    format!("{place}.enabled"),
                    format!("must be true or false, got {}", json_kind(other)),
                ));
            }
        };
        let config =
            MonitorConfig::from_changes(changes).map_err(|e| ApiError::from(e).within(&place))?;
        manifest.monitors.push(DesiredMonitor { config, paused });
    }
    Ok(manifest)
}

/// An environment name as a tag: lower case, other characters as `-`.
fn environment_tag(environment: &str) -> String {
    environment
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.:-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// One line of a plan, as `POST /api/v1/apply` answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanLine {
    /// `+` create, `~` update, `-` delete, `=` unchanged.
    #[schema(value_type = String)]
    pub action: &'static str,
    /// `monitor` or `channel`.
    #[schema(value_type = String)]
    pub kind: &'static str,
    pub name: String,
    /// For an update: the fields that change.
    pub changed: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanSummary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanResponse {
    /// True when nothing was changed (`?dry_run=true`).
    pub dry_run: bool,
    pub prune: bool,
    pub plan: Vec<PlanLine>,
    pub summary: PlanSummary,
}

impl PlanResponse {
    pub fn new(plan: &Plan, dry_run: bool, prune: bool) -> Self {
        let [create, update, delete, unchanged] = plan.counts();
        Self {
            dry_run,
            prune,
            plan: plan
                .entries
                .iter()
                .map(|entry| PlanLine {
                    action: entry.action.symbol(),
                    kind: entry.kind.as_str(),
                    name: entry.name.clone(),
                    changed: match &entry.action {
                        Action::Update(changed) => changed.clone(),
                        _ => Vec::new(),
                    },
                })
                .collect(),
            summary: PlanSummary {
                create,
                update,
                delete,
                unchanged,
            },
        }
    }
}

/// Drops what a file would leave out anyway: nulls, empty lists and maps.
fn without_defaults(value: Value) -> Map<String, Value> {
    let Value::Object(map) = value else {
        return Map::new();
    };
    map.into_iter()
        .filter(|(_, v)| match v {
            Value::Null => false,
            Value::Array(items) => !items.is_empty(),
            Value::Object(fields) => !fields.is_empty(),
            _ => true,
        })
        .collect()
}

/// A monitor as a file holds it: its writable fields, and `paused`.
pub fn exported_monitor(config: &MonitorConfig, paused: bool) -> Value {
    let mut entry =
        without_defaults(serde_json::to_value(ConfigResponse::from(config)).unwrap_or_default());
    entry.insert("paused".into(), Value::Bool(paused));
    Value::Object(entry)
}

/// A channel as a file holds it: without its write-only values.
pub fn exported_channel(channel: &ChannelResponse) -> Value {
    let mut entry = without_defaults(serde_json::to_value(channel).unwrap_or_default());
    for read_only in [
        "id",
        "created_at",
        "updated_at",
        "version",
        "has_secret",
        "has_routing_key",
    ] {
        entry.remove(read_only);
    }
    Value::Object(entry)
}
