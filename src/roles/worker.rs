//! A worker: reads entries of jobs through the `workers` consumer group,
//! runs up to `concurrency` probes at once, hands each result to the
//! publisher when its probe ends (the publisher appends results to their
//! partitions' streams in batches), and acknowledges an entry once the
//! results of all its jobs are published. Every so often a step reclaims
//! the entries of workers that died instead of reading. It runs on a
//! multi-threaded runtime of its own (`threads` threads), with its own Redis
//! pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use crate::domain::ProbeResult;
use crate::domain::observation::Observation;
use crate::domain::result::to_micros;
use crate::probe::Prober;
use crate::queue::jobs::{self, Delivery, JOBS_PER_ENTRY, Job};
use crate::queue::keys::Keys;
use crate::queue::{HeldConnection, RedisPool, on_redis};
use crate::roles::skips::Skips;
use crate::runtime::batching::{AdaptiveLinger, gather};
use crate::runtime::consumer::{self, Outcome, Step, StepError};
use crate::runtime::{Shutdown, now_ms, spawn_on_own_runtime};

/// A job delivered more often than this is given up on and recorded as down.
pub const MAX_DELIVERIES: u64 = 3;
/// Stream entries read per round trip, at most.
const READ_BATCH: usize = 64;
/// How long a read waits for new entries; also how quickly shutdown is
/// noticed. An idle lane wakes once per read, so longer is cheaper. Well
/// under the Redis reply timeout (see `queue::pool`).
const READ_BLOCK_MS: usize = 1_000;
/// Results published per pipeline, at most, and how long the first waits:
/// long enough that, under load, a partition's results share an entry
/// (with 64 partitions, 5 ms gathered about one result per partition), and
/// at everyday rates that a few dozen share a round trip. The upper bound
/// is part of the one-second budget from a probe's end to its transition's
/// record, with the folder's `GATHER_MAX`.
const PUBLISH_BATCH: usize = 2_000;
const PUBLISH_LINGER_MIN: Duration = Duration::from_millis(20);
const PUBLISH_LINGER_MAX: Duration = Duration::from_millis(200);
const PUBLISH_WANT: usize = 64;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's consumer name in the group: unique per process.
    pub consumer: String,
    pub concurrency: usize,
    pub partitions: u16,
    /// Jobs left unacknowledged this long by another consumer are taken over.
    pub reclaim_after: Duration,
    /// Threads the worker's runtime runs probes on.
    pub threads: usize,
}

/// What the publisher is handed. An entry's `Acknowledge` is sent after the
/// results of all its jobs, so it is published after them.
enum Finished {
    Result(ProbeResult),
    /// Every job of this entry is done (or it could not be read).
    Acknowledge(String),
}

/// The jobs of one stream entry still running.
struct EntryInFlight {
    entry_id: String,
    unfinished: AtomicUsize,
}

impl EntryInFlight {
    /// Counts one job as done; the entry's id if it was the last.
    fn finish_one(&self) -> Option<String> {
        (self.unfinished.fetch_sub(1, Ordering::AcqRel) == 1).then(|| self.entry_id.clone())
    }
}

/// How many entries to ask for when `free` probe slots are free.
fn entries_for(free: usize) -> usize {
    (free / JOBS_PER_ENTRY).clamp(1, READ_BATCH)
}

/// What one thread of a worker needs of its own: connections and HTTP
/// clients are driven by the runtime that made them, and one shared across
/// threads would wake the other thread for every reply.
pub struct Lane {
    pub redis: RedisPool,
    pub prober: Prober,
}

/// Starts a worker of one lane per thread (`config.threads` lanes), each a
/// consumer of its own on a single-threaded runtime of its own, sharing the
/// concurrency. It runs until shutdown, then finishes the probes in flight,
/// publishes and acknowledges them, and returns.
pub fn spawn(
    lanes: Vec<Lane>,
    keys: Keys,
    config: WorkerConfig,
    shutdown: Shutdown,
) -> std::io::Result<JoinHandle<()>> {
    let count = lanes.len();
    let mut running = Vec::with_capacity(count);
    for (i, lane) in lanes.into_iter().enumerate() {
        let lane_config = WorkerConfig {
            consumer: lane_consumer(&config.consumer, i, count),
            concurrency: config.concurrency.div_ceil(count).max(1),
            threads: 1,
            ..config.clone()
        };
        let (keys, shutdown) = (keys.clone(), shutdown.clone());
        running.push(spawn_on_own_runtime(
            "upwatch-worker",
            1,
            move || async move {
                let worker = Worker::new(lane.redis, keys, lane.prober, lane_config);
                consumer::run(worker, shutdown).await;
            },
        )?);
    }
    Ok(actix_web::rt::spawn(async move {
        futures_util::future::join_all(running).await;
    }))
}

/// A lane's consumer name: the worker's own when it has one lane, so a
/// restarted worker of one thread resumes what it had taken.
fn lane_consumer(consumer: &str, lane: usize, lanes: usize) -> String {
    if lanes <= 1 {
        consumer.to_owned()
    } else {
        format!("{consumer}-{lane}")
    }
}

/// The worker role: each step reads entries of jobs (or, every so often,
/// reclaims those a dead worker left) and starts their probes.
pub struct Worker {
    /// Kept for the reads; `pool` lends connections for the rarer rest.
    redis: HeldConnection,
    pool: RedisPool,
    keys: Keys,
    config: WorkerConfig,
    /// `None` once stopped: dropping it lets the publisher finish.
    probes: Option<Probes>,
    publisher: Option<JoinHandle<()>>,
    /// Whether the jobs this consumer took before a restart were started again.
    resumed: bool,
    /// When a step next reclaims instead of reading (at once for a new
    /// worker: what a dead one left is picked up first).
    next_reclaim: Instant,
}

impl Worker {
    /// A worker and its publisher; must be called on the runtime it runs on.
    pub fn new(redis: RedisPool, keys: Keys, prober: Prober, config: WorkerConfig) -> Self {
        let (finished_tx, finished_rx) = mpsc::unbounded_channel::<Finished>();
        let skips = Skips::default();
        let publisher = Publisher {
            skips: skips.clone(),
            finished: finished_rx,
            redis: HeldConnection::new(redis.clone()),
            keys: keys.clone(),
            partitions: config.partitions,
            batch: None,
            linger: AdaptiveLinger::new(PUBLISH_LINGER_MIN, PUBLISH_LINGER_MAX, PUBLISH_WANT),
        };
        // Publishing never gives up: a result is only lost if the process
        // dies, and then its job is still pending and will be reclaimed.
        let publisher = tokio::spawn(consumer::run(publisher, Shutdown::never()));
        let probes = Probes {
            prober,
            slots: Arc::new(Semaphore::new(config.concurrency)),
            finished: finished_tx,
            consumer: config.consumer.clone(),
            skips,
        };
        Self {
            redis: HeldConnection::new(redis.clone()),
            pool: redis,
            keys,
            config,
            probes: Some(probes),
            publisher: Some(publisher),
            resumed: false,
            next_reclaim: Instant::now(),
        }
    }

    /// How often entries left by dead workers are looked for.
    fn reclaim_every(&self) -> Duration {
        (self.config.reclaim_after / 2).clamp(Duration::from_millis(200), Duration::from_secs(5))
    }
}

/// Takes over entries idle for longer than `reclaim_after` and starts them.
async fn reclaim(
    redis: &mut HeldConnection,
    keys: &Keys,
    config: &WorkerConfig,
    probes: &Probes,
) -> Result<Outcome, StepError> {
    let free = probes.slots.available_permits();
    if free == 0 {
        return Ok(Outcome::Idle);
    }
    let min_idle_ms = usize::try_from(config.reclaim_after.as_millis()).unwrap_or(usize::MAX);
    let consumer = &config.consumer;
    let deliveries = redis
        .run(async |connection| {
            jobs::reclaim(connection, keys, consumer, min_idle_ms, entries_for(free)).await
        })
        .await
        .map_err(StepError::queue)?;
    let count = deliveries.len();
    for delivery in deliveries {
        tracing::info!(entry_id = %delivery.entry_id, times_delivered = delivery.times_delivered, "reclaimed jobs another worker left");
        probes.start(delivery).await;
    }
    Ok(Outcome::worked(count))
}

impl Step for Worker {
    fn name(&self) -> &'static str {
        "worker"
    }

    /// The group (again after a Redis failure: a Redis that restarted empty
    /// lost it with the stream); at the first start, the jobs this consumer
    /// took before a restart.
    async fn prepare(&mut self) -> Result<(), StepError> {
        let keys = &self.keys;
        self.redis
            .run(async |connection| jobs::ensure_group(connection, keys).await)
            .await
            .map_err(StepError::queue)?;
        if !self.resumed
            && let Some(probes) = &self.probes
        {
            self.resumed = true;
            probes
                .resume_own_pending(&self.pool, &self.keys, self.config.concurrency)
                .await;
        }
        Ok(())
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let reclaim = Instant::now() >= self.next_reclaim;
        if reclaim {
            self.next_reclaim = Instant::now() + self.reclaim_every();
        }
        let Some(probes) = &self.probes else {
            return Ok(Outcome::Finished);
        };
        if reclaim {
            return self::reclaim(&mut self.redis, &self.keys, &self.config, probes).await;
        }
        let count = entries_for(probes.wait_for_a_slot().await);
        let (keys, consumer) = (&self.keys, &self.config.consumer);
        let deliveries = self
            .redis
            .run(async |connection| {
                jobs::read(connection, keys, consumer, count, READ_BLOCK_MS).await
            })
            .await
            .map_err(StepError::queue)?;
        let count = deliveries.len();
        for delivery in deliveries {
            probes.start(delivery).await;
        }
        Ok(Outcome::worked(count))
    }

    /// Lets the probes in flight finish, then waits until their results are
    /// published and their entries acknowledged.
    async fn stop(&mut self) {
        let Some(probes) = self.probes.take() else {
            return;
        };
        tracing::info!(consumer = %self.config.consumer, "worker stopping: finishing probes in flight");
        probes.drain(self.config.concurrency).await;
        drop(probes);
        if let Some(publisher) = self.publisher.take() {
            let _ = publisher.await;
        }
    }
}

/// Runs probes in the background, at most as many at once as there are slots.
#[derive(Clone)]
struct Probes {
    prober: Prober,
    slots: Arc<Semaphore>,
    finished: mpsc::UnboundedSender<Finished>,
    consumer: String,
    skips: Skips,
}

impl Probes {
    /// Waits until at least one probe slot is free; returns how many are.
    async fn wait_for_a_slot(&self) -> usize {
        if self.slots.available_permits() == 0 {
            // Dropped at once: this only waits for a probe to finish.
            let _ = self.slots.acquire().await;
        }
        self.slots.available_permits().max(1)
    }

    /// Starts again the jobs this consumer took before a restart.
    async fn resume_own_pending(&self, redis: &RedisPool, keys: &Keys, count: usize) {
        let pending = on_redis(redis, async |connection| {
            jobs::own_pending(connection, keys, &self.consumer, count).await
        });
        match pending.await {
            Ok(deliveries) => {
                if !deliveries.is_empty() {
                    tracing::info!(
                        jobs = deliveries.len(),
                        "resuming jobs taken before a restart"
                    );
                }
                for delivery in deliveries {
                    self.start(delivery).await;
                }
            }
            // Not lost: a reclaiming step takes them over once they are idle.
            Err(error) => tracing::warn!(error = %error, "cannot read this worker's pending jobs"),
        }
    }

    /// Waits for every probe in flight to finish.
    async fn drain(&self, concurrency: usize) {
        let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
        let _ = self.slots.acquire_many(all).await;
    }

    /// Starts the probes of an entry's jobs, each as a slot frees up.
    async fn start(&self, delivery: Delivery) {
        let Delivery {
            entry_id,
            jobs,
            times_delivered,
        } = delivery;
        let jobs = match jobs {
            Ok(jobs) if !jobs.is_empty() => jobs,
            Ok(_) => {
                let _ = self.finished.send(Finished::Acknowledge(entry_id));
                return;
            }
            Err(reason) => {
                // Nothing to probe or to report on: drop it so it stops coming back.
                tracing::error!(entry_id = %entry_id, reason = %reason, "unreadable jobs dropped");
                let _ = self.finished.send(Finished::Acknowledge(entry_id));
                return;
            }
        };
        // A tick too late to be worth probing is skipped, and counted.
        let now = now_ms();
        let (late, jobs): (Vec<Job>, Vec<Job>) = jobs.into_iter().partition(|j| j.too_late(now));
        self.skips.skipped(
            late.iter().map(|job| job.monitor_id),
            "the worker got them too late",
        );
        if jobs.is_empty() {
            let _ = self.finished.send(Finished::Acknowledge(entry_id));
            return;
        }
        if times_delivered > MAX_DELIVERIES {
            for job in &jobs {
                let result = given_up(job, times_delivered, &self.consumer);
                log_probe(job, &result);
                let _ = self.finished.send(Finished::Result(result));
            }
            let _ = self.finished.send(Finished::Acknowledge(entry_id));
            return;
        }
        let entry = Arc::new(EntryInFlight {
            entry_id,
            unfinished: AtomicUsize::new(jobs.len()),
        });
        for job in jobs {
            // Only fails once the semaphore is closed, which it never is; the
            // entry would then stay pending and be reclaimed.
            let Ok(slot) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let (prober, finished, consumer, entry) = (
                self.prober.clone(),
                self.finished.clone(),
                self.consumer.clone(),
                entry.clone(),
            );
            tokio::spawn(async move {
                let outcome = prober.probe(&job.spec).await;
                let result = to_result(&job, outcome, consumer);
                log_probe(&job, &result);
                let _ = finished.send(Finished::Result(result));
                if let Some(entry_id) = entry.finish_one() {
                    let _ = finished.send(Finished::Acknowledge(entry_id));
                }
                drop(slot);
            });
        }
    }
}

/// Publishes finished results in batches, and acknowledges the entries
/// whose jobs are all done; finishes once every sender is gone.
struct Publisher {
    finished: mpsc::UnboundedReceiver<Finished>,
    redis: HeldConnection,
    keys: Keys,
    partitions: u16,
    /// Gathered and not yet published (kept across a failed attempt).
    batch: Option<(Vec<ProbeResult>, Vec<String>)>,
    linger: AdaptiveLinger,
    /// Added to their monitors after each publish.
    skips: Skips,
}

impl Step for Publisher {
    fn name(&self) -> &'static str {
        "result publisher"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        if self.batch.is_none() {
            let Some(first) = self.finished.recv().await else {
                return Ok(Outcome::Finished);
            };
            let began = Instant::now();
            let linger = self.linger.linger();
            let gathered = gather(first, &mut self.finished, linger, PUBLISH_BATCH).await;
            self.linger.observe(gathered.len(), began);
            let mut results = Vec::with_capacity(gathered.len());
            let mut entry_ids = Vec::new();
            for finished in gathered {
                match finished {
                    Finished::Result(result) => results.push(result),
                    Finished::Acknowledge(entry_id) => entry_ids.push(entry_id),
                }
            }
            self.batch = Some((results, entry_ids));
        }
        let Some((results, entry_ids)) = &self.batch else {
            return Ok(Outcome::Idle);
        };
        let (keys, partitions) = (&self.keys, self.partitions);
        self.redis
            .run(async |connection| {
                jobs::complete(connection, keys, partitions, results, entry_ids).await
            })
            .await
            .map_err(StepError::queue)?;
        let published = results.len() + entry_ids.len();
        self.batch = None;
        self.skips.record(&mut self.redis, keys).await;
        Ok(Outcome::Worked(published))
    }
}

fn to_result(job: &Job, observation: Observation, worker: String) -> ProbeResult {
    ProbeResult::observed(
        job.job_id,
        job.monitor_id,
        scheduled_at(job),
        observation,
        worker,
    )
}

/// The result recorded for a job no worker finished in `MAX_DELIVERIES` tries.
fn given_up(job: &Job, times_delivered: u64, worker: &str) -> ProbeResult {
    let now = to_micros(OffsetDateTime::now_utc());
    ProbeResult {
        job_id: job.job_id,
        monitor_id: job.monitor_id,
        scheduled_at: scheduled_at(job),
        started_at: now,
        checked_at: now,
        up: false,
        http_status: None,
        latency_ms: 0,
        error: Some(format!(
            "abandoned: delivered {times_delivered} times without a result"
        )),
        worker: worker.to_owned(),
        certificate_expires_at: None,
        observed_version: None,
    }
}

fn scheduled_at(job: &Job) -> OffsetDateTime {
    let nanos = i128::from(job.scheduled_at_ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn log_probe(job: &Job, result: &ProbeResult) {
    let span = |from: OffsetDateTime, to: OffsetDateTime| {
        std::time::Duration::try_from(to - from).unwrap_or_default()
    };
    crate::instruments::probe_finished(
        result.up,
        span(result.started_at, result.checked_at),
        span(result.scheduled_at, result.started_at),
    );
    tracing::debug!(
        monitor_id = %job.monitor_id,
        name = %job.name,
        job_id = %job.job_id,
        up = result.up,
        http_status = result.http_status,
        latency_ms = result.latency_ms,
        error = result.error.as_deref(),
        "probe finished"
    );
}
