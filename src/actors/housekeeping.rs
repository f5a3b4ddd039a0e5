//! Runs the results table's housekeeping (daily partitions, retention) at
//! start and then every hour, in every folder process; an advisory lock lets
//! one of them at a time do it.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::Shutdown;
use crate::store::{Pool, retention};

const EVERY: Duration = Duration::from_secs(3600);
const RETRY: Duration = Duration::from_secs(30);

pub fn spawn(pg: Pool, retention_days: u16, mut shutdown: Shutdown) -> JoinHandle<()> {
    actix_web::rt::spawn(async move {
        loop {
            let today = time::OffsetDateTime::now_utc().date();
            let wait = match retention::maintain(&pg, today, retention_days).await {
                Ok(done) => {
                    if !done.created.is_empty() || !done.dropped.is_empty() {
                        tracing::info!(created = ?done.created, dropped = ?done.dropped, "results partitions kept");
                    }
                    EVERY
                }
                Err(error) => {
                    tracing::warn!(error = %error, "results housekeeping failed; will retry");
                    RETRY
                }
            };
            if shutdown.sleep(wait).await {
                return;
            }
        }
    })
}
