//! The folder's write: one transaction per batch of probe results. It stores
//! the results (a duplicate is a no-op), has the domain fold the new ones
//! (`domain::folding`), appends a `status_changed` event per transition,
//! owes the deliveries of the channels that want each one (the outbox),
//! and saves the health the domain says to save — all or nothing. This
//! module holds the order of the statements; the rules are the domain's.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use time::OffsetDateTime;
use uuid::Uuid;

use super::{DbContext, Pool, StoreError, deliveries, event_log, monitors, results};
use crate::domain::actor::Actor;
use crate::domain::feed::RecordedTransition;
use crate::domain::folding::{self, HealthCache, Incident, PendingDrift};
use crate::domain::notification::NotificationKind;
use crate::domain::{MonitorEvent, ProbeResult};

/// What one batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Results stored for the first time (the rest were duplicates).
    pub stored: usize,
    pub transitions: Vec<RecordedTransition>,
    /// Outages that began or ended: (monitor, its name, the incident).
    pub incidents: Vec<(Uuid, String, Incident)>,
    /// Drift changes recorded, with their global sequence numbers.
    pub drifts: Vec<(i64, PendingDrift)>,
}

/// Records `batch`, folding it with the health in `cache`.
///
/// A batch the cache knows to be unseen is stored with a plain `INSERT` (no
/// conflict handling: cheaper, see BENCHMARKS.md); if one was stored after all, by
/// another folder around a lease handover, the unique violation makes the
/// batch run again with nothing cached, so every result is checked against
/// the stored ones.
pub async fn record_batch(
    pool: &Pool,
    batch: &[ProbeResult],
    cache: &mut HealthCache,
) -> Result<BatchOutcome, StoreError> {
    if batch.is_empty() {
        return Ok(BatchOutcome::default());
    }
    let mut recorded = record(pool, batch, cache).await;
    if let Err(error) = &recorded {
        // It may hold what a transaction that did not commit folded.
        cache.forget_all();
        if error.is_unique_violation() {
            recorded = record(pool, batch, cache).await;
            if recorded.is_err() {
                cache.forget_all();
            }
        }
    }
    recorded
}

async fn record(
    pool: &Pool,
    batch: &[ProbeResult],
    cache: &mut HealthCache,
) -> Result<BatchOutcome, StoreError> {
    let now = Instant::now();
    let mut client = super::connection(pool, "folding probe results").await?;
    let tx = client
        .transaction()
        .await
        .context("starting to fold probe results")?;
    // Results and roll-ups lock no monitor row, so they are stored before
    // the append lock: while the rows go in, the API and other folders
    // append; only the fold itself takes turns.
    let unique = folding::unique_results(batch);
    let fresh: Vec<&ProbeResult> = if cache.all_unseen(&unique) {
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
    super::rollups::add(&tx, &fresh).await?;

    event_log::lock_for_append(&tx).await?;
    // From here nobody changes a monitor until the commit.
    match cache.seen_seq() {
        None => cache.start_at(event_log::latest_seq(&tx).await?),
        Some(seen) => {
            let page = event_log::events_after(&tx, seen, i64::MAX).await?;
            let unsaved = cache.forget_changed(&page.events, page.read_up_to);
            monitors::save_health(&tx, &unsaved.iter().collect::<Vec<_>>()).await?;
        }
    }

    let missing = cache.missing(&fresh);
    let mut caught_up = Vec::new();
    if !missing.is_empty() {
        caught_up = results::newer_than_saved_health(&tx, &missing).await?;
        cache.load(monitors::load_health(&tx, &missing).await?);
    }
    let folded = cache.fold(caught_up, &fresh, now);

    // Every transition and drift change of the batch in one statement, in
    // each monitor's own order.
    let mut events: Vec<(Uuid, i64, MonitorEvent)> = folded
        .transitions
        .iter()
        .map(|t| {
            (
                t.monitor_id,
                t.monitor_seq,
                MonitorEvent::StatusChanged(t.change.clone()),
            )
        })
        .chain(
            folded
                .drifts
                .iter()
                .map(|d| (d.monitor_id, d.monitor_seq, d.event())),
        )
        .collect();
    events.sort_by_key(|(id, seq, _)| (*id, *seq));
    let appended = event_log::append_many(&tx, &events, &Actor::System).await?;
    let recorded: HashMap<(Uuid, i64), (i64, OffsetDateTime)> = events
        .iter()
        .zip(&appended)
        .map(|((id, seq, _), at)| ((*id, *seq), *at))
        .collect();
    let seq_of = |id: Uuid, monitor_seq: i64| {
        recorded.get(&(id, monitor_seq)).copied().ok_or_else(|| {
            StoreError::Corrupt(format!(
                "event {monitor_seq} of monitor {id} was not appended"
            ))
        })
    };
    let mut owed = Vec::new();
    for t in &folded.transitions {
        if let Some(kind) = NotificationKind::of_change(&t.change) {
            let (seq, _) = seq_of(t.monitor_id, t.monitor_seq)?;
            owed.push(deliveries::Appended {
                seq,
                monitor_id: t.monitor_id,
                kind,
                tags: &t.tags,
            });
        }
    }
    for d in &folded.drifts {
        let (seq, _) = seq_of(d.monitor_id, d.monitor_seq)?;
        let kind = NotificationKind::Drift;
        owed.push(deliveries::Appended {
            seq,
            monitor_id: d.monitor_id,
            kind,
            tags: &d.tags,
        });
    }
    deliveries::owe_for_events(&tx, &owed).await?;
    let saving: Vec<_> = cache.health_of(&folded.to_save).collect();
    monitors::save_health(&tx, &saving).await?;
    tx.commit().await.context("committing folded results")?;

    cache.committed(
        &folded.to_save,
        appended.iter().map(|(seq, _)| *seq).max(),
        now,
    );
    let incidents = folded
        .transitions
        .iter()
        .filter_map(|t| Some((t.monitor_id, t.name.clone(), t.incident()?)))
        .collect();
    let mut transitions = Vec::with_capacity(folded.transitions.len());
    for t in folded.transitions {
        let (seq, recorded_at) = seq_of(t.monitor_id, t.monitor_seq)?;
        transitions.push(RecordedTransition {
            seq,
            monitor_id: t.monitor_id,
            name: t.name,
            tags: t.tags,
            change: t.change,
            recorded_at,
        });
    }
    let mut drifts = Vec::with_capacity(folded.drifts.len());
    for d in folded.drifts {
        let (seq, _) = seq_of(d.monitor_id, d.monitor_seq)?;
        drifts.push((seq, d));
    }
    Ok(BatchOutcome {
        stored: fresh.len(),
        transitions,
        drifts,
        incidents,
    })
}
