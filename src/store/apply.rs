//! Monitors as code, carried out: the plan is made and every step of it
//! recorded in one transaction, so a file is applied entirely or not at all.

use uuid::Uuid;

use super::channels;
use super::{DbContext, Pool, StoreError, commands, event_log, monitors};
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
    for step in &plan.steps {
        carry_out(&tx, step, actor).await?;
    }
    tx.commit().await.context("committing a monitors file")?;
    Ok(plan)
}

async fn carry_out(
    tx: &deadpool_postgres::Transaction<'_>,
    step: &Step,
    actor: &Actor,
) -> Result<(), StoreError> {
    match step {
        Step::RegisterMonitor { config, paused } => {
            let id = Uuid::now_v7();
            let view =
                commands::record(tx, None, id, monitor::register(config.clone()), actor).await?;
            if *paused {
                let event = MonitorEvent::MonitorPaused {};
                commands::record(tx, Some(view.monitor), id, event, actor).await?;
            }
        }
        Step::ChangeMonitor { current, events } => {
            let mut state = current.clone();
            for event in events {
                let view =
                    commands::record(tx, Some(state), current.id, event.clone(), actor).await?;
                state = view.monitor;
            }
        }
        Step::DeleteMonitor { current } => {
            let event = current.delete();
            commands::record(tx, Some(current.clone()), current.id, event, actor).await?;
        }
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
    }
    Ok(())
}
