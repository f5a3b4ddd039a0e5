//! The folder's write: one transaction per batch of probe results. It stores
//! the results (a duplicate is a no-op), folds only the new ones into each
//! monitor's health, appends a `status_changed` event per transition, and
//! saves health — all or nothing.
//!
//! Health lives in memory between batches (`HealthCache`), so a batch reads
//! no monitors row it already knows and writes a row on a transition, on its
//! first fold after loading, and otherwise at most every `SAVE_EVERY`: per
//! result, that `SELECT` and `UPDATE` were about 40 % of PostgreSQL's work.
//! Nothing is lost by the delay: every folded result is stored, and a folder
//! that loads a monitor first folds the stored results newer than the saved
//! state (those a folder that stopped had folded only in memory).
//!
//! A batch whose results are all newer than their monitors' newest folded
//! tick is stored with a plain `INSERT` (no conflict handling, a third
//! cheaper); if one was stored after all, by another folder, the batch is
//! folded again from scratch.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use uuid::Uuid;

use super::monitors::{self, FoldTarget};
use super::{DbContext, Pool, StoreError, event_log, results};
use crate::domain::health::fold;
use crate::domain::{MonitorEvent, ProbeResult, StatusChange};

/// A monitor's health is written at most this often without a transition.
pub const SAVE_EVERY: Duration = Duration::from_secs(5);

/// A transition the batch recorded, with what the live feed shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedTransition {
    /// The event's global sequence number.
    pub seq: i64,
    pub monitor_id: Uuid,
    pub name: String,
    pub tags: Vec<String>,
    pub change: StatusChange,
    pub recorded_at: OffsetDateTime,
}

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldOutcome {
    /// Results stored for the first time (the rest were duplicates).
    pub stored: usize,
    pub transitions: Vec<RecordedTransition>,
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
    target: FoldTarget,
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
    /// Whether `result` is certainly not stored yet: it is newer than the
    /// newest tick folded for its monitor, which this folder folds.
    fn knows_unseen(&self, result: &ProbeResult) -> bool {
        self.monitors.get(&result.monitor_id).is_some_and(|c| {
            c.target.active
                && c.target
                    .state
                    .newest_folded
                    .is_some_and(|newest| result.scheduled_at > newest)
        })
    }

    /// Drops everything: the next batch loads what it needs again. For when
    /// another folder may have folded the same monitors meanwhile (a lease
    /// changed hands).
    pub fn forget_all(&mut self) {
        *self = Self::default();
    }
}

pub async fn fold_batch(
    pool: &Pool,
    batch: &[ProbeResult],
    cache: &mut HealthCache,
) -> Result<FoldOutcome, StoreError> {
    if batch.is_empty() {
        return Ok(FoldOutcome::default());
    }
    let mut folded = fold_into(pool, batch, cache).await;
    if let Err(error) = &folded {
        // It may hold what a transaction that did not commit folded.
        cache.forget_all();
        if error.is_unique_violation() {
            // A result it took for unseen was stored already (another folder
            // had its monitor meanwhile); with nothing cached, every result
            // is checked against the stored ones.
            folded = fold_into(pool, batch, cache).await;
            if folded.is_err() {
                cache.forget_all();
            }
        }
    }
    folded
}

async fn fold_into(
    pool: &Pool,
    batch: &[ProbeResult],
    cache: &mut HealthCache,
) -> Result<FoldOutcome, StoreError> {
    let now = Instant::now();
    let mut client = super::connection(pool, "folding probe results").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    // The append lock is held: nobody changes a monitor until the commit.
    forget_changed(&tx, cache).await?;

    let mut unique: Vec<&ProbeResult> = batch.iter().collect();
    unique.sort_by_key(|r| (r.monitor_id, r.scheduled_at, r.job_id));
    // The same job twice in one batch is stored (and folded) once.
    unique.dedup_by_key(|r| r.job_id);
    let fresh: Vec<&ProbeResult> = if unique.iter().all(|r| cache.knows_unseen(r)) {
        results::insert_unseen(&tx, &unique).await?;
        unique
    } else {
        let new_ids: HashSet<Uuid> = results::insert_batch(&tx, batch)
            .await?
            .into_iter()
            .collect();
        unique
            .into_iter()
            .filter(|r| new_ids.contains(&r.job_id))
            .collect()
    };

    let stored = fresh.len();
    let mut missing: Vec<Uuid> = fresh
        .iter()
        .map(|r| r.monitor_id)
        .filter(|id| !cache.monitors.contains_key(id))
        .collect();
    missing.dedup();
    let mut caught_up = Vec::new();
    if !missing.is_empty() {
        caught_up = results::newer_than_saved_health(&tx, &missing).await?;
        let fresh_ids: HashSet<Uuid> = fresh.iter().map(|r| r.job_id).collect();
        caught_up.retain(|r| !fresh_ids.contains(&r.job_id));
        for target in monitors::load_fold_targets(&tx, &missing).await? {
            let cached = Cached {
                target,
                saved_at: None,
                unsaved: false,
            };
            cache.monitors.insert(cached.target.id, cached);
        }
    }

    let mut changes = Vec::new();
    let mut folded_into: Vec<Uuid> = Vec::new();
    // Per monitor, what was folded before the state was loaded comes first.
    for result in caught_up.iter().chain(fresh) {
        let Some(cached) = cache.monitors.get_mut(&result.monitor_id) else {
            continue;
        };
        if !cached.target.active {
            continue;
        }
        let before = cached.target.state;
        let change = fold_one(&mut cached.target, result);
        if cached.target.state != before {
            cached.unsaved = true;
            folded_into.push(result.monitor_id);
        }
        if let Some(change) = change {
            let target = &cached.target;
            changes.push((
                target.id,
                target.version,
                change,
                target.name.clone(),
                target.tags.clone(),
            ));
        }
    }
    folded_into.sort_unstable();
    folded_into.dedup();

    // Every transition of the batch in one statement.
    let events: Vec<(Uuid, i64, MonitorEvent)> = changes
        .iter()
        .map(|(id, version, change, ..)| {
            (*id, *version, MonitorEvent::StatusChanged(change.clone()))
        })
        .collect();
    let appended = event_log::append_many(&tx, &events).await?;

    let transitioned: HashSet<Uuid> = changes.iter().map(|(id, ..)| *id).collect();
    let to_save: Vec<Uuid> = folded_into
        .into_iter()
        .filter(|id| {
            cache
                .monitors
                .get(id)
                .is_some_and(|c| c.save_due(now) || transitioned.contains(id))
        })
        .collect();
    let saving: Vec<&FoldTarget> = to_save
        .iter()
        .filter_map(|id| cache.monitors.get(id).map(|c| &c.target))
        .collect();
    monitors::save_fold_targets(&tx, &saving).await?;
    tx.commit().await.context("committing folded results")?;

    for id in &to_save {
        if let Some(cached) = cache.monitors.get_mut(id) {
            cached.saved_at = Some(now);
            cached.unsaved = false;
        }
    }
    // Our own events are accounted for.
    if let Some(newest) = appended.iter().map(|(seq, _)| *seq).max() {
        cache.seen_seq = cache.seen_seq.max(Some(newest));
    }
    let transitions = changes
        .into_iter()
        .zip(appended)
        .map(
            |((monitor_id, _, change, name, tags), (seq, recorded_at))| RecordedTransition {
                seq,
                monitor_id,
                name,
                tags,
                change,
                recorded_at,
            },
        )
        .collect();
    Ok(FoldOutcome {
        stored,
        transitions,
    })
}

/// Drops from the cache every monitor with an event since the cache was last
/// brought up to date (the API changed it, or another folder recorded a
/// transition), to be loaded again when it is next folded. The unsaved
/// health of those the API changed is saved first: an API change leaves
/// health alone, so the cache's is still the newest. Another folder's
/// transition makes ours stale: it is dropped unsaved.
async fn forget_changed(
    tx: &deadpool_postgres::Transaction<'_>,
    cache: &mut HealthCache,
) -> Result<(), StoreError> {
    let Some(seen) = cache.seen_seq else {
        cache.seen_seq = Some(event_log::latest_seq(tx).await?);
        return Ok(());
    };
    let (events, read_up_to) = event_log::events_after(tx, seen, i64::MAX).await?;
    cache.seen_seq = Some(read_up_to);
    let folded_elsewhere: HashSet<Uuid> = events
        .iter()
        .filter(|(_, status_changed)| *status_changed)
        .map(|(id, _)| *id)
        .collect();
    let mut unsaved = Vec::new();
    for (id, _) in &events {
        if let Some(cached) = cache.monitors.remove(id)
            && cached.unsaved
            && !folded_elsewhere.contains(id)
        {
            unsaved.push(cached.target);
        }
    }
    monitors::save_fold_targets(tx, &unsaved.iter().collect::<Vec<_>>()).await
}

/// Folds one new result into its monitor's state (pure); the status change
/// to record, if any, with the monitor's version moved on for it.
fn fold_one(target: &mut FoldTarget, result: &ProbeResult) -> Option<StatusChange> {
    let (state, transition) = fold(target.state, result.sample(), target.thresholds);
    if state == target.state {
        return None;
    }
    target.state = state;
    target.last_checked_at = Some(result.checked_at);
    target.last_latency_ms = Some(result.latency_ms);
    let transition = transition?;
    target.version += 1;
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
