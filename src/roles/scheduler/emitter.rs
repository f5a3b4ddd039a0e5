//! Batches the jobs monitor actors emit into one Redis pipeline every few
//! milliseconds, so a tick costs a channel send, not a round trip. While
//! the workers are behind — the oldest job not yet taken has waited a
//! quarter of the time a tick may be late (`domain::overload`) — new ticks
//! are skipped here, counted, rather than queued to be skipped later.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::domain::overload::worth_queuing;
use crate::domain::schedule::TIMER_GRANULE_MS;
use crate::queue::jobs::{self, Job, QueueState};
use crate::queue::keys::Keys;
use crate::queue::progress::Handled;
use crate::queue::{HeldConnection, RedisPool};
use crate::roles::skips::Skips;
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
const LINGER_MAX: Duration = Duration::from_millis(100);
/// While the jobs stream holds this many entries (each up to
/// `jobs::JOBS_PER_ENTRY` jobs) new ticks are skipped, counted, rather than
/// appended: a bound on Redis memory while no worker reads, with nothing
/// trimmed unseen.
pub const JOBS_MAX_LEN: usize = 50_000;
/// How late a monitor's timer may fire after its wake-up (up to
/// `TIMER_GRANULE_MS` after its tick) and still count as on time for the
/// progress mark. A tick in the slack that was queued all the
/// same is counted skipped as well if its scheduler dies right then (an
/// over-count, never a loss); a timer later than this loses its tick then.
const TIMER_SLACK_MS: u64 = 50;

/// Where monitor actors put their jobs.
#[derive(Debug, Clone)]
pub struct JobSender {
    sender: mpsc::Sender<Job>,
    skips: Skips,
}

impl JobSender {
    pub fn new(sender: mpsc::Sender<Job>) -> Self {
        Self {
            sender,
            skips: Skips::default(),
        }
    }

    /// Counts `ticks` of `monitor` that its actor passed over, and why.
    pub fn passed_over(&self, monitor: Uuid, ticks: u64, reason: &'static str) {
        if ticks > 0 {
            let ticks = usize::try_from(ticks).unwrap_or(usize::MAX);
            self.skips
                .skipped(std::iter::repeat_n(monitor, ticks), reason);
        }
    }

    /// Hands a job over without waiting; false (and a warning) if the queue is full.
    pub fn send(&self, job: Job) -> bool {
        match self.sender.try_send(job) {
            Ok(()) => true,
            Err(error) => {
                let (reason, job) = match error {
                    mpsc::error::TrySendError::Full(job) => ("the emitter's queue is full", job),
                    mpsc::error::TrySendError::Closed(job) => ("the emitter has stopped", job),
                };
                self.skips.skipped([job.monitor_id], reason);
                false
            }
        }
    }
}

/// Starts the emitter; it runs until every `JobSender` is gone or shutdown.
/// With each batch it notes how far scheduling got in the partitions
/// `scheduling` names (see `queue::progress`).
pub fn spawn(
    redis: RedisPool,
    keys: Keys,
    scheduling: watch::Receiver<BTreeSet<u16>>,
    shutdown: Shutdown,
) -> (JobSender, JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
    let skips = Skips::default();
    let emitter = Emitter {
        skips: skips.clone(),
        receiver,
        redis: HeldConnection::new(redis),
        keys,
        batch: Vec::new(),
        handled_up_to_ms: 0,
        scheduling,
        queue: None,
        linger: AdaptiveLinger::new(LINGER_MIN, LINGER_MAX, jobs::JOBS_PER_ENTRY),
        shutdown: shutdown.clone(),
    };
    let task = actix_web::rt::spawn(consumer::run(emitter, shutdown));
    (JobSender { sender, skips }, task)
}

/// The emitter role: each step gathers the jobs that queued and appends
/// them to the jobs stream in one pipeline.
pub struct Emitter {
    receiver: mpsc::Receiver<Job>,
    redis: HeldConnection,
    keys: Keys,
    /// Gathered and not yet published (kept across a failed attempt).
    batch: Vec<Job>,
    /// Once the batch is published, every tick up to here is handled.
    handled_up_to_ms: u64,
    /// The partitions whose monitors this process schedules.
    scheduling: watch::Receiver<BTreeSet<u16>>,
    /// The jobs stream at the last look (none yet: look before publishing).
    queue: Option<QueueState>,
    linger: AdaptiveLinger,
    skips: Skips,
    /// Ends the wait for a first job, so an idle emitter sleeps until a job
    /// or shutdown comes, with no wake-ups in between.
    shutdown: Shutdown,
}

impl Emitter {
    /// Whether the last look at the stream is too old to decide on: it
    /// ages with the clock, so it errs towards looking again.
    fn needs_a_look(&self, now: u64) -> bool {
        let Some(queue) = self.queue else {
            return true;
        };
        let wait = queue.wait_ms(now);
        queue.entries >= JOBS_MAX_LEN
            || !self
                .batch
                .iter()
                .all(|job| worth_queuing(wait, job.window_ms()))
    }

    /// Appends the batch to the jobs stream, but for what the stream has no
    /// room or no time for (skipped, counted); how many jobs were appended.
    async fn queue_batch(&mut self, now: u64) -> Result<usize, StepError> {
        if self.needs_a_look(now) {
            let keys = &self.keys;
            let queue = self
                .redis
                .run(async |connection| jobs::queue_state(connection, keys).await)
                .await
                .map_err(StepError::queue)?;
            self.queue = Some(queue);
            if queue.entries >= JOBS_MAX_LEN {
                self.skips.skipped(
                    self.batch.iter().map(|job| job.monitor_id),
                    "the jobs stream is full: workers are behind or away",
                );
                self.batch.clear();
                return Ok(0);
            }
            self.shed_what_would_wait_too_long(queue.wait_ms(now_ms()));
        }
        let (keys, batch) = (&self.keys, &self.batch);
        if !batch.is_empty() {
            let handled = Handled {
                partitions: self.scheduling.borrow().iter().copied().collect(),
                up_to_ms: self.handled_up_to_ms,
            };
            let queue = self
                .redis
                .run(async |connection| {
                    jobs::publish_noting(connection, keys, batch, Some(&handled)).await
                })
                .await
                .map_err(StepError::queue)?;
            self.queue = Some(queue);
        }
        let queued = self.batch.len();
        self.batch.clear();
        Ok(queued)
    }

    /// Skips, counted, the jobs the workers are too far behind to probe in time.
    fn shed_what_would_wait_too_long(&mut self, wait: u64) {
        let (kept, shed) = std::mem::take(&mut self.batch)
            .into_iter()
            .partition::<Vec<_>, _>(|job| worth_queuing(wait, job.window_ms()));
        self.batch = kept;
        self.skips.skipped(
            shed.iter().map(|job| job.monitor_id),
            "workers are behind: the oldest queued job has waited a quarter of the time a tick may be late",
        );
    }

    /// Actors send in the order their timers fire, which is tick order up
    /// to one timer granule (the ticks of a granule fire together, in any
    /// order): with the queue drained every tick that fell is in hand, but
    /// for a timer that is due and has not fired yet (`TIMER_SLACK_MS` after
    /// its granule); otherwise those still queued are no earlier than the
    /// batch's last, less a granule.
    fn handled_once_published(&self) -> u64 {
        let now = now_ms().saturating_sub(TIMER_SLACK_MS + TIMER_GRANULE_MS);
        if self.receiver.is_empty() {
            return now;
        }
        self.batch.last().map_or(now, |job| {
            job.scheduled_at_ms
                .saturating_sub(1 + TIMER_GRANULE_MS)
                .min(now)
        })
    }
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
            self.handled_up_to_ms = self.handled_once_published();
        }
        // A job too late to probe (Redis was away) is not sent: sending a
        // backlog would be the burst the schedule promises not to make.
        let now = now_ms();
        let (late, batch) = std::mem::take(&mut self.batch)
            .into_iter()
            .partition::<Vec<_>, _>(|job| job.too_late(now));
        self.batch = batch;
        self.skips.skipped(
            late.iter().map(|job| job.monitor_id),
            "Redis was away until they were too late",
        );
        let queued = self.queue_batch(now).await?;
        self.skips.record(&mut self.redis, &self.keys).await;
        Ok(Outcome::worked(queued))
    }
}
