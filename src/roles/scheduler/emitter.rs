//! Batches the jobs monitor actors emit into one Redis pipeline every few
//! milliseconds, so a tick costs a channel send, not a round trip.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::queue::jobs::{self, Job};
use crate::queue::keys::Keys;
use crate::queue::{HeldConnection, RedisPool};
use crate::runtime::batching::{AdaptiveLinger, gather};
use crate::runtime::consumer::{self, Outcome, Step, StepError};
use crate::runtime::{Shutdown, now_ms};

/// Jobs waiting to be written; beyond this, ticks are dropped (and logged)
/// rather than piling up while Redis is away.
const QUEUE_CAPACITY: usize = 100_000;
/// At most this many jobs per pipeline.
const BATCH_MAX: usize = 1_000;
/// How long the first job of a batch waits for company: about as long as a
/// full stream entry takes to gather at the current rate, within these
/// bounds. Every millisecond of it is schedule lag (BENCHMARKS.md).
const LINGER_MIN: Duration = Duration::from_millis(5);
const LINGER_MAX: Duration = Duration::from_millis(50);
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
                crate::instruments::ticks_skipped(1);
                tracing::warn!(error = %error, "job queue full or closed; tick dropped");
                false
            }
        }
    }
}

/// Starts the emitter; it runs until every `JobSender` is gone or shutdown.
pub fn spawn(redis: RedisPool, keys: Keys, shutdown: Shutdown) -> (JobSender, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let emitter = Emitter {
        receiver,
        redis: HeldConnection::new(redis),
        keys,
        batch: Vec::new(),
        linger: AdaptiveLinger::new(LINGER_MIN, LINGER_MAX, jobs::JOBS_PER_ENTRY),
        shutdown: shutdown.clone(),
    };
    let task = actix_web::rt::spawn(consumer::run(emitter, shutdown));
    (JobSender(sender), task)
}

/// The emitter role: each step gathers the jobs that queued and appends
/// them to the jobs stream in one pipeline.
pub struct Emitter {
    receiver: mpsc::Receiver<Job>,
    redis: HeldConnection,
    keys: Keys,
    /// Gathered and not yet published (kept across a failed attempt).
    batch: Vec<Job>,
    linger: AdaptiveLinger,
    /// Ends the wait for a first job, so an idle emitter sleeps until a job
    /// or shutdown comes, with no wake-ups in between.
    shutdown: Shutdown,
}

impl Step for Emitter {
    fn name(&self) -> &'static str {
        "emitter"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        if self.batch.is_empty() {
            let first = tokio::select! {
                job = self.receiver.recv() => job,
                () = self.shutdown.requested() => return Ok(Outcome::Idle),
            };
            let Some(first) = first else {
                return Ok(Outcome::Finished);
            };
            let began = std::time::Instant::now();
            let linger = self.linger.linger();
            self.batch = gather(first, &mut self.receiver, linger, BATCH_MAX).await;
            self.linger.observe(self.batch.len(), began);
        }
        // A job whose tick passed long ago (Redis was away) is not sent.
        let gathered = self.batch.len();
        self.batch
            .retain(|job| now_ms().saturating_sub(job.scheduled_at_ms) < STALE_AFTER_MS);
        let stale = gathered - self.batch.len();
        if stale > 0 {
            crate::instruments::ticks_skipped(stale as u64);
            tracing::warn!(skipped = stale, "ticks too old to probe were skipped");
        }
        let keys = &self.keys;
        let batch = &self.batch;
        if !batch.is_empty() {
            self.redis
                .run(async |connection| jobs::publish(connection, keys, batch, JOBS_MAX_LEN).await)
                .await
                .map_err(StepError::queue)?;
        }
        let published = self.batch.len();
        self.batch.clear();
        Ok(Outcome::worked(published))
    }
}
