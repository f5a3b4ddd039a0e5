//! The one retry with exponential backoff: for start-up (bounded in time)
//! and for work that must get done (until shutdown).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::Shutdown;

/// Delays between attempts: doubling from `first` up to `max`.
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

impl Backoff {
    /// The delay after `delay`.
    pub fn after(&self, delay: Duration) -> Duration {
        (delay * 2).clamp(self.first, self.max)
    }
}

/// When `retry` stops trying.
#[derive(Debug)]
pub enum Until<'a> {
    /// Once this much time has passed (start-up waiting for a dependency).
    Elapsed(Duration),
    /// Once shutdown is requested (work that must get done).
    Shutdown(&'a mut Shutdown),
}

/// Why `retry` gave up: how long it tried, and the last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GaveUp {
    pub waited: Duration,
    pub last_error: String,
}

/// Calls `attempt` until it succeeds, backing off between failures (each one
/// logged), until `until` says to stop.
pub async fn retry<T, E, F, Fut>(
    what: &'static str,
    mut until: Until<'_>,
    mut attempt: F,
) -> Result<T, GaveUp>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let backoff = Backoff::default();
    let started = Instant::now();
    let mut delay = backoff.first;
    let mut attempts: u32 = 0;
    loop {
        attempts += 1;
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error.to_string(),
        };
        let waited = started.elapsed();
        let gave_up = GaveUp {
            waited,
            last_error: error.clone(),
        };
        if let Until::Elapsed(timeout) = until
            && waited + delay > timeout
        {
            tracing::error!(while_ = what, attempts, error = %error, "giving up");
            return Err(gave_up);
        }
        tracing::warn!(
            while_ = what,
            attempts,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "failed, retrying"
        );
        match &mut until {
            Until::Elapsed(_) => tokio::time::sleep(delay).await,
            Until::Shutdown(shutdown) => {
                if shutdown.sleep(delay).await {
                    return Err(gave_up);
                }
            }
        }
        delay = backoff.after(delay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_retries_until_success_and_gives_up_when_told() {
        let mut calls = 0;
        let value = retry("testing", Until::Elapsed(Duration::from_secs(5)), || {
            calls += 1;
            let answer = if calls < 3 { Err("not yet") } else { Ok(calls) };
            async move { answer }
        })
        .await;
        assert_eq!(value, Ok(3));

        let gave_up = retry::<(), _, _, _>("testing", Until::Elapsed(Duration::ZERO), || async {
            Err("down")
        })
        .await
        .unwrap_err();
        assert_eq!(gave_up.last_error, "down");

        let (trigger, mut shutdown) = crate::runtime::shutdown_channel();
        trigger.trigger();
        let stopped = retry::<(), _, _, _>("testing", Until::Shutdown(&mut shutdown), || async {
            Err("down")
        })
        .await;
        assert!(stopped.is_err());
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let backoff = Backoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        let delays: Vec<u128> =
            std::iter::successors(Some(backoff.first), |d| Some(backoff.after(*d)))
                .take(5)
                .map(|d| d.as_millis())
                .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }
}
