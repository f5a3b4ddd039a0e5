//! Monitors as code, carried out: the plan is made and every step of it
//! recorded in one transaction, so a file is applied entirely or not at all.

use uuid::Uuid;

use super::channels;
use super::commands::{self, MonitorChange};
use super::{DbContext, Pool, StoreError, event_log, monitors};
use crate::domain::actor::Actor;
use crate::domain::channel::ChannelEvent;
use crate::domain::manifest::{self, CurrentChannel, Manifest, Plan, PlanError, Step};
use crate::domain::{MonitorEvent, monitor};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to apply a manifest.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Delete the monitors and channels the manifest does not name.
    pub prune: bool,
    /// Make the plan, change nothing.
    pub dry_run: bool,
}

/// Plans `manifest` against what is stored and, unless a dry run, records
/// every step by `actor` in one transaction. Returns the plan.
pub async fn apply(
    pool: &Pool,
    manifest: &Manifest,
    options: ApplyOptions,
    actor: &Actor,
) -> Result<Plan, ApplyError> {
    let mut client = super::connection(pool, "applying a monitors file").await?;
    // The append lock first: nothing else is recorded between reading what
    // is stored and writing the plan's events.
    let tx = event_log::begin_appending(&mut client).await?;
    let live_monitors = monitors::list_live(&tx).await?;
    let live_channels: Vec<CurrentChannel> = channels::all_live(&tx)
        .await?
        .into_iter()
        .map(|view| CurrentChannel {
            id: view.id,
            version: view.version,
            config: view.config,
        })
        .collect();
    let plan = manifest::plan(&live_monitors, &live_channels, manifest, options.prune)?;
    if options.dry_run || plan.steps.is_empty() {
        return Ok(plan);
    }
    let mut monitor_changes = Vec::new();
    for step in &plan.steps {
        match monitor_change(step) {
            Some(change) => monitor_changes.push(change),
            None => carry_out_on_channels(&tx, step, actor).await?,
        }
    }
    commands::record_many(&tx, monitor_changes, actor).await?;
    tx.commit().await.context("committing a monitors file")?;
    Ok(plan)
}

/// What a monitor step appends, or `None` for a channel step. Monitors and
/// channels are apart in the store, so every monitor step of a plan is
/// recorded together, in the plan's order.
fn monitor_change(step: &Step) -> Option<MonitorChange> {
    let (state, id, events) = match step {
        Step::RegisterMonitor { config, paused } => {
            let mut events = vec![monitor::register(config.clone())];
            if *paused {
                events.push(MonitorEvent::MonitorPaused {});
            }
            (None, Uuid::now_v7(), events)
        }
        Step::ChangeMonitor { current, events } => {
            (Some(current.clone()), current.id, events.clone())
        }
        Step::DeleteMonitor { current } => {
            (Some(current.clone()), current.id, vec![current.delete()])
        }
        _ => return None,
    };
    Some(MonitorChange { state, id, events })
}

async fn carry_out_on_channels(
    tx: &deadpool_postgres::Transaction<'_>,
    step: &Step,
    actor: &Actor,
) -> Result<(), StoreError> {
    match step {
        Step::CreateChannel { config } => {
            let event = ChannelEvent::ChannelCreated {
                config: config.into(),
            };
            channels::record(tx, Uuid::now_v7(), 1, config.clone(), false, &event, actor).await?;
        }
        Step::UpdateChannel {
            current,
            config,
            event,
        } => {
            let version = current.version + 1;
            channels::record(tx, current.id, version, config.clone(), false, event, actor).await?;
        }
        Step::DeleteChannel { current } => {
            let CurrentChannel {
                id,
                version,
                config,
            } = current.clone();
            channels::delete_in(tx, id, version, config, actor).await?;
        }
        Step::RegisterMonitor { .. } | Step::ChangeMonitor { .. } | Step::DeleteMonitor { .. } => {}
    }
    Ok(())
}
