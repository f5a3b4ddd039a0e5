//! Retrying with exponential backoff for a bounded time.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

/// Calls `attempt` until it succeeds or `timeout` has passed, logging each
/// failure. On giving up, returns how long it waited and the last error.
pub async fn retry_until<T, F, Fut>(
    what: &'static str,
    timeout: Duration,
    backoff: Backoff,
    mut attempt: F,
) -> Result<T, (Duration, String)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    let mut delay = backoff.first;
    let mut attempts: u32 = 0;
    loop {
        attempts += 1;
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => {
                let waited = started.elapsed();
                if waited + delay > timeout {
                    tracing::error!(service = what, attempts, error = %error, "giving up");
                    return Err((waited, error));
                }
                tracing::warn!(
                    service = what,
                    attempts,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %error,
                    "not reachable yet, retrying"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(backoff.max);
            }
        }
    }
}
