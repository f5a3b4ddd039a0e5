//! The write side: each command runs in one transaction that appends its event
//! and updates the projection, or does neither.

use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::monitors::{self, MonitorView};
use super::{DbContext, Pool, StoreError, event_log};
use crate::domain::actor::Actor;
use crate::domain::{FieldError, Monitor, MonitorConfig, MonitorEvent, RecordedEvent, monitor};

/// Records a new monitor, registered by `actor`; its id is time-ordered
/// (UUIDv7).
pub async fn register(
    pool: &Pool,
    config: MonitorConfig,
    actor: &Actor,
) -> Result<MonitorView, StoreError> {
    let mut client = super::connection(pool, "registering a monitor").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let id = Uuid::now_v7();
    let view = record(&tx, None, id, monitor::register(config), actor).await?;
    tx.commit().await.context("committing a registration")?;
    Ok(view)
}

/// Records many new monitors in one transaction: all of them or none, in
/// two statements whatever their number.
pub async fn register_many(
    pool: &Pool,
    configs: Vec<MonitorConfig>,
    actor: &Actor,
) -> Result<Vec<MonitorView>, StoreError> {
    let mut client = super::connection(pool, "registering monitors").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let registrations = configs
        .into_iter()
        .map(|config| MonitorChange {
            state: None,
            id: Uuid::now_v7(),
            events: vec![monitor::register(config)],
        })
        .collect();
    let views = record_many(&tx, registrations, actor).await?;
    tx.commit().await.context("committing registrations")?;
    Ok(views)
}

/// Runs `decide` against the monitor's current state and records the event it
/// returns. `expected_version`, when given, must match the current version.
/// No event (an idempotent command) leaves everything as it was. The event
/// names `actor` as who made it.
pub async fn change(
    pool: &Pool,
    id: Uuid,
    expected_version: Option<i64>,
    actor: &Actor,
    decide: impl FnOnce(&Monitor) -> Result<Option<MonitorEvent>, FieldError>,
) -> Result<MonitorView, StoreError> {
    let mut client = super::connection(pool, "changing a monitor").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let current = monitors::find(&tx, id, true)
        .await?
        .filter(|view| !view.monitor.deleted)
        .ok_or(StoreError::NotFound("monitor"))?;
    if let Some(expected) = expected_version
        && expected != current.monitor.version
    {
        return Err(StoreError::VersionMismatch {
            expected,
            current: current.monitor.version,
        });
    }
    let Some(event) = decide(&current.monitor)? else {
        return Ok(current);
    };
    let view = record(&tx, Some(current.monitor), id, event, actor).await?;
    tx.commit().await.context("committing a change")?;
    Ok(view)
}

/// Appends `event` to the monitor (`state` before it, `None` for a new
/// one) and updates the projection, inside the caller's transaction.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    state: Option<Monitor>,
    id: Uuid,
    event: MonitorEvent,
    actor: &Actor,
) -> Result<MonitorView, StoreError> {
    let change = MonitorChange {
        state,
        id,
        events: vec![event],
    };
    record_many(tx, vec![change], actor)
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt(format!("monitor {id} was not recorded")))
}

/// One monitor's part of a batch: its state before (`None` for a new one)
/// and the events to append to it, in order.
pub(crate) struct MonitorChange {
    pub state: Option<Monitor>,
    pub id: Uuid,
    pub events: Vec<MonitorEvent>,
}

/// Appends the events of every change and updates the projections, inside
/// the caller's transaction: two statements however many monitors. Returns
/// each changed monitor as saved, in the order given; a change without
/// events is left out.
pub(crate) async fn record_many(
    tx: &Transaction<'_>,
    changes: Vec<MonitorChange>,
    actor: &Actor,
) -> Result<Vec<MonitorView>, StoreError> {
    let mut states = Vec::with_capacity(changes.len());
    let mut events = Vec::with_capacity(changes.len());
    let mut owner = Vec::with_capacity(changes.len());
    for change in changes.into_iter().filter(|c| !c.events.is_empty()) {
        let next_seq = change.state.as_ref().map_or(1, |m| m.version + 1);
        for (seq, event) in (next_seq..).zip(change.events) {
            events.push((change.id, seq, event));
            owner.push(states.len());
        }
        states.push(change.state);
    }
    let appended = event_log::append_many(tx, &events, actor).await?;
    for ((index, (monitor_id, monitor_seq, event)), (_, recorded_at)) in
        owner.into_iter().zip(events).zip(appended)
    {
        let recorded = RecordedEvent {
            monitor_id,
            monitor_seq,
            recorded_at,
            actor: actor.clone(),
            event,
        };
        let next = Monitor::apply(states[index].take(), &recorded)
            .map_err(|e| StoreError::Corrupt(format!("applying a new event: {e}")))?;
        states[index] = Some(next);
    }
    let monitors: Vec<Monitor> = states.into_iter().flatten().collect();
    monitors::save_many(tx, &monitors).await
}
