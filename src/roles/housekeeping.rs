//! Runs the results table's housekeeping (daily partitions, retention) at
//! start and then every hour, in every folder process; an advisory lock lets
//! one of them at a time do it.

use std::time::Duration;

use tokio::task::JoinHandle;

use crate::runtime::Shutdown;
use crate::runtime::consumer::{self, Outcome, Step, StepError};
use crate::store::{Pool, retention};

const EVERY: Duration = Duration::from_secs(3600);
const RETRY: Duration = Duration::from_secs(30);

pub fn spawn(pg: Pool, retention_days: u16, shutdown: Shutdown) -> JoinHandle<()> {
    let role = Housekeeping { pg, retention_days };
    actix_web::rt::spawn(consumer::run(role, shutdown))
}

/// The housekeeping role: each step keeps the results' partitions, then
/// sleeps until the next is due.
pub struct Housekeeping {
    pg: Pool,
    retention_days: u16,
}

impl Step for Housekeeping {
    fn name(&self) -> &'static str {
        "housekeeping"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let today = time::OffsetDateTime::now_utc().date();
        match retention::maintain(&self.pg, today, self.retention_days).await {
            Ok(done) => {
                if !done.created.is_empty() || !done.dropped.is_empty() {
                    tracing::info!(created = ?done.created, dropped = ?done.dropped, "results partitions kept");
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
