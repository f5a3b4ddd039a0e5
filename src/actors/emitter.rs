//! Batches the jobs monitor actors emit into one Redis pipeline every few
//! milliseconds, so a tick costs a channel send, not a round trip.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::batching::gather;
use super::{Shutdown, keep_trying, now_ms, on_redis};
use crate::queue::RedisPool;
use crate::queue::jobs::{self, Job};
use crate::queue::keys::Keys;

/// Jobs waiting to be written; beyond this, ticks are dropped (and logged)
/// rather than piling up while Redis is away.
const QUEUE_CAPACITY: usize = 100_000;
/// At most this many jobs per pipeline.
const BATCH_MAX: usize = 1_000;
/// How long the first job of a batch waits for company. Every millisecond of
/// it is schedule lag: 20 ms filled entries better but saved no measurable
/// CPU, and added 10 ms to the lag's median.
const LINGER: Duration = Duration::from_millis(5);
/// About how many entries the jobs stream keeps (each holds up to
/// `jobs::JOBS_PER_ENTRY` jobs): a bound on Redis memory while no worker reads.
pub const JOBS_MAX_LEN: usize = 50_000;
/// A job this old when Redis is back is not sent: its tick has passed, and
/// sending a backlog would be the burst the schedule promises not to make.
const STALE_AFTER_MS: u64 = 60_000;

/// Where monitor actors put their jobs.
#[derive(Debug, Clone)]
pub struct JobSender(mpsc::Sender<Job>);

impl JobSender {
    pub fn new(sender: mpsc::Sender<Job>) -> Self {
        Self(sender)
    }

    /// Hands a job over without waiting; false (and a warning) if the queue is full.
    pub fn send(&self, job: Job) -> bool {
        match self.0.try_send(job) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(error = %error, "job queue full or closed; tick dropped");
                false
            }
        }
    }
}

/// Starts the emitter; it runs until every `JobSender` is gone or shutdown.
pub fn spawn(redis: RedisPool, keys: Keys, shutdown: Shutdown) -> (JobSender, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let task = actix_web::rt::spawn(run(receiver, redis, keys, shutdown));
    (JobSender(sender), task)
}

async fn run(
    mut receiver: mpsc::Receiver<Job>,
    redis: RedisPool,
    keys: Keys,
    mut shutdown: Shutdown,
) {
    loop {
        let first = tokio::select! {
            job = receiver.recv() => job,
            () = shutdown.requested() => None,
        };
        let Some(first) = first else { return };
        let batch = gather(first, &mut receiver, LINGER, BATCH_MAX).await;
        let published = keep_trying("publishing jobs", &mut shutdown, || {
            let fresh: Vec<&Job> = batch
                .iter()
                .filter(|job| now_ms().saturating_sub(job.scheduled_at_ms) < STALE_AFTER_MS)
                .collect();
            let (redis, keys) = (redis.clone(), keys.clone());
            async move { publish(&redis, &keys, &fresh).await }
        })
        .await;
        if published.is_none() {
            return;
        }
    }
}

async fn publish(redis: &RedisPool, keys: &Keys, batch: &[&Job]) -> Result<(), String> {
    if batch.is_empty() {
        return Ok(());
    }
    on_redis(redis, async |connection| {
        jobs::publish(connection, keys, batch, JOBS_MAX_LEN).await
    })
    .await
}
