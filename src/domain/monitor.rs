//! The monitor aggregate: what can happen to a monitor (events), what a
//! command turns into (decide), and how events build a monitor (apply).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::actor::Actor;
use super::config::{FieldError, MonitorChanges, MonitorConfig};
use super::status::Status;

/// Something that happened to a monitor, as stored in the event log.
/// The serde tag is the log's `type` column, the content its `data` column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum MonitorEvent {
    MonitorRegistered {
        config: MonitorConfig,
    },
    MonitorUpdated {
        config: MonitorConfig,
        /// The fields whose values changed, for the audit trail.
        changed: Vec<String>,
    },
    MonitorPaused {},
    MonitorResumed {},
    MonitorDeleted {},
    /// The probes moved the monitor from one status to another.
    StatusChanged(StatusChange),
    /// The reported version started to differ from the expected one.
    VersionDriftDetected(VersionDrift),
    /// The reported version matches the expected one again.
    VersionDriftResolved(VersionDrift),
}

/// The data of a drift event: both versions and the result that showed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionDrift {
    pub expected: String,
    pub observed: String,
    pub job_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

/// The data of a `status_changed` event: the transition and the result that
/// decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    pub from: Status,
    pub to: Status,
    pub reason: String,
    pub job_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
    pub latency_ms: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
}

impl MonitorEvent {
    /// The version of the events' data schema, stored with each event, so a
    /// later change of shape can tell old events from new ones.
    pub const SCHEMA_VERSION: i16 = 1;

    /// The name stored in the log's `type` column.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::MonitorRegistered { .. } => "monitor_registered",
            Self::MonitorUpdated { .. } => "monitor_updated",
            Self::MonitorPaused {} => "monitor_paused",
            Self::MonitorResumed {} => "monitor_resumed",
            Self::MonitorDeleted {} => "monitor_deleted",
            Self::StatusChanged(_) => "status_changed",
            Self::VersionDriftDetected(_) => "version_drift_detected",
            Self::VersionDriftResolved(_) => "version_drift_resolved",
        }
    }
}

/// An event as the log holds it: where it sits and when it was recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub monitor_id: Uuid,
    pub monitor_seq: i64,
    pub recorded_at: OffsetDateTime,
    /// Who made the change.
    pub actor: Actor,
    pub event: MonitorEvent,
}

/// A monitor as its events made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    pub id: Uuid,
    pub config: MonitorConfig,
    pub paused: bool,
    pub deleted: bool,
    /// The monitor's latest event sequence number.
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Why an event cannot be applied to the state in hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error("monitor {0}: the first event must be monitor_registered")]
    NotRegistered(Uuid),
    #[error("monitor {0}: registered twice")]
    AlreadyRegistered(Uuid),
    #[error("monitor {monitor_id}: expected sequence {expected}, found {found}")]
    OutOfSequence {
        monitor_id: Uuid,
        expected: i64,
        found: i64,
    },
}

/// The first event of a new monitor.
pub fn register(config: MonitorConfig) -> MonitorEvent {
    MonitorEvent::MonitorRegistered { config }
}

impl Monitor {
    /// Lays `changes` over the configuration; no event when nothing changes.
    pub fn update(&self, changes: MonitorChanges) -> Result<Option<MonitorEvent>, FieldError> {
        let config = self.config.with_changes(changes)?;
        let changed = self.config.changed_fields(&config);
        if changed.is_empty() {
            return Ok(None);
        }
        Ok(Some(MonitorEvent::MonitorUpdated {
            config,
            changed: changed.into_iter().map(str::to_owned).collect(),
        }))
    }

    /// Whether the monitor is probed: registered, not paused, not deleted.
    pub fn is_active(&self) -> bool {
        !self.paused && !self.deleted
    }

    /// Pausing a paused monitor records nothing.
    pub fn pause(&self) -> Option<MonitorEvent> {
        (!self.paused).then_some(MonitorEvent::MonitorPaused {})
    }

    /// Resuming a running monitor records nothing.
    pub fn resume(&self) -> Option<MonitorEvent> {
        self.paused.then_some(MonitorEvent::MonitorResumed {})
    }

    pub fn delete(&self) -> MonitorEvent {
        MonitorEvent::MonitorDeleted {}
    }

    /// Applies one recorded event to the state before it (`None` before the
    /// first event). Pure: the same events always give the same monitor.
    pub fn apply(state: Option<Self>, recorded: &RecordedEvent) -> Result<Self, ApplyError> {
        let expected = state.as_ref().map_or(1, |m| m.version + 1);
        if recorded.monitor_seq != expected {
            return Err(ApplyError::OutOfSequence {
                monitor_id: recorded.monitor_id,
                expected,
                found: recorded.monitor_seq,
            });
        }
        let at = recorded.recorded_at;
        let mut monitor = match (state, &recorded.event) {
            (None, MonitorEvent::MonitorRegistered { config }) => {
                return Ok(Self {
                    id: recorded.monitor_id,
                    config: config.clone(),
                    paused: false,
                    deleted: false,
                    version: recorded.monitor_seq,
                    created_at: at,
                    updated_at: at,
                });
            }
            (None, _) => return Err(ApplyError::NotRegistered(recorded.monitor_id)),
            (Some(_), MonitorEvent::MonitorRegistered { .. }) => {
                return Err(ApplyError::AlreadyRegistered(recorded.monitor_id));
            }
            (Some(monitor), _) => monitor,
        };
        match &recorded.event {
            MonitorEvent::MonitorRegistered { .. } => {}
            MonitorEvent::MonitorUpdated { config, .. } => monitor.config = config.clone(),
            MonitorEvent::MonitorPaused {} => monitor.paused = true,
            MonitorEvent::MonitorResumed {} => monitor.paused = false,
            MonitorEvent::MonitorDeleted {} => monitor.deleted = true,
            MonitorEvent::StatusChanged(_)
            | MonitorEvent::VersionDriftDetected(_)
            | MonitorEvent::VersionDriftResolved(_) => {
                // Health is not configuration: the version moves, `updated_at` does not.
                monitor.version = recorded.monitor_seq;
                return Ok(monitor);
            }
        }
        monitor.version = recorded.monitor_seq;
        monitor.updated_at = at;
        Ok(monitor)
    }

    /// Rebuilds a monitor from its whole history, oldest first.
    pub fn replay<'a>(
        events: impl IntoIterator<Item = &'a RecordedEvent>,
    ) -> Result<Option<Self>, ApplyError> {
        events
            .into_iter()
            .try_fold(None, |state, event| Self::apply(state, event).map(Some))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fields::{IntervalSeconds, MonitorName, MonitorUrl, Threshold};
    use time::macros::datetime;

    fn config(name: &str) -> MonitorConfig {
        MonitorConfig::from_changes(MonitorChanges {
            name: Some(MonitorName::parse(name).unwrap()),
            url: Some(MonitorUrl::parse("http://a.example/health").unwrap()),
            ..MonitorChanges::default()
        })
        .unwrap()
    }

    fn recorded(seq: i64, event: MonitorEvent) -> RecordedEvent {
        RecordedEvent {
            monitor_id: Uuid::nil(),
            monitor_seq: seq,
            recorded_at: datetime!(2026-01-01 00:00 UTC) + time::Duration::minutes(seq),
            actor: crate::domain::actor::Actor::Anonymous,
            event,
        }
    }

    fn registered() -> Monitor {
        Monitor::replay(&[recorded(1, register(config("api")))])
            .unwrap()
            .unwrap()
    }

    #[test]
    fn registration_starts_an_active_monitor_at_version_one() {
        let monitor = registered();
        assert_eq!(monitor.version, 1);
        assert!(monitor.is_active());
        assert_eq!(monitor.created_at, monitor.updated_at);
        assert_eq!(monitor.config, config("api"));
    }

    #[test]
    fn pause_and_resume_are_idempotent_decisions() {
        let monitor = registered();
        assert_eq!(monitor.resume(), None);
        let pause = monitor.pause().unwrap();
        let paused = Monitor::apply(Some(monitor), &recorded(2, pause)).unwrap();
        assert!(paused.paused && !paused.is_active());
        assert_eq!(paused.pause(), None);
        let resume = paused.resume().unwrap();
        let resumed = Monitor::apply(Some(paused), &recorded(3, resume)).unwrap();
        assert!(!resumed.paused && resumed.is_active());
        assert_eq!(resumed.version, 3);
    }

    #[test]
    fn an_update_that_changes_nothing_records_nothing() {
        let monitor = registered();
        let same = MonitorChanges {
            name: Some(MonitorName::parse("api").unwrap()),
            ..MonitorChanges::default()
        };
        assert_eq!(monitor.update(same).unwrap(), None);
    }

    #[test]
    fn an_update_replaces_the_config_and_names_the_changes() {
        let monitor = registered();
        let event = monitor
            .update(MonitorChanges {
                interval_seconds: Some(IntervalSeconds::parse(10).unwrap()),
                failure_threshold: Some(Threshold::parse(2).unwrap()),
                ..MonitorChanges::default()
            })
            .unwrap()
            .unwrap();
        let MonitorEvent::MonitorUpdated { changed, .. } = &event else {
            panic!("expected an update, got {event:?}");
        };
        assert_eq!(changed, &["interval_seconds", "failure_threshold"]);
        let updated = Monitor::apply(Some(monitor.clone()), &recorded(2, event)).unwrap();
        assert_eq!(updated.config.interval_seconds.get(), 10);
        assert_eq!(updated.config.timeout_ms.get(), 5000);
        assert_eq!(updated.created_at, monitor.created_at);
        assert!(updated.updated_at > monitor.updated_at);
    }

    #[test]
    fn an_invalid_update_is_refused_with_its_field() {
        let monitor = registered();
        let error = monitor
            .update(MonitorChanges {
                interval_seconds: Some(IntervalSeconds::parse(1).unwrap()),
                timeout_ms: Some(crate::domain::fields::TimeoutMs::parse(2000).unwrap()),
                ..MonitorChanges::default()
            })
            .unwrap_err();
        assert_eq!(error.field, "timeout_ms");
    }

    #[test]
    fn deletion_marks_the_monitor_deleted() {
        let monitor = registered();
        let deleted =
            Monitor::apply(Some(monitor.clone()), &recorded(2, monitor.delete())).unwrap();
        assert!(deleted.deleted && !deleted.is_active());
    }

    #[test]
    fn replay_refuses_histories_that_do_not_fit() {
        let cases = [
            (
                vec![recorded(1, MonitorEvent::MonitorPaused {})],
                ApplyError::NotRegistered(Uuid::nil()),
            ),
            (
                vec![
                    recorded(1, register(config("a"))),
                    recorded(2, register(config("a"))),
                ],
                ApplyError::AlreadyRegistered(Uuid::nil()),
            ),
            (
                vec![
                    recorded(1, register(config("a"))),
                    recorded(3, MonitorEvent::MonitorPaused {}),
                ],
                ApplyError::OutOfSequence {
                    monitor_id: Uuid::nil(),
                    expected: 2,
                    found: 3,
                },
            ),
        ];
        for (history, expected) in cases {
            assert_eq!(Monitor::replay(&history).unwrap_err(), expected);
        }
        assert_eq!(Monitor::replay(&[]).unwrap(), None);
    }

    #[test]
    fn events_serialise_as_type_and_data() {
        let json = serde_json::to_value(MonitorEvent::MonitorPaused {}).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "monitor_paused", "data": {}})
        );
        let event = register(config("api"));
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.type_name());
        let back: MonitorEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    fn status_change() -> MonitorEvent {
        MonitorEvent::StatusChanged(StatusChange {
            from: Status::Up,
            to: Status::Down,
            reason: "3 consecutive failed checks".to_owned(),
            job_id: Uuid::from_u128(7),
            checked_at: datetime!(2026-01-01 00:30 UTC),
            latency_ms: 5000,
            http_status: None,
            error: Some("timeout".to_owned()),
        })
    }

    #[test]
    fn a_status_change_moves_the_version_but_not_the_config() {
        let before = registered();
        let after = Monitor::apply(Some(before.clone()), &recorded(2, status_change())).unwrap();
        assert_eq!(after.version, 2);
        assert_eq!(after.updated_at, before.updated_at);
        assert_eq!(after.config, before.config);
    }

    #[test]
    fn a_status_change_carries_the_contract_fields() {
        let json = serde_json::to_value(status_change()).unwrap();
        assert_eq!(json["type"], "status_changed");
        let mut fields: Vec<&str> = json["data"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "checked_at",
                "error",
                "from",
                "http_status",
                "job_id",
                "latency_ms",
                "reason",
                "to"
            ]
        );
        assert_eq!(json["data"]["from"], "up");
        let back: MonitorEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, status_change());
    }
}
