//! `upwatch replay`: replays the event log, one monitor after another, with the
//! same domain code as everything else, and optionally checks the projection
//! against it. The log is read in pages, so its size does not matter.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::audit::AuditState;
use crate::store::event_log::{self, MonitorScan};
use crate::store::monitors::{self, MonitorView};
use crate::store::{self, Pool, StoreError};

/// Events read per page.
const PAGE: i64 = 1_000;

#[derive(Debug, Clone, Copy, Default)]
pub struct ReplayOptions {
    pub monitor_id: Option<Uuid>,
    pub until: Option<OffsetDateTime>,
    /// Compare each rebuilt monitor with its projection row.
    pub verify: bool,
}

/// A monitor whose projection row says something its log does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub monitor_id: Uuid,
    /// What differs, e.g. `status: projection up, log down`.
    pub differences: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the log of monitor {0} cannot be replayed: {1}")]
    Broken(Uuid, String),
}

/// Replays the log, handing each rebuilt monitor to `each`; with `verify`,
/// returns the monitors whose projection differs.
pub async fn replay(
    pool: &Pool,
    options: ReplayOptions,
    mut each: impl FnMut(&AuditState),
) -> Result<Vec<Mismatch>, ReplayError> {
    let client = store::connection(pool, "replaying the event log").await?;
    let mut mismatches = Vec::new();
    let mut current: Option<AuditState> = None;
    let mut scan = MonitorScan {
        monitor_id: options.monitor_id,
        until: options.until,
        limit: PAGE,
        ..MonitorScan::default()
    };
    loop {
        let page = event_log::scan_by_monitor(&client, scan).await?;
        let Some(last) = page.last() else { break };
        scan.after = Some((last.monitor_id, last.monitor_seq));
        for event in &page {
            // The log is in monitor order: a new id means the last monitor is complete.
            let previous = current.take();
            let previous = match previous {
                Some(done) if done.monitor.id != event.monitor_id => {
                    finish(&client, &done, options, &mut each, &mut mismatches).await?;
                    None
                }
                same => same,
            };
            let next = AuditState::apply(previous, event)
                .map_err(|e| ReplayError::Broken(event.monitor_id, e.to_string()))?;
            current = Some(next);
        }
    }
    if let Some(done) = current.take() {
        finish(&client, &done, options, &mut each, &mut mismatches).await?;
    }
    if options.verify {
        let orphans = event_log::projection_without_events(&client).await?;
        for monitor_id in orphans {
            if options.monitor_id.is_none_or(|only| only == monitor_id) {
                mismatches.push(Mismatch {
                    monitor_id,
                    differences: vec!["a projection row with no events in the log".to_owned()],
                });
            }
        }
    }
    Ok(mismatches)
}

async fn finish(
    client: &deadpool_postgres::Client,
    state: &AuditState,
    options: ReplayOptions,
    each: &mut impl FnMut(&AuditState),
    mismatches: &mut Vec<Mismatch>,
) -> Result<(), ReplayError> {
    each(state);
    if options.verify {
        let projection = monitors::find(client, state.monitor.id, false).await?;
        let differences = differences(state, projection.as_ref());
        if !differences.is_empty() {
            mismatches.push(Mismatch {
                monitor_id: state.monitor.id,
                differences,
            });
        }
    }
    Ok(())
}

/// Where the projection row differs from the rebuilt state.
pub fn differences(log: &AuditState, projection: Option<&MonitorView>) -> Vec<String> {
    let Some(row) = projection else {
        return vec!["no projection row".to_owned()];
    };
    let (p, l) = (&row.monitor, &log.monitor);
    let mut found = Vec::new();
    let mut compare = |what: &str, projected: String, logged: String| {
        if projected != logged {
            found.push(format!("{what}: projection {projected}, log {logged}"));
        }
    };
    compare(
        "config",
        format!("{:?}", p.config),
        format!("{:?}", l.config),
    );
    compare("paused", p.paused.to_string(), l.paused.to_string());
    compare("deleted", p.deleted.to_string(), l.deleted.to_string());
    compare("version", p.version.to_string(), l.version.to_string());
    compare(
        "created_at",
        p.created_at.to_string(),
        l.created_at.to_string(),
    );
    compare(
        "updated_at",
        p.updated_at.to_string(),
        l.updated_at.to_string(),
    );
    compare(
        "status",
        row.health.status.as_str().to_owned(),
        log.status.as_str().to_owned(),
    );
    compare(
        "status_since",
        format!("{:?}", row.health.status_since),
        format!("{:?}", log.status_since),
    );
    found
}
