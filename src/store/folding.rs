//! The folder's write: one transaction per batch of probe results. It stores
//! the results (a duplicate job id is a no-op), folds only the new ones into
//! each monitor's health, appends a `status_changed` event per transition, and
//! saves the health state — all or nothing.

use std::collections::{HashMap, HashSet};

use time::OffsetDateTime;
use uuid::Uuid;

use super::monitors::{self, FoldTarget};
use super::{DbContext, Pool, StoreError, event_log, results};
use crate::domain::health::fold;
use crate::domain::{MonitorEvent, ProbeResult, StatusChange};

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

pub async fn fold_batch(pool: &Pool, batch: &[ProbeResult]) -> Result<FoldOutcome, StoreError> {
    if batch.is_empty() {
        return Ok(FoldOutcome::default());
    }
    let mut client = super::connection(pool, "folding probe results").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let new_ids: HashSet<Uuid> = results::insert_batch(&tx, batch)
        .await?
        .into_iter()
        .collect();
    let mut fresh: Vec<&ProbeResult> = batch
        .iter()
        .filter(|r| new_ids.contains(&r.job_id))
        .collect();
    fresh.sort_by_key(|r| (r.monitor_id, r.scheduled_at, r.job_id));
    // The same job twice in one batch is stored (and folded) once.
    fresh.dedup_by_key(|r| r.job_id);

    let mut by_monitor: HashMap<Uuid, Vec<&ProbeResult>> = HashMap::new();
    for result in fresh {
        by_monitor
            .entry(result.monitor_id)
            .or_default()
            .push(result);
    }
    let monitor_ids: Vec<Uuid> = by_monitor.keys().copied().collect();
    let mut targets = monitors::load_fold_targets(&tx, &monitor_ids).await?;
    let mut changes = Vec::new();
    for target in targets.iter_mut().filter(|t| t.active) {
        for result in by_monitor.get(&target.id).into_iter().flatten() {
            if let Some(change) = fold_one(target, result) {
                changes.push((
                    target.id,
                    target.version,
                    change,
                    target.name.clone(),
                    target.tags.clone(),
                ));
            }
        }
    }
    // Every transition of the batch in one statement.
    let events: Vec<(Uuid, i64, MonitorEvent)> = changes
        .iter()
        .map(|(id, version, change, ..)| {
            (*id, *version, MonitorEvent::StatusChanged(change.clone()))
        })
        .collect();
    let appended = event_log::append_many(&tx, &events).await?;
    monitors::save_fold_targets(&tx, &targets).await?;
    tx.commit().await.context("committing folded results")?;
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
        stored: new_ids.len(),
        transitions,
    })
}

/// Folds one new result into its monitor's state (pure); the status change
/// to record, if any, with the monitor's version moved on for it.
fn fold_one(target: &mut FoldTarget, result: &ProbeResult) -> Option<StatusChange> {
    let (state, transition) = fold(target.state, result.observation(), target.thresholds);
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
