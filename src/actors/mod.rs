//! The moving parts of the probe pipeline: monitor actors under a registry,
//! the job emitter, workers, and the folder.

mod batching;
pub mod broadcaster;
pub mod emitter;
pub mod folder;
pub mod housekeeping;
pub mod leases;
pub mod monitor;
pub mod registry;
pub mod session;
pub mod worker;

use std::future::Future;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::queue::{QueueError, RedisPool};

/// Tells long-running loops that the process is stopping.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// The sending half: `trigger` asks every loop to finish what it holds and stop.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger(sender), Shutdown(receiver))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is requested (or the trigger is gone).
    pub async fn requested(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Sleeps for `duration` unless shutdown comes first; true if it did.
    pub async fn sleep(&mut self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => self.is_requested(),
            () = self.requested() => true,
        }
    }
}

/// Runs `task` to completion on a multi-threaded runtime of its own, so that
/// CPU-heavy work (the probes) spreads over every core instead of sharing the
/// actix System thread with the actors. The handle finishes when `task` does.
pub(crate) fn spawn_on_own_runtime(
    name: &str,
    threads: usize,
    task: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()?;
    let (done, finished) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            runtime.block_on(task);
            let _ = done.send(());
        })?;
    Ok(actix_web::rt::spawn(async move {
        let _ = finished.await;
    }))
}

/// Runs `operation` on a pooled Redis connection; any failure (no connection,
/// or the operation's own) comes back as a message to log.
pub(crate) async fn on_redis<T>(
    redis: &RedisPool,
    operation: impl AsyncFnOnce(&mut deadpool_redis::Connection) -> Result<T, QueueError>,
) -> Result<T, String> {
    let mut connection = redis.get().await.map_err(|e| e.to_string())?;
    operation(&mut connection).await.map_err(|e| e.to_string())
}

/// Wall-clock time in Unix milliseconds (the schedule grid's clock).
pub(crate) fn now_ms() -> u64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    u64::try_from(now).unwrap_or(0)
}

/// Calls `attempt` until it succeeds, backing off between failures (each one
/// logged). Gives up only when shutdown is requested, returning `None`.
pub(crate) async fn keep_trying<T, E, F, Fut>(
    what: &'static str,
    shutdown: &mut Shutdown,
    mut attempt: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let backoff = crate::retry::Backoff::default();
    let mut delay = backoff.first;
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(error) => {
                tracing::warn!(
                    while_ = what,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %error,
                    "failed, retrying"
                );
                if shutdown.sleep(delay).await {
                    return None;
                }
                delay = (delay * 2).min(backoff.max);
            }
        }
    }
}
