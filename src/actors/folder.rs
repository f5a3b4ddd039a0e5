//! The folder: a supervised actor that folds batches of probe results into
//! monitor health (one PostgreSQL transaction per batch, see
//! `store::folding`), fed by a reader on the results streams. Results are
//! acknowledged in Redis only after the commit; transitions are then appended
//! to the transitions stream for the live feed.

use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt, Addr, AtomicResponse, Context, Handler, Message, Supervised, Supervisor,
    WrapFuture,
};
use tokio::task::JoinHandle;

use super::leases::Owned;
use super::{Shutdown, keep_trying, on_redis};
use crate::domain::ProbeResult;
use crate::queue::RedisPool;
use crate::queue::keys::Keys;
use crate::queue::results::{self, ResultsEntry};
use crate::queue::stream::ReadFrom;
use crate::queue::transitions::{self, TransitionMessage};
use crate::store::folding::{self, FoldOutcome, HealthCache};
use crate::store::{Pool, StoreError};

/// Results stream entries read per batch, at most (each holds one or more results).
const READ_BATCH: usize = 250;
/// After a read that did not fill a batch, the next waits until this long
/// after it, so results that arrive meanwhile are folded together: every
/// transaction has a fixed cost (five statements, a commit), paid once per
/// few hundred results instead of once per few dozen. A result that arrives
/// while the folder is idle is still read at once.
const GATHER_FOR: Duration = Duration::from_millis(50);
/// How long a read waits for new entries; also how quickly shutdown and
/// lease changes are noticed. Well under the Redis reply timeout (see
/// `queue::pool`).
const READ_BLOCK_MS: usize = 200;
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
#[rtype(result = "Result<FoldOutcome, StoreError>")]
pub struct FoldBatch(pub Vec<ProbeResult>);

impl Handler<FoldBatch> for Folder {
    // One batch at a time: a monitor's state is never folded by two at once.
    type Result = AtomicResponse<Self, Result<FoldOutcome, StoreError>>;

    fn handle(&mut self, FoldBatch(batch): FoldBatch, _: &mut Self::Context) -> Self::Result {
        let pg = self.pg.clone();
        let mut health = std::mem::take(&mut self.health);
        AtomicResponse::new(Box::pin(
            async move {
                let outcome = folding::fold_batch(&pg, &batch, &mut health).await;
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

/// Starts the folder actor and its reader; they run until shutdown.
pub fn spawn(
    pg: Pool,
    redis: RedisPool,
    keys: Keys,
    config: FolderConfig,
    owned: Owned,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    let folder = Supervisor::start(move |_| Folder {
        pg,
        health: HealthCache::default(),
    });
    actix_web::rt::spawn(read_and_fold(folder, redis, keys, config, owned, shutdown))
}

async fn read_and_fold(
    folder: Addr<Folder>,
    redis: RedisPool,
    keys: Keys,
    config: FolderConfig,
    mut owned: Owned,
    mut shutdown: Shutdown,
) {
    tracing::info!(consumer = %config.consumer, partitions = config.partitions, "folder started");
    let mut streams: Vec<String> = Vec::new();
    // After a failed fold, what this folder already read is read again first.
    let mut from = ReadFrom::OwnPending;
    let mut last_reclaim = Instant::now();
    // When the last read returned, if it did not fill a batch.
    let mut gathering_since: Option<Instant> = None;
    // Created again after any read error: a Redis that restarted empty has
    // lost the groups along with the streams.
    let mut groups_ready = false;
    while !shutdown.is_requested() {
        if !groups_ready {
            let ensured = on_redis(&redis, async |connection| {
                results::ensure_groups(connection, &keys, config.partitions).await
            });
            if let Err(error) = ensured.await {
                tracing::warn!(error = %error, "cannot create the folders groups; retrying");
                shutdown.sleep(Duration::from_millis(500)).await;
                continue;
            }
            groups_ready = true;
        }
        if owned.has_changed().unwrap_or(false) || streams.is_empty() {
            // Only the partitions this folder holds leases on; newly taken
            // ones may hold entries a dead folder read: read own pending
            // first, and reclaim soon.
            streams = owned
                .borrow_and_update()
                .iter()
                .map(|p| keys.results(*p))
                .collect();
            if folder.send(ForgetHealth).await.is_err() {
                tracing::error!("the folder actor is gone");
            }
            from = ReadFrom::OwnPending;
            last_reclaim = Instant::now() - RECLAIM_EVERY;
            if streams.is_empty() {
                shutdown.sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        if let Some(since) = gathering_since.take() {
            let wait = GATHER_FOR.saturating_sub(since.elapsed());
            if !wait.is_zero() && shutdown.sleep(wait).await {
                break;
            }
        }
        let reclaim = last_reclaim.elapsed() >= RECLAIM_EVERY;
        let read = on_redis(&redis, async |connection| {
            if reclaim {
                results::reclaim(
                    connection,
                    &streams,
                    &config.consumer,
                    RECLAIM_AFTER_MS,
                    READ_BATCH,
                )
                .await
            } else {
                results::read(
                    connection,
                    &streams,
                    &config.consumer,
                    from,
                    READ_BATCH,
                    READ_BLOCK_MS,
                )
                .await
            }
        });
        if reclaim {
            last_reclaim = Instant::now();
        }
        let entries = match read.await {
            Ok(entries) => entries,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read results; retrying");
                groups_ready = false;
                shutdown.sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if entries.is_empty() {
            if !reclaim {
                from = ReadFrom::New;
            }
            continue;
        }
        if entries.len() < READ_BATCH {
            gathering_since = Some(Instant::now());
        }
        let read = entries.len();
        match fold_and_ack(&folder, &redis, &keys, entries, &mut shutdown).await {
            Ok(()) => {}
            Err(error) => {
                tracing::warn!(error = %error, entries = read, "cannot fold results; they stay pending and are retried");
                from = ReadFrom::OwnPending;
                shutdown.sleep(Duration::from_millis(500)).await;
            }
        }
    }
    tracing::info!(consumer = %config.consumer, "folder stopped");
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
    // Committed: from here on a retry could only duplicate, never lose.
    keep_trying("publishing transitions", shutdown, || {
        on_redis(redis, async |connection| {
            transitions::publish(connection, keys, &messages).await
        })
    })
    .await;
    keep_trying("acknowledging results", shutdown, || {
        on_redis(redis, async |connection| {
            results::ack(connection, &entries).await
        })
    })
    .await;
    Ok(())
}
