//! The folder's rules, pure: which results of a batch are folded and in
//! what order, the health kept in memory between batches, when it is saved,
//! and when it is dropped because another process changed the monitor. The
//! store runs the transaction around these decisions (`store::batches`).
//!
//! Health lives in memory between batches, so a batch reads no monitors row
//! it already knows and writes a row on a transition, on its first fold
//! after loading, and otherwise at most every `SAVE_EVERY`. Nothing is lost
//! by the delay: every folded result is stored, and a monitor loaded again
//! first folds the stored results newer than its saved state (`catch-up`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use uuid::Uuid;

use super::health::{HealthState, Thresholds, fold};
use super::monitor::{MonitorEvent, StatusChange, VersionDrift};
use super::result::ProbeResult;
use super::status::Status;
use super::version::{DriftChange, drift_change};

/// A monitor's health is written at most this often without a transition.
pub const SAVE_EVERY: Duration = Duration::from_secs(5);

/// What the folder needs of a monitor: its thresholds, whether it is
/// probed, and its health state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorHealth {
    pub id: Uuid,
    pub name: String,
    pub tags: Vec<String>,
    pub thresholds: Thresholds,
    pub active: bool,
    pub version: i64,
    pub state: HealthState,
    pub last_checked_at: Option<OffsetDateTime>,
    pub last_latency_ms: Option<i32>,
    pub reported: VersionState,
}

/// What the folder keeps of a monitor's reported version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionState {
    /// What the monitor's configuration expects, if anything.
    pub expected: Option<String>,
    pub drifting: bool,
    /// The version the newest result reported.
    pub observed: Option<String>,
}

/// A drift event to append, like a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDrift {
    pub monitor_id: Uuid,
    pub monitor_seq: i64,
    pub drift: VersionDrift,
    /// Detected (true) or resolved.
    pub detected: bool,
    pub name: String,
    pub tags: Vec<String>,
}

impl PendingDrift {
    pub fn event(&self) -> MonitorEvent {
        if self.detected {
            MonitorEvent::VersionDriftDetected(self.drift.clone())
        } else {
            MonitorEvent::VersionDriftResolved(self.drift.clone())
        }
    }
}

/// A status change to append: the monitor's next sequence number, and what
/// the live feed shows of the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTransition {
    pub monitor_id: Uuid,
    pub monitor_seq: i64,
    pub change: StatusChange,
    pub name: String,
    pub tags: Vec<String>,
    /// Failures in a row when the transition happened.
    pub consecutive_failures: u32,
    /// When the outage this transition ends began (a move out of `down`).
    pub outage_began: Option<OffsetDateTime>,
}

/// An outage beginning or ending: what the incident log line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incident {
    Began {
        reason: String,
        consecutive_failures: u32,
    },
    Ended {
        /// How long the monitor was down, when its start is known.
        outage: Option<time::Duration>,
    },
}

impl PendingTransition {
    /// The incident this transition begins or ends, if any.
    pub fn incident(&self) -> Option<Incident> {
        // A transition changes the status: `from` is never `to`.
        match (self.change.from, self.change.to) {
            (_, Status::Down) => Some(Incident::Began {
                reason: self.change.reason.clone(),
                consecutive_failures: self.consecutive_failures,
            }),
            (Status::Down, _) => Some(Incident::Ended {
                outage: self
                    .outage_began
                    .map(|began| self.change.checked_at - began),
            }),
            _ => None,
        }
    }
}

/// What folding a batch decided.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// Status changes, in the order they happened.
    pub transitions: Vec<PendingTransition>,
    /// Drift changes, in the order they happened.
    pub drifts: Vec<PendingDrift>,
    /// Monitors whose health is to be written in this transaction.
    pub to_save: Vec<Uuid>,
}

/// The same job twice in one batch is stored (and folded) once; results
/// come in (monitor, tick) order.
pub fn unique_results(batch: &[ProbeResult]) -> Vec<&ProbeResult> {
    let mut unique: Vec<&ProbeResult> = batch.iter().collect();
    unique.sort_by_key(|r| (r.monitor_id, r.scheduled_at, r.job_id));
    unique.dedup_by_key(|r| r.job_id);
    unique
}

/// The health of the monitors a folder has folded, as of its last commit.
/// Valid while every event up to `seen_seq` is accounted for: a monitor
/// another process changed since is dropped and loaded again.
#[derive(Debug, Default)]
pub struct HealthCache {
    seen_seq: Option<i64>,
    monitors: HashMap<Uuid, Cached>,
}

#[derive(Debug)]
struct Cached {
    health: MonitorHealth,
    /// When this folder last wrote the state to the monitors row; `None`
    /// until it first does.
    saved_at: Option<Instant>,
    /// Folded since it was last written.
    unsaved: bool,
}

impl Cached {
    fn save_due(&self, now: Instant) -> bool {
        self.unsaved
            && self
                .saved_at
                .is_none_or(|at| now.duration_since(at) >= SAVE_EVERY)
    }
}

impl HealthCache {
    /// The event log position the cache is up to date with; `None` before
    /// the first batch.
    pub fn seen_seq(&self) -> Option<i64> {
        self.seen_seq
    }

    /// Starts following the log at `seq` (nothing cached yet to drop).
    pub fn start_at(&mut self, seq: i64) {
        self.seen_seq = Some(seq);
    }

    /// Takes in the events after `seen_seq`, up to `read_up_to`: each as
    /// (its monitor, whether it is a status change). Every monitor they
    /// touch is dropped, to be loaded again when next folded. Returns the
    /// unsaved health to write first: that of monitors the API changed (an
    /// API change leaves health alone, so ours is still the newest). A
    /// monitor another folder recorded a transition of is dropped unsaved:
    /// ours is stale.
    pub fn forget_changed(
        &mut self,
        events: &[(Uuid, bool)],
        read_up_to: i64,
    ) -> Vec<MonitorHealth> {
        self.seen_seq = Some(read_up_to);
        let folded_elsewhere: HashSet<Uuid> = events
            .iter()
            .filter(|(_, status_changed)| *status_changed)
            .map(|(id, _)| *id)
            .collect();
        let mut unsaved = Vec::new();
        for (id, _) in events {
            if let Some(cached) = self.monitors.remove(id)
                && cached.unsaved
                && !folded_elsewhere.contains(id)
            {
                unsaved.push(cached.health);
            }
        }
        unsaved
    }

    /// Whether every one of `results` is certainly not stored yet: each is
    /// newer than the newest tick folded for its probed monitor, which this
    /// folder folds. Such a batch needs no conflict handling on insert.
    pub fn all_unseen(&self, results: &[&ProbeResult]) -> bool {
        results.iter().all(|result| {
            self.monitors.get(&result.monitor_id).is_some_and(|c| {
                c.health.active
                    && c.health
                        .state
                        .newest_folded
                        .is_some_and(|newest| result.scheduled_at > newest)
            })
        })
    }

    /// The monitors of `fresh` not in memory: to be loaded, with their
    /// stored results newer than their saved state.
    pub fn missing(&self, fresh: &[&ProbeResult]) -> Vec<Uuid> {
        let mut missing: Vec<Uuid> = fresh
            .iter()
            .map(|r| r.monitor_id)
            .filter(|id| !self.monitors.contains_key(id))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }

    /// Takes in monitors loaded from the store.
    pub fn load(&mut self, loaded: Vec<MonitorHealth>) {
        for health in loaded {
            let cached = Cached {
                health,
                saved_at: None,
                unsaved: false,
            };
            self.monitors.insert(cached.health.id, cached);
        }
    }

    /// Folds the batch's new results into the health in memory. Per
    /// monitor, `caught_up` (stored results newer than its saved state: what
    /// a folder that stopped had folded only in memory) comes first; a
    /// result of both is folded once. Monitors not probed (paused, deleted)
    /// fold nothing. Saved: every monitor with a transition, and those whose
    /// save is due at `now`.
    pub fn fold(
        &mut self,
        mut caught_up: Vec<ProbeResult>,
        fresh: &[&ProbeResult],
        now: Instant,
    ) -> Folded {
        let fresh_ids: HashSet<Uuid> = fresh.iter().map(|r| r.job_id).collect();
        caught_up.retain(|r| !fresh_ids.contains(&r.job_id));
        let mut transitions = Vec::new();
        let mut drifts = Vec::new();
        let mut folded_into: Vec<Uuid> = Vec::new();
        for result in caught_up.iter().chain(fresh.iter().copied()) {
            let Some(cached) = self.monitors.get_mut(&result.monitor_id) else {
                continue;
            };
            if !cached.health.active {
                continue;
            }
            let before = cached.health.state;
            let change = fold_one(&mut cached.health, result);
            if cached.health.state != before {
                cached.unsaved = true;
                folded_into.push(result.monitor_id);
            }
            let newest = cached.health.state.newest_folded == Some(result.scheduled_at)
                && before.newest_folded != Some(result.scheduled_at);
            if let Some(change) = change {
                let health = &cached.health;
                transitions.push(PendingTransition {
                    monitor_id: health.id,
                    monitor_seq: health.version,
                    change,
                    name: health.name.clone(),
                    tags: health.tags.clone(),
                    consecutive_failures: health.state.consecutive_failures,
                    outage_began: (before.status == Status::Down)
                        .then_some(before.since)
                        .flatten(),
                });
            }
            // Only the newest result speaks for the version; its drift event
            // comes after its transition.
            let observed_before = cached.health.reported.observed.clone();
            if newest && let Some((detected, drift)) = fold_version(&mut cached.health, result) {
                let health = &cached.health;
                drifts.push(PendingDrift {
                    monitor_id: health.id,
                    monitor_seq: health.version,
                    drift,
                    detected,
                    name: health.name.clone(),
                    tags: health.tags.clone(),
                });
            }
            if cached.health.reported.observed != observed_before {
                cached.unsaved = true;
                folded_into.push(result.monitor_id);
            }
        }
        folded_into.sort_unstable();
        folded_into.dedup();
        let transitioned: HashSet<Uuid> = transitions
            .iter()
            .map(|t| t.monitor_id)
            .chain(drifts.iter().map(|d| d.monitor_id))
            .collect();
        let to_save = folded_into
            .into_iter()
            .filter(|id| {
                self.monitors
                    .get(id)
                    .is_some_and(|c| c.save_due(now) || transitioned.contains(id))
            })
            .collect();
        Folded {
            transitions,
            drifts,
            to_save,
        }
    }

    /// The health of these monitors, for writing.
    pub fn health_of<'a>(&'a self, ids: &'a [Uuid]) -> impl Iterator<Item = &'a MonitorHealth> {
        ids.iter()
            .filter_map(|id| self.monitors.get(id).map(|c| &c.health))
    }

    /// The batch committed at `now`: what it saved is saved, and the events
    /// it appended (up to `newest_seq`) are its own, not changes to react to.
    pub fn committed(&mut self, saved: &[Uuid], newest_seq: Option<i64>, now: Instant) {
        for id in saved {
            if let Some(cached) = self.monitors.get_mut(id) {
                cached.saved_at = Some(now);
                cached.unsaved = false;
            }
        }
        if let Some(newest) = newest_seq {
            self.seen_seq = self.seen_seq.max(Some(newest));
        }
    }

    /// Drops everything: the next batch loads what it needs again. For when
    /// another folder may have folded the same monitors meanwhile (a lease
    /// changed hands), or a transaction that did not commit folded into it.
    pub fn forget_all(&mut self) {
        *self = Self::default();
    }
}

/// Folds one new result into its monitor's health; the status change to
/// record, if any, with the monitor's version moved on for it.
/// Keeps the version the newest result reported and says whether the
/// drift starts or ends with it (`domain::version::drift_change`).
fn fold_version(health: &mut MonitorHealth, result: &ProbeResult) -> Option<(bool, VersionDrift)> {
    let state = &mut health.reported;
    // A monitor that stopped expecting a version reports none any more: its
    // drift in hand ends with the next result, on the last version seen.
    let unexpected = state.expected.is_none() && state.drifting;
    let observed = match &result.observed_version {
        Some(observed) => observed.clone(),
        None if unexpected => state.observed.clone().unwrap_or_default(),
        None => return None,
    };
    let change = drift_change(state.expected.as_deref(), state.drifting, Some(&observed));
    state.observed = Some(observed);
    let (detected, expected, observed) = match change? {
        DriftChange::Detected { expected, observed } => (true, expected, observed),
        DriftChange::Resolved { expected, observed } => (false, expected, observed),
    };
    state.drifting = detected;
    health.version += 1;
    Some((
        detected,
        VersionDrift {
            expected,
            observed,
            job_id: result.job_id,
            checked_at: result.checked_at,
        },
    ))
}

fn fold_one(health: &mut MonitorHealth, result: &ProbeResult) -> Option<StatusChange> {
    let (state, transition) = fold(health.state, result.sample(), health.thresholds);
    if state == health.state {
        return None;
    }
    health.state = state;
    health.last_checked_at = Some(result.checked_at);
    health.last_latency_ms = Some(result.latency_ms);
    let transition = transition?;
    health.version += 1;
    Some(StatusChange {
        from: transition.from,
        to: transition.to,
        reason: transition.reason,
        job_id: result.job_id,
        checked_at: result.checked_at,
        latency_ms: result.latency_ms,
        http_status: result.http_status,
        error: result.error.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Threshold;
    use crate::domain::status::Status;
    use time::macros::datetime;

    fn monitor(failure: i64) -> MonitorHealth {
        MonitorHealth {
            id: Uuid::from_u128(1),
            name: "api".into(),
            tags: vec![],
            thresholds: Thresholds {
                failure: Threshold::parse(failure).unwrap(),
                recovery: Threshold::parse(1).unwrap(),
            },
            active: true,
            version: 1,
            state: HealthState::default(),
            last_checked_at: None,
            last_latency_ms: None,
            reported: VersionState::default(),
        }
    }

    #[test]
    fn drift_is_one_event_each_way_after_the_results_transition() {
        let mut expecting = monitor(1);
        expecting.reported.expected = Some("2.0.0".into());
        let mut cache = cache_with(expecting);
        let versioned = |n: i64, up: bool, version: &str| ProbeResult {
            observed_version: Some(version.into()),
            ..result(n, up)
        };
        let now = Instant::now();
        // Minute 0: up (a transition, seq 2), reporting an old version (drift, seq 3).
        let first = cache.fold(vec![], &[&versioned(0, true, "1.9.0")], now);
        assert_eq!(first.transitions[0].monitor_seq, 2);
        assert_eq!(first.drifts.len(), 1);
        assert_eq!(
            (first.drifts[0].monitor_seq, first.drifts[0].detected),
            (3, true)
        );
        assert_eq!(first.drifts[0].drift.observed, "1.9.0");
        // Still drifting: nothing more, however many results.
        let more = cache.fold(
            vec![],
            &[&versioned(1, true, "1.9.0"), &versioned(2, true, "1.9.5")],
            now,
        );
        assert!(more.drifts.is_empty() && more.transitions.is_empty());
        // An older result arriving late does not speak for the version.
        let early = result(0, true).scheduled_at - time::Duration::minutes(5);
        let late_result = ProbeResult {
            job_id: Uuid::from_u128(999),
            scheduled_at: early,
            started_at: early,
            checked_at: early,
            ..versioned(0, true, "2.0.0")
        };
        let late = cache.fold(vec![], &[&late_result], now);
        assert!(late.drifts.is_empty());
        let back = cache.fold(vec![], &[&versioned(3, true, "2.0.0")], now);
        assert_eq!(back.drifts.len(), 1);
        assert!(!back.drifts[0].detected);
        assert_eq!(back.drifts[0].monitor_seq, 4);
        assert!(
            back.to_save.contains(&Uuid::from_u128(1)),
            "a drift change is saved at once"
        );
    }

    #[test]
    fn a_monitor_that_stops_expecting_a_version_ends_its_drift() {
        let mut drifting = monitor(1);
        drifting.reported = VersionState {
            expected: None,
            drifting: true,
            observed: Some("1.9.0".into()),
        };
        let mut cache = cache_with(drifting);
        let folded = cache.fold(vec![], &[&result(0, true)], Instant::now());
        assert_eq!(folded.drifts.len(), 1);
        assert!(!folded.drifts[0].detected);
        assert_eq!(folded.drifts[0].drift.observed, "1.9.0");
        let after = cache.fold(vec![], &[&result(1, true)], Instant::now());
        assert!(after.drifts.is_empty(), "once");
    }

    #[test]
    fn a_result_without_a_version_neither_starts_a_drift_nor_invents_one() {
        let mut expecting = monitor(1);
        expecting.reported.expected = Some("2.0.0".into());
        let mut cache = cache_with(expecting);
        let folded = cache.fold(vec![], &[&result(0, false)], Instant::now());
        assert!(folded.drifts.is_empty(), "a failed probe read no version");

        let mut cache = cache_with(monitor(1));
        cache.fold(vec![], &[&result(0, true)], Instant::now());
        let ids = [Uuid::from_u128(1), Uuid::from_u128(2)];
        let health: Vec<&MonitorHealth> = cache.health_of(&ids).collect();
        assert_eq!(health.len(), 1, "only the monitor in memory");
        assert_eq!(health[0].reported.observed, None);
    }

    /// The result of minute `n` of monitor 1.
    fn result(n: i64, up: bool) -> ProbeResult {
        let tick = datetime!(2026-01-01 00:00 UTC) + time::Duration::minutes(n);
        ProbeResult {
            job_id: Uuid::from_u128(1000 + n as u128),
            monitor_id: Uuid::from_u128(1),
            scheduled_at: tick,
            started_at: tick,
            checked_at: tick + time::Duration::milliseconds(10),
            up,
            http_status: None,
            latency_ms: 10,
            error: None,
            worker: "w".into(),
            certificate_expires_at: None,
            observed_version: None,
        }
    }

    fn cache_with(health: MonitorHealth) -> HealthCache {
        let mut cache = HealthCache::default();
        cache.start_at(0);
        cache.load(vec![health]);
        cache
    }

    #[test]
    fn a_batch_is_deduplicated_and_ordered_by_monitor_and_tick() {
        let batch = [
            result(2, true),
            result(0, true),
            result(2, true),
            result(1, false),
        ];
        let ticks: Vec<i64> = unique_results(&batch)
            .iter()
            .map(|r| (r.scheduled_at - result(0, true).scheduled_at).whole_minutes())
            .collect();
        assert_eq!(ticks, [0, 1, 2]);
    }

    #[test]
    fn caught_up_results_fold_first_and_a_result_of_both_folds_once() {
        let mut cache = cache_with(monitor(3));
        let (one, two, three) = (result(1, false), result(2, false), result(3, false));
        // Minute 2 is both stored and in the batch; three failures in all.
        let folded = cache.fold(vec![one, two.clone()], &[&two, &three], Instant::now());
        assert_eq!(folded.transitions.len(), 1, "{folded:?}");
        let down = &folded.transitions[0];
        assert_eq!(
            (down.change.from, down.change.to),
            (Status::Unknown, Status::Down)
        );
        assert_eq!(down.change.job_id, three.job_id);
        assert_eq!(down.monitor_seq, 2, "the version moves on for the event");
    }

    #[test]
    fn an_outage_begins_with_its_failures_and_ends_with_its_length() {
        let mut cache = cache_with(monitor(2));
        let now = Instant::now();
        let up = cache.fold(vec![], &[&result(0, true)], now);
        assert_eq!(
            up.transitions[0].incident(),
            None,
            "a first up ends no outage"
        );
        let down = cache.fold(vec![], &[&result(1, false), &result(2, false)], now);
        assert_eq!(
            down.transitions[0].incident(),
            Some(Incident::Began {
                reason: down.transitions[0].change.reason.clone(),
                consecutive_failures: 2
            })
        );
        let back = cache.fold(vec![], &[&result(7, true)], now);
        // Down since minute 2's check, up at minute 7's.
        assert_eq!(
            back.transitions[0].incident(),
            Some(Incident::Ended {
                outage: Some(time::Duration::minutes(5))
            })
        );
    }

    #[test]
    fn saves_happen_on_transitions_first_folds_and_then_every_five_seconds() {
        let start = Instant::now();
        let mut cache = cache_with(monitor(3));
        // (minute, up, seconds after start, saved?)
        let cases = [
            (0, true, 0, true),  // a transition (unknown → up)
            (1, true, 1, false), // folded, saved 1 s ago
            (2, true, 4, false), // 4 s
            (3, true, 5, true),  // 5 s: due
            (4, true, 6, false),
            (5, false, 7, false), // a failure below the threshold: not a transition
        ];
        for (minute, up, seconds, saved) in cases {
            let now = start + Duration::from_secs(seconds);
            let folded = cache.fold(vec![], &[&result(minute, up)], now);
            assert_eq!(!folded.to_save.is_empty(), saved, "minute {minute}");
            cache.committed(&folded.to_save, None, now);
        }
        // A result no newer than the newest folded changes nothing: not saved.
        let later = start + Duration::from_secs(60);
        assert!(
            cache
                .fold(vec![], &[&result(5, true)], later)
                .to_save
                .is_empty()
        );
    }

    #[test]
    fn a_paused_monitor_folds_nothing() {
        let mut cache = cache_with(MonitorHealth {
            active: false,
            ..monitor(1)
        });
        let folded = cache.fold(vec![], &[&result(0, false)], Instant::now());
        assert_eq!(folded, Folded::default());
        assert!(
            !cache.all_unseen(&[&result(1, true)]),
            "inactive: not known"
        );
    }

    #[test]
    fn only_results_newer_than_all_folded_count_as_unseen() {
        let mut cache = cache_with(monitor(3));
        assert!(!cache.all_unseen(&[&result(0, true)]), "nothing folded yet");
        let folded = cache.fold(vec![], &[&result(5, true)], Instant::now());
        cache.committed(&folded.to_save, None, Instant::now());
        assert!(cache.all_unseen(&[&result(6, true)]));
        assert!(!cache.all_unseen(&[&result(6, true), &result(5, true)]));
        let stranger = ProbeResult {
            monitor_id: Uuid::from_u128(2),
            ..result(7, true)
        };
        assert!(!cache.all_unseen(&[&stranger]), "a monitor not in memory");
        assert_eq!(
            cache.missing(&[&stranger, &result(8, true)]),
            [Uuid::from_u128(2)]
        );
    }

    #[test]
    fn changes_elsewhere_drop_the_monitor_and_say_what_to_save_first() {
        let id = Uuid::from_u128(1);
        // (events since, unsaved health written first?)
        let cases = [
            (vec![(id, false)], true),                  // the API changed it
            (vec![(id, true)], false),                  // another folder's transition
            (vec![(id, false), (id, true)], false),     // both: ours is stale
            (vec![(Uuid::from_u128(9), false)], false), // another monitor
        ];
        for (events, saved_first) in cases {
            let mut cache = cache_with(monitor(3));
            let now = Instant::now();
            // Folded and saved once, then folded again: unsaved in memory.
            let first = cache.fold(vec![], &[&result(0, true)], now);
            cache.committed(&first.to_save, None, now);
            let second = cache.fold(vec![], &[&result(1, true)], now);
            assert!(second.to_save.is_empty());

            let to_save = cache.forget_changed(&events, 7);
            assert_eq!(!to_save.is_empty(), saved_first, "{events:?}");
            assert_eq!(cache.seen_seq(), Some(7));
            let dropped = events.iter().any(|(e, _)| *e == id);
            assert_eq!(
                cache.missing(&[&result(2, true)]).is_empty(),
                !dropped,
                "{events:?}"
            );
        }
    }

    #[test]
    fn a_commit_accounts_for_its_own_events() {
        let mut cache = cache_with(monitor(1));
        cache.committed(&[], Some(42), Instant::now());
        assert_eq!(cache.seen_seq(), Some(42));
        cache.committed(&[], Some(10), Instant::now());
        assert_eq!(cache.seen_seq(), Some(42), "never goes back");
        cache.forget_all();
        assert_eq!(cache.seen_seq(), None);
    }

    #[test]
    fn a_fresh_cache_follows_the_log_from_where_it_starts() {
        let mut cache = HealthCache::default();
        assert_eq!(cache.seen_seq(), None, "nothing read yet");
        cache.start_at(17);
        assert_eq!(cache.seen_seq(), Some(17));
    }
}
