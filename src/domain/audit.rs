//! A monitor as its log says it was: configuration and lifecycle (from
//! `Monitor::apply`) plus the status the `status_changed` events gave it.
//! The audit view and `upwatch replay` are built from this alone.

use time::OffsetDateTime;

use super::actor::Actor;
use super::monitor::{ApplyError, Monitor, MonitorEvent, RecordedEvent};
use super::status::Status;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditState {
    pub monitor: Monitor,
    pub status: Status,
    pub status_since: Option<OffsetDateTime>,
    /// Who registered the monitor.
    pub created_by: Actor,
    /// Who made the latest change to its configuration or lifecycle.
    pub changed_by: Actor,
}

impl AuditState {
    /// Applies one recorded event to the state before it (`None` before the first).
    pub fn apply(state: Option<Self>, recorded: &RecordedEvent) -> Result<Self, ApplyError> {
        let (monitor, status, status_since, created_by, changed_by) = match state {
            Some(s) => (
                Some(s.monitor),
                s.status,
                s.status_since,
                s.created_by,
                s.changed_by,
            ),
            None => (
                None,
                Status::Unknown,
                None,
                recorded.actor.clone(),
                recorded.actor.clone(),
            ),
        };
        let monitor = Monitor::apply(monitor, recorded)?;
        let (status, status_since, changed_by) = match &recorded.event {
            MonitorEvent::StatusChanged(change) => (change.to, Some(change.checked_at), changed_by),
            _ => (status, status_since, recorded.actor.clone()),
        };
        Ok(Self {
            monitor,
            status,
            status_since,
            created_by,
            changed_by,
        })
    }

    /// Rebuilds the state from a history, oldest first.
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
    use crate::domain::config::{MonitorChanges, MonitorConfig};
    use crate::domain::fields::{MonitorName, MonitorUrl};
    use crate::domain::monitor::{StatusChange, register};
    use time::macros::datetime;
    use uuid::Uuid;

    fn recorded(seq: i64, event: MonitorEvent) -> RecordedEvent {
        let actor = match &event {
            MonitorEvent::StatusChanged(_) => Actor::System,
            MonitorEvent::MonitorRegistered { .. } => Actor::Token("deploy".into()),
            _ => Actor::Token("oncall".into()),
        };
        RecordedEvent {
            monitor_id: Uuid::nil(),
            monitor_seq: seq,
            recorded_at: datetime!(2026-01-01 00:00 UTC) + time::Duration::minutes(seq),
            actor,
            event,
        }
    }

    fn change(from: Status, to: Status, minute: i64) -> MonitorEvent {
        MonitorEvent::StatusChanged(StatusChange {
            from,
            to,
            reason: "test".into(),
            job_id: Uuid::from_u128(minute as u128),
            checked_at: datetime!(2026-01-01 00:00 UTC) + time::Duration::minutes(minute),
            latency_ms: 1,
            http_status: None,
            error: None,
        })
    }

    #[test]
    fn status_follows_the_status_changed_events_and_config_the_rest() {
        let config = MonitorConfig::from_changes(MonitorChanges {
            name: Some(MonitorName::parse("api").unwrap()),
            url: Some(MonitorUrl::parse("http://a.example/").unwrap()),
            ..MonitorChanges::default()
        })
        .unwrap();
        let history = [
            recorded(1, register(config)),
            recorded(2, change(Status::Unknown, Status::Up, 2)),
            recorded(3, MonitorEvent::MonitorPaused {}),
            recorded(4, change(Status::Up, Status::Down, 4)),
        ];
        let states: Vec<AuditState> = (1..=history.len())
            .map(|n| AuditState::replay(&history[..n]).unwrap().unwrap())
            .collect();
        assert_eq!(states[0].status, Status::Unknown);
        assert_eq!(states[0].status_since, None);
        assert_eq!(states[1].status, Status::Up);
        assert_eq!(states[2].status, Status::Up);
        assert!(states[2].monitor.paused);
        assert_eq!(states[3].status, Status::Down);
        assert_eq!(
            states[3].status_since,
            Some(datetime!(2026-01-01 00:04 UTC))
        );
        assert_eq!(states[3].monitor.version, 4);
        assert_eq!(states[1].changed_by, Actor::Token("deploy".into()));
        assert_eq!(states[3].changed_by, Actor::Token("oncall".into()));
        assert_eq!(states[3].created_by, Actor::Token("deploy".into()));
        assert_eq!(AuditState::replay(&[]).unwrap(), None);
    }
}
