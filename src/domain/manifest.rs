//! Monitors as code: what a file asks for (a manifest), and the plan that
//! turns what is stored into it — matched by name, each entry created,
//! updated, left alone or (when pruning) deleted.
//!
//! A monitor in a file is its whole configuration: a field left out takes
//! its default. Its `paused` is managed only when given. A channel's
//! write-only values (`secret`, `routing_key`) are kept when left out, since
//! an export cannot show them.

use super::channel::{ChannelChanges, ChannelConfig, ChannelEvent};
use super::config::{FieldError, MonitorConfig};
use super::monitor::{Monitor, MonitorEvent};

/// One monitor as a file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredMonitor {
    pub config: MonitorConfig,
    /// `None`: whatever it is now (a new monitor starts running).
    pub paused: Option<bool>,
}

/// One channel as a file describes it: its fields, applied over the
/// stored channel of the same name or making a new one.
#[derive(Debug, Clone, Default)]
pub struct DesiredChannel {
    pub changes: ChannelChanges,
}

#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub monitors: Vec<DesiredMonitor>,
    pub channels: Vec<DesiredChannel>,
}

/// A stored channel, as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentChannel {
    pub id: uuid::Uuid,
    pub version: i64,
    pub config: ChannelConfig,
}

/// What happens to one monitor or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Create,
    /// The fields that change (`paused` among them).
    Update(Vec<String>),
    Delete,
    Unchanged,
}

impl Action {
    /// The plan's symbol: `+`, `~`, `-`, `=`.
    pub fn symbol(&self) -> &'static str {
        match self {
            Self::Create => "+",
            Self::Update(_) => "~",
            Self::Delete => "-",
            Self::Unchanged => "=",
        }
    }
}

/// What a plan entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Monitor,
    Channel,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monitor => "monitor",
            Self::Channel => "channel",
        }
    }

    fn list(self) -> &'static str {
        match self {
            Self::Monitor => "monitors",
            Self::Channel => "channels",
        }
    }
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    pub kind: Kind,
    pub name: String,
    pub action: Action,
}

/// What the store must do to carry the plan out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    RegisterMonitor {
        config: MonitorConfig,
        paused: bool,
    },
    /// Events to append to `current`, in order.
    ChangeMonitor {
        current: Monitor,
        events: Vec<MonitorEvent>,
    },
    DeleteMonitor {
        current: Monitor,
    },
    CreateChannel {
        config: ChannelConfig,
    },
    UpdateChannel {
        current: CurrentChannel,
        config: ChannelConfig,
        event: ChannelEvent,
    },
    DeleteChannel {
        current: CurrentChannel,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub entries: Vec<PlanEntry>,
    pub steps: Vec<Step>,
}

impl Plan {
    /// How many entries take each action: create, update, delete, unchanged.
    pub fn counts(&self) -> [usize; 4] {
        let mut counts = [0; 4];
        for entry in &self.entries {
            let slot = match entry.action {
                Action::Create => 0,
                Action::Update(_) => 1,
                Action::Delete => 2,
                Action::Unchanged => 3,
            };
            counts[slot] += 1;
        }
        counts
    }
}

/// Why a manifest cannot be planned; `index` is the entry's place in its list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{}[{index}].{}: {}", kind.list(), error.field, error.message)]
    Invalid {
        kind: Kind,
        index: usize,
        error: FieldError,
    },
    #[error("{}[{index}].name: `{name}` is also entry {first}", kind.list())]
    DuplicateName {
        kind: Kind,
        index: usize,
        first: usize,
        name: String,
    },
}

impl PlanError {
    /// The offending field, as `monitors[3].url`.
    pub fn field(&self) -> String {
        match self {
            Self::Invalid { kind, index, error } => {
                format!("{}[{index}].{}", kind.list(), error.field)
            }
            Self::DuplicateName { kind, index, .. } => format!("{}[{index}].name", kind.list()),
        }
    }
}

fn key(name: &str) -> String {
    name.to_lowercase()
}

/// Refuses two entries of one list with the same name (case-insensitive).
fn refuse_duplicates<'a>(
    kind: Kind,
    names: impl Iterator<Item = &'a str>,
) -> Result<(), PlanError> {
    let mut seen = std::collections::HashMap::new();
    for (index, name) in names.enumerate() {
        if let Some(first) = seen.insert(key(name), index) {
            return Err(PlanError::DuplicateName {
                kind,
                index,
                first,
                name: name.to_owned(),
            });
        }
    }
    Ok(())
}

/// The plan from `current` (live monitors and channels) to `manifest`;
/// with `prune`, what the manifest does not name is deleted.
pub fn plan(
    monitors: &[Monitor],
    channels: &[CurrentChannel],
    manifest: &Manifest,
    prune: bool,
) -> Result<Plan, PlanError> {
    let mut plan = Plan {
        entries: Vec::new(),
        steps: Vec::new(),
    };
    plan_monitors(&mut plan, monitors, &manifest.monitors, prune)?;
    plan_channels(&mut plan, channels, &manifest.channels, prune)?;
    // Deletions first, so a name a deleted entry held can be taken again.
    plan.steps.sort_by_key(|step| {
        !matches!(
            step,
            Step::DeleteMonitor { .. } | Step::DeleteChannel { .. }
        )
    });
    Ok(plan)
}

fn plan_monitors(
    plan: &mut Plan,
    current: &[Monitor],
    desired: &[DesiredMonitor],
    prune: bool,
) -> Result<(), PlanError> {
    refuse_duplicates(
        Kind::Monitor,
        desired.iter().map(|d| d.config.name.as_ref()),
    )?;
    let by_name: std::collections::HashMap<String, &Monitor> = current
        .iter()
        .map(|m| (key(m.config.name.as_ref()), m))
        .collect();
    for want in desired {
        let name = want.config.name.as_ref().to_owned();
        let Some(&existing) = by_name.get(&key(&name)) else {
            plan.entries.push(PlanEntry {
                kind: Kind::Monitor,
                name,
                action: Action::Create,
            });
            plan.steps.push(Step::RegisterMonitor {
                config: want.config.clone(),
                paused: want.paused.unwrap_or(false),
            });
            continue;
        };
        let mut changed: Vec<String> = existing
            .config
            .changed_fields(&want.config)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut events = Vec::new();
        if !changed.is_empty() {
            events.push(MonitorEvent::MonitorUpdated {
                config: want.config.clone(),
                changed: changed.clone(),
            });
        }
        match want.paused {
            Some(true) if !existing.paused => events.push(MonitorEvent::MonitorPaused {}),
            Some(false) if existing.paused => events.push(MonitorEvent::MonitorResumed {}),
            _ => {}
        }
        if want.paused.is_some_and(|paused| paused != existing.paused) {
            changed.push("paused".to_owned());
        }
        if events.is_empty() {
            plan.entries.push(PlanEntry {
                kind: Kind::Monitor,
                name,
                action: Action::Unchanged,
            });
        } else {
            plan.entries.push(PlanEntry {
                kind: Kind::Monitor,
                name,
                action: Action::Update(changed),
            });
            plan.steps.push(Step::ChangeMonitor {
                current: existing.clone(),
                events,
            });
        }
    }
    if prune {
        let wanted = desired.iter().map(|d| d.config.name.as_ref());
        let stored = current.iter().map(|m| (m.config.name.as_ref(), m));
        delete_unwanted(plan, Kind::Monitor, wanted, stored, |m| {
            Step::DeleteMonitor { current: m.clone() }
        });
    }
    Ok(())
}

fn plan_channels(
    plan: &mut Plan,
    current: &[CurrentChannel],
    desired: &[DesiredChannel],
    prune: bool,
) -> Result<(), PlanError> {
    let invalid = |index, error| PlanError::Invalid {
        kind: Kind::Channel,
        index,
        error,
    };
    let names = desired
        .iter()
        .enumerate()
        .map(|(index, d)| {
            d.changes
                .name
                .as_ref()
                .map(|n| n.as_ref().to_owned())
                .ok_or_else(|| invalid(index, FieldError::new("name", "is required")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    refuse_duplicates(Kind::Channel, names.iter().map(String::as_str))?;
    let by_name: std::collections::HashMap<String, &CurrentChannel> = current
        .iter()
        .map(|c| (key(c.config.name.as_ref()), c))
        .collect();
    for (index, (want, name)) in desired.iter().zip(names.iter()).enumerate() {
        let Some(&existing) = by_name.get(&key(name)) else {
            let config =
                ChannelConfig::from_changes(want.changes.clone()).map_err(|e| invalid(index, e))?;
            plan.entries.push(PlanEntry {
                kind: Kind::Channel,
                name: name.clone(),
                action: Action::Create,
            });
            plan.steps.push(Step::CreateChannel { config });
            continue;
        };
        let config = existing
            .config
            .with_changes(want.changes.clone())
            .map_err(|e| invalid(index, e))?;
        match ChannelEvent::updated(&existing.config, &config) {
            None => plan.entries.push(PlanEntry {
                kind: Kind::Channel,
                name: name.clone(),
                action: Action::Unchanged,
            }),
            Some(event) => {
                let changed = existing
                    .config
                    .changed_fields(&config)
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
                plan.entries.push(PlanEntry {
                    kind: Kind::Channel,
                    name: name.clone(),
                    action: Action::Update(changed),
                });
                plan.steps.push(Step::UpdateChannel {
                    current: existing.clone(),
                    config,
                    event,
                });
            }
        }
    }
    if prune {
        let wanted = names.iter().map(String::as_str);
        let stored = current.iter().map(|c| (c.config.name.as_ref(), c));
        delete_unwanted(plan, Kind::Channel, wanted, stored, |c| {
            Step::DeleteChannel { current: c.clone() }
        });
    }
    Ok(())
}

/// Plans the deletion of every stored entry whose name is not wanted.
fn delete_unwanted<'a, T: 'a>(
    plan: &mut Plan,
    kind: Kind,
    wanted: impl Iterator<Item = &'a str>,
    stored: impl Iterator<Item = (&'a str, &'a T)>,
    delete: impl Fn(&T) -> Step,
) {
    let wanted: std::collections::HashSet<String> = wanted.map(key).collect();
    for (name, item) in stored {
        if !wanted.contains(&key(name)) {
            plan.entries.push(PlanEntry {
                kind,
                name: name.to_owned(),
                action: Action::Delete,
            });
            plan.steps.push(delete(item));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::actor::Actor;
    use crate::domain::channel::{ChannelKind, ChannelUrl};
    use crate::domain::config::MonitorChanges;
    use crate::domain::fields::{IntervalSeconds, MonitorName, MonitorUrl};
    use crate::domain::monitor::RecordedEvent;
    use time::macros::datetime;
    use uuid::Uuid;

    fn config(name: &str, interval: u32) -> MonitorConfig {
        MonitorConfig::from_changes(MonitorChanges {
            name: Some(MonitorName::parse(name).unwrap()),
            url: Some(MonitorUrl::parse("https://a.example/").unwrap()),
            interval_seconds: Some(IntervalSeconds::parse(i64::from(interval)).unwrap()),
            ..MonitorChanges::default()
        })
        .unwrap()
    }

    fn stored(name: &str, interval: u32, paused: bool) -> Monitor {
        let recorded = RecordedEvent {
            monitor_id: Uuid::new_v4(),
            monitor_seq: 1,
            recorded_at: datetime!(2026-01-01 00:00 UTC),
            actor: Actor::System,
            event: crate::domain::monitor::register(config(name, interval)),
        };
        let mut monitor = Monitor::apply(None, &recorded).unwrap();
        monitor.paused = paused;
        monitor
    }

    fn want(name: &str, interval: u32, paused: Option<bool>) -> DesiredMonitor {
        DesiredMonitor {
            config: config(name, interval),
            paused,
        }
    }

    fn actions(plan: &Plan) -> Vec<(String, Action)> {
        plan.entries
            .iter()
            .map(|e| (e.name.clone(), e.action.clone()))
            .collect()
    }

    #[test]
    fn entries_name_their_kind_as_the_plan_shows_it() {
        assert_eq!(Kind::Monitor.as_str(), "monitor");
        assert_eq!(Kind::Channel.as_str(), "channel");
    }

    #[test]
    fn names_match_case_insensitively_and_only_differences_are_updates() {
        let current = [stored("API", 60, false), stored("db", 60, true)];
        let manifest = Manifest {
            monitors: vec![
                want("api", 30, None),
                want("db", 60, None),
                want("new", 60, Some(true)),
            ],
            channels: vec![],
        };
        let plan = plan(&current, &[], &manifest, false).unwrap();
        assert_eq!(
            actions(&plan),
            [
                (
                    "api".into(),
                    Action::Update(vec!["name".into(), "interval_seconds".into()])
                ),
                ("db".into(), Action::Unchanged),
                ("new".into(), Action::Create),
            ]
        );
        assert_eq!(plan.counts(), [1, 1, 0, 1]);
        assert!(matches!(
            &plan.steps[1],
            Step::RegisterMonitor { paused: true, .. }
        ));
    }

    #[test]
    fn paused_is_managed_only_when_given() {
        let current = [stored("a", 60, true), stored("b", 60, false)];
        let manifest = Manifest {
            monitors: vec![want("a", 60, Some(false)), want("b", 60, Some(true))],
            channels: vec![],
        };
        let plan = plan(&current, &[], &manifest, false).unwrap();
        let Step::ChangeMonitor { events, .. } = &plan.steps[0] else {
            panic!("a change")
        };
        assert_eq!(events, &[MonitorEvent::MonitorResumed {}]);
        let Step::ChangeMonitor { events, .. } = &plan.steps[1] else {
            panic!("a change")
        };
        assert_eq!(events, &[MonitorEvent::MonitorPaused {}]);
        assert_eq!(
            plan.entries[0].action,
            Action::Update(vec!["paused".into()])
        );
    }

    #[test]
    fn a_pause_state_already_held_is_unchanged() {
        let current = [stored("a", 60, true), stored("b", 60, false)];
        let manifest = Manifest {
            monitors: vec![want("a", 60, Some(true)), want("b", 60, Some(false))],
            channels: vec![],
        };
        let plan = plan(&current, &[], &manifest, false).unwrap();
        assert_eq!(plan.counts(), [0, 0, 0, 2]);
        assert!(plan.steps.is_empty());
    }

    fn channel(name: &str, url: &str) -> DesiredChannel {
        DesiredChannel {
            changes: ChannelChanges {
                name: Some(MonitorName::parse(name).unwrap()),
                kind: Some(ChannelKind::Webhook),
                url: Some(ChannelUrl::parse(url).unwrap()),
                ..ChannelChanges::default()
            },
        }
    }

    fn stored_channel(name: &str, url: &str) -> CurrentChannel {
        CurrentChannel {
            id: Uuid::new_v4(),
            version: 1,
            config: ChannelConfig::from_changes(channel(name, url).changes).unwrap(),
        }
    }

    #[test]
    fn channels_are_created_updated_kept_and_pruned_by_name() {
        let current = [
            stored_channel("ops", "http://127.0.0.1:9/ops"),
            stored_channel("Moved", "http://127.0.0.1:9/old"),
            stored_channel("gone", "http://127.0.0.1:9/gone"),
        ];
        let manifest = Manifest {
            monitors: vec![],
            channels: vec![
                channel("ops", "http://127.0.0.1:9/ops"),
                channel("moved", "http://127.0.0.1:9/new"),
                channel("fresh", "http://127.0.0.1:9/fresh"),
            ],
        };
        let plan = plan(&[], &current, &manifest, true).unwrap();
        assert_eq!(
            actions(&plan),
            [
                ("ops".into(), Action::Unchanged),
                (
                    "moved".into(),
                    Action::Update(vec!["name".into(), "url".into()])
                ),
                ("fresh".into(), Action::Create),
                ("gone".into(), Action::Delete),
            ]
        );
        assert!(plan.entries.iter().all(|e| e.kind == Kind::Channel));
        assert_eq!(plan.steps.len(), 3);
        assert!(plan.steps.iter().any(|step| matches!(step,
            Step::UpdateChannel { current: c, config, .. }
                if c.id == current[1].id
                    && config.destination.url().unwrap().as_ref() == "http://127.0.0.1:9/new")));
        assert!(plan.steps.iter().any(
            |step| matches!(step, Step::CreateChannel { config } if config.name.as_ref() == "fresh")
        ));
        assert!(plan.steps.iter().any(
            |step| matches!(step, Step::DeleteChannel { current: c } if c.id == current[2].id)
        ));
    }

    #[test]
    fn a_channel_that_does_not_fit_its_kind_is_refused_where_it_is() {
        let mut pager = channel("pager", "http://127.0.0.1:9/p");
        pager.changes.kind = Some(ChannelKind::Pagerduty);
        let manifest = Manifest {
            monitors: vec![],
            channels: vec![channel("ops", "http://127.0.0.1:9/ops"), pager],
        };
        let error = plan(&[], &[], &manifest, false).unwrap_err();
        assert_eq!(error.field(), "channels[1].url");
        let twice = Manifest {
            monitors: vec![],
            channels: vec![channel("ops", "http://a/"), channel("OPS", "http://b/")],
        };
        let error = plan(&[], &[], &twice, false).unwrap_err();
        assert_eq!(error.field(), "channels[1].name");
    }

    #[test]
    fn pruning_deletes_first_what_the_file_leaves_out() {
        let current = [stored("keep", 60, false), stored("gone", 60, false)];
        let manifest = Manifest {
            monitors: vec![want("keep", 60, None), want("fresh", 60, None)],
            channels: vec![],
        };
        let kept = plan(&current, &[], &manifest, false).unwrap();
        assert_eq!(kept.counts(), [1, 0, 0, 1]);
        let pruned = plan(&current, &[], &manifest, true).unwrap();
        assert_eq!(pruned.counts(), [1, 0, 1, 1]);
        assert!(
            matches!(&pruned.steps[0], Step::DeleteMonitor { current } if current.config.name.as_ref() == "gone")
        );
    }

    #[test]
    fn a_name_twice_is_refused_with_both_places() {
        let manifest = Manifest {
            monitors: vec![
                want("a", 60, None),
                want("b", 60, None),
                want("A", 60, None),
            ],
            channels: vec![],
        };
        let error = plan(&[], &[], &manifest, false).unwrap_err();
        assert_eq!(error.field(), "monitors[2].name");
        assert!(matches!(error, PlanError::DuplicateName { first: 0, .. }));
    }

    #[test]
    fn symbols_are_the_plan_notation() {
        let symbols: Vec<&str> = [
            Action::Create,
            Action::Update(vec![]),
            Action::Delete,
            Action::Unchanged,
        ]
        .iter()
        .map(Action::symbol)
        .collect();
        assert_eq!(symbols, ["+", "~", "-", "="]);
    }
}
