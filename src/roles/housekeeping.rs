//! Runs the results table's housekeeping (daily partitions, retention) at
//! start and then every hour, in every folder process; an advisory lock lets
//! one of them at a time do it.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::runtime::Shutdown;
use crate::runtime::consumer::{self, Outcome, Step, StepError};
use crate::store::{Pool, retention, rollups};

const EVERY: Duration = Duration::from_secs(3600);
const RETRY: Duration = Duration::from_secs(30);

/// How long results and their roll-ups are kept, in whole days.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub results_days: u16,
    /// Kept this much longer than the results.
    pub rollup_extra_days: u16,
}

pub fn spawn(pg: Pool, retention: Retention, shutdown: Shutdown) -> JoinHandle<()> {
    let role = Housekeeping { pg, retention };
    actix_web::rt::spawn(consumer::run(role, shutdown))
}

/// The housekeeping role: each step keeps the results' partitions, then
/// sleeps until the next is due.
pub struct Housekeeping {
    pg: Pool,
    retention: Retention,
}

impl Housekeeping {
    async fn drop_rollups(
        &self,
        before: time::OffsetDateTime,
    ) -> Result<u64, crate::store::StoreError> {
        let client = crate::store::connection(&self.pg, "dropping old roll-ups").await?;
        rollups::drop_before(&client, before).await
    }
}

impl Step for Housekeeping {
    fn name(&self) -> &'static str {
        "housekeeping"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let today = time::OffsetDateTime::now_utc().date();
        let kept = self.retention;
        match retention::maintain(&self.pg, today, kept.results_days).await {
            Ok(done) => {
                if !done.created.is_empty() || !done.dropped.is_empty() {
                    tracing::info!(created = ?done.created, dropped = ?done.dropped, "results partitions kept");
                }
                let days = i64::from(kept.results_days) + i64::from(kept.rollup_extra_days);
                let before = time::OffsetDateTime::now_utc() - time::Duration::days(days);
                match self.drop_rollups(before).await {
                    Ok(0) => {}
                    Ok(dropped) => tracing::info!(dropped, "old roll-ups dropped"),
                    Err(error) => tracing::warn!(error = %error, "cannot drop old roll-ups"),
                }
                Ok(Outcome::Sleep(EVERY))
            }
            Err(error) => {
                // Not the loop's short backoff: this can wait.
                tracing::warn!(error = %error, "results housekeeping failed; will retry");
                Ok(Outcome::Sleep(RETRY))
            }
        }
    }
}
