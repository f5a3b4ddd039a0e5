//! A worker: reads entries of jobs through the `workers` consumer group,
//! runs up to `concurrency` probes at once, publishes each result to its
//! partition's results stream as soon as it is in, and acknowledges an entry
//! once the results of all its jobs are published. A reclaim loop takes over
//! the entries of workers that died. It runs on a multi-threaded runtime of
//! its own (`threads` threads), with its own Redis pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;

use super::batching::gather;
use super::{Shutdown, keep_trying, on_redis, spawn_on_own_runtime};
use crate::domain::ProbeResult;
use crate::domain::result::to_micros;
use crate::probe::{ProbeOutcome, Prober};
use crate::queue::RedisPool;
use crate::queue::jobs::{self, Delivery, JOBS_PER_ENTRY, Job};
use crate::queue::keys::Keys;

/// A job delivered more often than this is given up on and recorded as down.
pub const MAX_DELIVERIES: u64 = 3;
/// Stream entries read per round trip, at most.
const READ_BATCH: usize = 64;
/// How long a read waits for new entries; also how quickly shutdown and
/// lease changes are noticed. Well under the Redis reply timeout (see
/// `queue::pool`).
const READ_BLOCK_MS: usize = 200;
/// Results published per pipeline, at most, and how long the first waits:
/// long enough that, under load, a partition's results share an entry
/// (with 64 partitions, 5 ms gathered about one result per partition).
const PUBLISH_BATCH: usize = 2_000;
const PUBLISH_LINGER: Duration = Duration::from_millis(20);

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

/// Starts a worker; it runs until shutdown, then finishes the probes in
/// flight, publishes and acknowledges them, and returns. `redis` should be a
/// pool of its own: its connections are driven by the worker's runtime.
pub fn spawn(
    redis: RedisPool,
    keys: Keys,
    prober: Prober,
    config: WorkerConfig,
    shutdown: Shutdown,
) -> std::io::Result<JoinHandle<()>> {
    let threads = config.threads;
    spawn_on_own_runtime(
        "upwatch-worker",
        threads,
        run(redis, keys, prober, config, shutdown),
    )
}

async fn run(
    redis: RedisPool,
    keys: Keys,
    prober: Prober,
    config: WorkerConfig,
    mut shutdown: Shutdown,
) {
    tracing::info!(consumer = %config.consumer, concurrency = config.concurrency, "worker started");
    let (finished_tx, finished_rx) = mpsc::unbounded_channel::<Finished>();
    let publisher = tokio::spawn(publish_finished(
        finished_rx,
        redis.clone(),
        keys.clone(),
        config.partitions,
    ));
    let probes = Probes {
        prober,
        slots: Arc::new(Semaphore::new(config.concurrency)),
        finished: finished_tx,
        consumer: config.consumer.clone(),
    };
    let reclaimer = tokio::spawn(reclaim_loop(
        redis.clone(),
        keys.clone(),
        config.clone(),
        probes.clone(),
        shutdown.clone(),
    ));

    // Created again after any read error: a Redis that restarted empty has
    // lost the group along with the stream.
    let mut group_ready = false;
    let mut resumed = false;
    while !shutdown.is_requested() {
        if !group_ready {
            let ensured = on_redis(&redis, async |connection| {
                jobs::ensure_group(connection, &keys).await
            });
            if let Err(error) = ensured.await {
                tracing::warn!(error = %error, "cannot create the workers group; retrying");
                shutdown.sleep(Duration::from_millis(500)).await;
                continue;
            }
            group_ready = true;
            if !resumed {
                resumed = true;
                probes
                    .resume_own_pending(&redis, &keys, config.concurrency)
                    .await;
            }
        }
        let count = entries_for(probes.wait_for_a_slot().await);
        let read = on_redis(&redis, async |connection| {
            jobs::read(connection, &keys, &config.consumer, count, READ_BLOCK_MS).await
        });
        match read.await {
            Ok(deliveries) => {
                for delivery in deliveries {
                    probes.start(delivery).await;
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot read jobs; retrying");
                group_ready = false;
                shutdown.sleep(Duration::from_millis(500)).await;
            }
        }
    }
    reclaimer.abort();
    let _ = reclaimer.await;
    tracing::info!(consumer = %config.consumer, "worker stopping: finishing probes in flight");
    probes.drain(config.concurrency).await;
    drop(probes);
    let _ = publisher.await;
    tracing::info!(consumer = %config.consumer, "worker stopped");
}

/// Runs probes in the background, at most as many at once as there are slots.
#[derive(Clone)]
struct Probes {
    prober: Prober,
    slots: Arc<Semaphore>,
    finished: mpsc::UnboundedSender<Finished>,
    consumer: String,
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
            // Not lost: the reclaim loop takes them over once they are idle.
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

async fn reclaim_loop(
    redis: RedisPool,
    keys: Keys,
    config: WorkerConfig,
    probes: Probes,
    mut shutdown: Shutdown,
) {
    let every =
        (config.reclaim_after / 2).clamp(Duration::from_millis(200), Duration::from_secs(5));
    let min_idle_ms = usize::try_from(config.reclaim_after.as_millis()).unwrap_or(usize::MAX);
    while !shutdown.sleep(every).await {
        let free = probes.slots.available_permits();
        if free == 0 {
            continue;
        }
        let reclaimed = on_redis(&redis, async |connection| {
            jobs::reclaim(
                connection,
                &keys,
                &config.consumer,
                min_idle_ms,
                entries_for(free),
            )
            .await
        });
        match reclaimed.await {
            Ok(deliveries) => {
                for delivery in deliveries {
                    tracing::info!(entry_id = %delivery.entry_id, times_delivered = delivery.times_delivered, "reclaimed jobs another worker left");
                    probes.start(delivery).await;
                }
            }
            Err(error) => tracing::warn!(error = %error, "cannot reclaim jobs; retrying"),
        }
    }
}

/// Publishes finished results in batches; runs until every sender is gone.
async fn publish_finished(
    mut finished: mpsc::UnboundedReceiver<Finished>,
    redis: RedisPool,
    keys: Keys,
    partitions: u16,
) {
    // Publishing never gives up: a result is only lost if the process dies,
    // and then its job is still pending and will be reclaimed.
    let (_never, mut no_shutdown) = super::shutdown_channel();
    while let Some(first) = finished.recv().await {
        let batch = gather(first, &mut finished, PUBLISH_LINGER, PUBLISH_BATCH).await;
        let mut results = Vec::with_capacity(batch.len());
        let mut entry_ids = Vec::new();
        for finished in batch {
            match finished {
                Finished::Result(result) => results.push(result),
                Finished::Acknowledge(entry_id) => entry_ids.push(entry_id),
            }
        }
        keep_trying("publishing results", &mut no_shutdown, || {
            on_redis(&redis, async |connection| {
                jobs::complete(connection, &keys, partitions, &results, &entry_ids).await
            })
        })
        .await;
    }
}

fn to_result(job: &Job, outcome: ProbeOutcome, worker: String) -> ProbeResult {
    ProbeResult {
        job_id: job.job_id,
        monitor_id: job.monitor_id,
        scheduled_at: scheduled_at(job),
        started_at: to_micros(outcome.started_at),
        checked_at: to_micros(outcome.finished_at),
        up: outcome.up,
        http_status: outcome.http_status.map(i32::from),
        latency_ms: i32::try_from(outcome.latency_ms).unwrap_or(i32::MAX),
        error: outcome.error,
        worker,
    }
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
    }
}

fn scheduled_at(job: &Job) -> OffsetDateTime {
    let nanos = i128::from(job.scheduled_at_ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn log_probe(job: &Job, result: &ProbeResult) {
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
