//! The write side: each command runs in one transaction that appends its event
//! and updates the projection, or does neither.

use deadpool_postgres::Transaction;
use uuid::Uuid;

use super::monitors::{self, MonitorView};
use super::{DbContext, Pool, StoreError, event_log};
use crate::domain::actor::Actor;
use crate::domain::{FieldError, Monitor, MonitorConfig, MonitorEvent, monitor};

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

/// Records many new monitors in one transaction: all of them or none.
pub async fn register_many(
    pool: &Pool,
    configs: Vec<MonitorConfig>,
    actor: &Actor,
) -> Result<Vec<MonitorView>, StoreError> {
    let mut client = super::connection(pool, "registering monitors").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    // Polled together, the statements are pipelined on the one connection,
    // in order: a few round trips per batch instead of four per monitor.
    let views = futures_util::future::try_join_all(configs.into_iter().map(|config| {
        let id = Uuid::now_v7();
        record(&tx, None, id, monitor::register(config), actor)
    }))
    .await?;
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
    let next_seq = state.as_ref().map_or(1, |m| m.version + 1);
    let (_, recorded) = event_log::append(tx, id, next_seq, &event, actor).await?;
    let monitor = Monitor::apply(state, &recorded)
        .map_err(|e| StoreError::Corrupt(format!("applying a new event: {e}")))?;
    monitors::save(tx, &monitor).await
}
