//! The folder: a supervised actor that folds batches of probe results into
//! monitor health (one PostgreSQL transaction per batch, see
//! `store::batches`), fed by `FolderRole`, the step that reads the results
//! streams. Results are acknowledged in Redis only after the commit;
//! transitions are then appended to the transitions stream for the live feed.

use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, Addr, AtomicResponse, Context, Handler, Message, Supervised, Supervisor,
    WrapFuture,
};
use tokio::task::JoinHandle;

use super::leases::Owned;
use crate::domain::ProbeResult;
use crate::domain::feed::DriftMessage;
use crate::domain::folding::HealthCache;
use crate::domain::folding::Incident;
use crate::queue::keys::Keys;
use crate::queue::results::{self, ResultsEntry};
use crate::queue::stream::ReadFrom;
use crate::queue::transitions::{self, FeedItem, TransitionMessage};
use crate::queue::{HeldConnection, RedisPool, on_redis};
use crate::runtime::Shutdown;
use crate::runtime::batching::AdaptiveLinger;
use crate::runtime::consumer::{self, Outcome, Step, StepError};
use crate::runtime::retry::{Until, retry};
use crate::store::batches::{self, BatchOutcome};
use crate::store::{Pool, StoreError};

/// Results stream entries read per batch, at most (each holds one or more results).
const READ_BATCH: usize = 250;
/// After a read that did not fill a batch, the next waits until this long
/// after it, so results that arrive meanwhile are folded together: every
/// transaction has a fixed cost (five statements, a commit), paid once per
/// few hundred results instead of once per few dozen. The wait follows the
/// rate (about `GATHER_WANT` entries' worth) within these bounds, the upper
/// one part of the budget from a probe's end to its transition's record. A
/// result that arrives while the folder is idle is still read at once.
const GATHER_MIN: Duration = Duration::from_millis(50);
const GATHER_MAX: Duration = Duration::from_millis(500);
const GATHER_WANT: usize = 100;
/// How long a read waits for new entries; also how quickly shutdown and
/// lease changes are noticed (a takeover already waits out a lease). An idle
/// folder wakes once per read, so longer is cheaper. Well under the Redis
/// reply timeout (see `queue::pool`).
const READ_BLOCK_MS: usize = 1_000;
/// Results another folder read but left unacknowledged this long are taken over.
const RECLAIM_AFTER_MS: usize = 10_000;
const RECLAIM_EVERY: Duration = Duration::from_secs(5);

pub struct Folder {
    pg: Pool,
    /// Health of the monitors folded so far; lent to one batch at a time.
    health: HealthCache,
}

impl Actor for Folder {
    type Context = Context<Self>;
}

impl Supervised for Folder {
    fn restarting(&mut self, _: &mut Self::Context) {
        tracing::warn!("folder restarted");
    }
}

/// Fold these results; answers what was stored and which transitions happened.
#[derive(Message)]
#[rtype(result = "Result<BatchOutcome, StoreError>")]
pub struct FoldBatch(pub Vec<ProbeResult>);

impl Handler<FoldBatch> for Folder {
    // One batch at a time: a monitor's state is never folded by two at once.
    type Result = AtomicResponse<Self, Result<BatchOutcome, StoreError>>;

    fn handle(&mut self, FoldBatch(batch): FoldBatch, _: &mut Self::Context) -> Self::Result {
        let pg = self.pg.clone();
        let mut health = std::mem::take(&mut self.health);
        AtomicResponse::new(Box::pin(
            async move {
                let outcome = batches::record_batch(&pg, &batch, &mut health).await;
                (outcome, health)
            }
            .into_actor(self)
            .map(|(outcome, health), folder, _| {
                folder.health = health;
                outcome
            }),
        ))
    }
}

/// The partitions this folder holds changed: another folder may have folded
/// (or may yet fold) the monitors whose health it holds.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForgetHealth;

impl Handler<ForgetHealth> for Folder {
    // Atomic too, so it waits for a batch in progress, which holds the cache.
    type Result = AtomicResponse<Self, ()>;

    fn handle(&mut self, _: ForgetHealth, _: &mut Self::Context) -> Self::Result {
        AtomicResponse::new(Box::pin(
            actix::fut::ready(()).map(|(), folder: &mut Self, _| folder.health.forget_all()),
        ))
    }
}

#[derive(Debug, Clone)]
pub struct FolderConfig {
    /// This folder's consumer name in the group: unique per process.
    pub consumer: String,
    pub partitions: u16,
}

/// Runs the folder role until shutdown.
pub fn spawn(role: FolderRole, shutdown: Shutdown) -> JoinHandle<()> {
    actix_web::rt::spawn(consumer::run(role, shutdown))
}

/// The folder role: each step reads entries of results from the owned
/// partitions' streams (or, every so often, reclaims those a dead folder
/// left), has the actor fold them, publishes the transitions, and acks.
pub struct FolderRole {
    folder: Addr<Folder>,
    /// Kept for the reads; the writes after a commit retry on the pool.
    reader: HeldConnection,
    redis: RedisPool,
    keys: Keys,
    config: FolderConfig,
    owned: Owned,
    /// For the retries after a commit, which must not outlive shutdown.
    shutdown: Shutdown,
    streams: Vec<String>,
    /// After a failed fold, what this folder already read is read again first.
    from: ReadFrom,
    /// When a step next reclaims what a dead folder left instead of reading.
    next_reclaim: Instant,
    /// When the last read returned, if it did not fill a batch.
    gathering_since: Option<Instant>,
    gather: AdaptiveLinger,
}

impl FolderRole {
    /// Starts the folder actor; must be called inside the actix System.
    pub fn new(
        pg: Pool,
        redis: RedisPool,
        keys: Keys,
        config: FolderConfig,
        owned: Owned,
        shutdown: Shutdown,
    ) -> Self {
        let folder = Supervisor::start(move |_| Folder {
            pg,
            health: HealthCache::default(),
        });
        Self {
            folder,
            reader: HeldConnection::new(redis.clone()),
            redis,
            keys,
            config,
            owned,
            shutdown,
            streams: Vec::new(),
            from: ReadFrom::OwnPending,
            next_reclaim: Instant::now(),
            gathering_since: None,
            gather: AdaptiveLinger::new(GATHER_MIN, GATHER_MAX, GATHER_WANT),
        }
    }

    /// Follows the leases: only the partitions this folder holds. Newly
    /// taken ones may hold entries a dead folder read: read own pending
    /// first, and reclaim soon. Health folded for partitions that changed
    /// hands may be stale: forget it.
    async fn follow_leases(&mut self) {
        if !self.owned.has_changed().unwrap_or(false) && !self.streams.is_empty() {
            return;
        }
        self.streams = self
            .owned
            .borrow_and_update()
            .iter()
            .map(|p| self.keys.results(*p))
            .collect();
        if self.folder.send(ForgetHealth).await.is_err() {
            tracing::error!("the folder actor is gone");
        }
        self.from = ReadFrom::OwnPending;
        self.next_reclaim = Instant::now();
    }
}

impl Step for FolderRole {
    fn name(&self) -> &'static str {
        "folder"
    }

    /// The folders' groups (again after a Redis failure: a Redis that
    /// restarted empty lost them with the streams).
    async fn prepare(&mut self) -> Result<(), StepError> {
        let (keys, partitions) = (&self.keys, self.config.partitions);
        self.reader
            .run(async |connection| results::ensure_groups(connection, keys, partitions).await)
            .await
            .map_err(StepError::queue)
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        self.follow_leases().await;
        if self.streams.is_empty() {
            return Ok(Outcome::Sleep(Duration::from_millis(200)));
        }
        if let Some(since) = self.gathering_since.take() {
            let wait = self.gather.linger().saturating_sub(since.elapsed());
            if !wait.is_zero() {
                return Ok(Outcome::Sleep(wait));
            }
        }
        let reclaim = Instant::now() >= self.next_reclaim;
        let (streams, consumer, from) = (&self.streams, &self.config.consumer, self.from);
        let read = self.reader.run(async |connection| {
            if reclaim {
                results::reclaim(connection, streams, consumer, RECLAIM_AFTER_MS, READ_BATCH).await
            } else {
                results::read(
                    connection,
                    streams,
                    consumer,
                    from,
                    READ_BATCH,
                    READ_BLOCK_MS,
                )
                .await
            }
        });
        let entries = read.await.map_err(StepError::queue)?;
        if reclaim {
            self.next_reclaim = Instant::now() + RECLAIM_EVERY;
        }
        if entries.is_empty() {
            if !reclaim {
                self.from = ReadFrom::New;
            }
            return Ok(Outcome::Idle);
        }
        if !reclaim {
            self.gather.observe(entries.len(), Instant::now());
        }
        if entries.len() < READ_BATCH {
            self.gathering_since = Some(Instant::now());
        }
        let read = entries.len();
        fold_and_ack(
            &self.folder,
            &self.redis,
            &self.keys,
            entries,
            &mut self.shutdown,
        )
        .await
        .map_err(StepError::Store)?;
        Ok(Outcome::Worked(read))
    }

    /// Results that could not be folded stay pending: read them again first.
    fn failed(&mut self, _: &StepError) {
        self.from = ReadFrom::OwnPending;
    }
}

async fn fold_and_ack(
    folder: &Addr<Folder>,
    redis: &RedisPool,
    keys: &Keys,
    mut entries: Vec<ResultsEntry>,
    shutdown: &mut Shutdown,
) -> Result<(), String> {
    // The results move into the batch; the entries keep what the ack needs.
    let mut batch = Vec::with_capacity(entries.len());
    for entry in &mut entries {
        match &mut entry.payload {
            Ok(results) => batch.append(results),
            Err(reason) => {
                tracing::error!(stream = %entry.stream, entry_id = %entry.id, reason = %reason, "unreadable results dropped");
            }
        }
    }
    let outcome = folder
        .send(FoldBatch(batch))
        .await
        .map_err(|e| format!("the folder actor is gone: {e}"))?
        .map_err(|e| e.to_string())?;
    let messages: Vec<TransitionMessage> = outcome
        .transitions
        .iter()
        .map(TransitionMessage::from)
        .collect();
    for transition in &messages {
        crate::instruments::transition(transition.to.as_str());
        tracing::info!(
            monitor_id = %transition.monitor_id,
            name = %transition.name,
            from = transition.from.as_str(),
            to = transition.to.as_str(),
            reason = %transition.reason,
            latency_ms = transition.latency_ms,
            http_status = transition.http_status,
            error = transition.error.as_deref(),
            seq = transition.seq,
            "status changed"
        );
    }
    for (seq, drift) in &outcome.drifts {
        let d = &drift.drift;
        if drift.detected {
            tracing::warn!(
                monitor_id = %drift.monitor_id, name = %drift.name, expected = %d.expected,
                observed = %d.observed, seq, "VERSION DRIFT: {} reports {}, expected {}",
                drift.name, d.observed, d.expected
            );
        } else {
            tracing::info!(
                monitor_id = %drift.monitor_id, name = %drift.name, expected = %d.expected,
                observed = %d.observed, seq, "version drift resolved"
            );
        }
    }
    for (monitor_id, name, incident) in &outcome.incidents {
        match incident {
            Incident::Began {
                reason,
                consecutive_failures,
            } => tracing::warn!(
                incident = true, monitor_id = %monitor_id, name = %name, reason = %reason,
                consecutive_failures, "monitor is DOWN"
            ),
            Incident::Ended { outage } => tracing::info!(
                incident = false, monitor_id = %monitor_id, name = %name,
                outage_seconds = outage.map(|d| d.as_seconds_f64()),
                "monitor recovered"
            ),
        }
    }
    // Transitions and drift changes, in log order, for the live feed.
    let mut feed: Vec<FeedItem> = messages.into_iter().map(FeedItem::Transition).collect();
    feed.extend(outcome.drifts.iter().map(|(seq, d)| {
        FeedItem::Drift(DriftMessage {
            seq: *seq,
            monitor_id: d.monitor_id,
            name: d.name.clone(),
            expected: d.drift.expected.clone(),
            observed: d.drift.observed.clone(),
            at: d.drift.checked_at,
            resolved: !d.detected,
            tags: d.tags.clone(),
        })
    }));
    feed.sort_by_key(FeedItem::seq);
    // Committed: from here on a retry could only duplicate, never lose.
    let _ = retry("publishing transitions", Until::Shutdown(shutdown), || {
        on_redis(redis, async |connection| {
            transitions::publish(connection, keys, &feed).await
        })
    })
    .await;
    let _ = retry("acknowledging results", Until::Shutdown(shutdown), || {
        on_redis(redis, async |connection| {
            results::ack(connection, &entries).await
        })
    })
    .await;
    Ok(())
}
