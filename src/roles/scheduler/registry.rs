//! The registry keeps one supervised `MonitorActor` per probed monitor of the
//! partitions this instance holds leases on. The `Watcher` step loads every
//! active monitor at start, then follows the event log, so a change made
//! through any API process reaches the owning scheduler. It reads the log
//! when PostgreSQL says it grew (`LISTEN`), polling only while it cannot listen.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use actix::{Actor, Addr, Context, Handler, Message, Supervisor};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::emitter::JobSender;
use super::monitor::{MonitorActor, ProbePlan, Reconfigure, Retire};
use crate::domain::{Monitor, partition_of};
use crate::queue::keys::Keys;
use crate::queue::{RedisPool, on_redis, progress};
use crate::roles::leases::Owned;
use crate::runtime::Shutdown;
use crate::runtime::consumer::{self, Outcome, Step, StepError};
use crate::store::listen::{self, Listener};
use crate::store::{self, Pool, StoreError, event_log, monitors};

/// How often the event log is checked for changes while no notification
/// can arrive (the `LISTEN` connection is down).
const WATCH_EVERY: Duration = Duration::from_millis(200);
/// How often it is read anyway while listening: a safety net, cheap at idle.
const LISTENING_WATCH_EVERY: Duration = Duration::from_secs(5);
/// Events read per check.
const WATCH_BATCH: i64 = 500;
/// Tries at reading a takeover's progress (waiting 0.75 s in all) before its
/// fallen ticks go uncounted rather than holding up the partitions longer.
const PROGRESS_ATTEMPTS: u32 = 5;

struct Running {
    plan: ProbePlan,
    actor: Addr<MonitorActor>,
}

pub struct Registry {
    jobs: JobSender,
    partitions: u16,
    /// Every active monitor, owned partition or not.
    known: HashMap<Uuid, Monitor>,
    /// The partitions this instance schedules (its leases).
    owned: BTreeSet<u16>,
    /// Partitions just taken over: how far their last scheduler got.
    taken_over: HashMap<u16, u64>,
    running: HashMap<Uuid, Running>,
}

impl Registry {
    pub fn new(jobs: JobSender, partitions: u16) -> Self {
        Self {
            jobs,
            partitions,
            known: HashMap::new(),
            owned: BTreeSet::new(),
            taken_over: HashMap::new(),
            running: HashMap::new(),
        }
    }

    fn remember(&mut self, monitor: &Monitor) {
        if monitor.is_active() {
            self.known.insert(monitor.id, monitor.clone());
        } else {
            self.known.remove(&monitor.id);
        }
    }

    fn sync(&mut self, monitor: &Monitor) {
        let partition = partition_of(monitor.id, self.partitions);
        let ours = self.owned.contains(&partition);
        if !monitor.is_active() || !ours {
            if let Some(stopped) = self.running.remove(&monitor.id) {
                stopped.actor.do_send(Retire);
                tracing::info!(monitor_id = %monitor.id, "monitor stopped");
            }
            return;
        }
        let plan = ProbePlan::from(monitor);
        match self.running.get_mut(&monitor.id) {
            Some(running) if running.plan == plan => {}
            Some(running) => {
                running.plan = plan.clone();
                running.actor.do_send(Reconfigure(plan));
                tracing::info!(monitor_id = %monitor.id, "monitor reconfigured");
            }
            None => {
                let (id, jobs) = (monitor.id, self.jobs.clone());
                let first_plan = plan.clone();
                // Ticks before its last change (its creation, a resume) were
                // never due from the last scheduler.
                let handled = self.taken_over.get(&partition).map(|&handled| {
                    let changed = monitor.updated_at.unix_timestamp_nanos() / 1_000_000;
                    handled.max(u64::try_from(changed).unwrap_or(0))
                });
                let actor =
                    Supervisor::start(move |_| MonitorActor::new(id, first_plan, jobs, handled));
                self.running.insert(id, Running { plan, actor });
                tracing::info!(monitor_id = %id, name = %monitor.config.name.as_ref(), "monitor started");
            }
        }
    }
}

impl Actor for Registry {
    type Context = Context<Self>;
}

/// The full set of active monitors: anything running that is not in it stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LoadAll(pub Vec<Monitor>);

impl Handler<LoadAll> for Registry {
    type Result = ();

    fn handle(&mut self, LoadAll(monitors): LoadAll, _: &mut Self::Context) {
        self.known = monitors.into_iter().map(|m| (m.id, m)).collect();
        for (_, stopped) in self
            .running
            .extract_if(|id, _| !self.known.contains_key(id))
        {
            stopped.actor.do_send(Retire);
        }
        self.sync_all();
        tracing::debug!(
            known = self.known.len(),
            running = self.running.len(),
            "monitors reconciled with the projection"
        );
    }
}

/// Every active monitor's id and version, read from the projection: the
/// registry stops and forgets what is not among them, and answers which of
/// them it must be sent whole (unknown to it, or at another version).
#[derive(Message)]
#[rtype(result = "Vec<Uuid>")]
pub struct Reconcile(pub Vec<(Uuid, i64)>);

impl Handler<Reconcile> for Registry {
    type Result = Vec<Uuid>;

    fn handle(&mut self, Reconcile(active): Reconcile, _: &mut Self::Context) -> Vec<Uuid> {
        let differences = differences(&self.known, |monitor| monitor.version, &active);
        for id in &differences.gone {
            self.known.remove(id);
            if let Some(stopped) = self.running.remove(id) {
                stopped.actor.do_send(Retire);
                tracing::info!(monitor_id = %id, "monitor stopped");
            }
        }
        if !differences.gone.is_empty() || !differences.stale.is_empty() {
            tracing::warn!(
                gone = differences.gone.len(),
                stale = differences.stale.len(),
                "the registry missed changes that the projection has; catching up"
            );
        }
        differences.stale
    }
}

/// How the monitors a registry knows (id, version) differ from the active
/// ones of the projection.
#[derive(Debug, PartialEq, Eq)]
struct Differences {
    /// Known, but no longer active.
    gone: Vec<Uuid>,
    /// Active, but unknown or known at another version.
    stale: Vec<Uuid>,
}

fn differences<V>(
    known: &HashMap<Uuid, V>,
    version: impl Fn(&V) -> i64,
    active: &[(Uuid, i64)],
) -> Differences {
    let active_ids: HashSet<Uuid> = active.iter().map(|&(id, _)| id).collect();
    let mut gone: Vec<Uuid> = known
        .keys()
        .filter(|id| !active_ids.contains(id))
        .copied()
        .collect();
    gone.sort_unstable();
    let stale = active
        .iter()
        .filter(|&&(id, listed)| known.get(&id).map(&version) != Some(listed))
        .map(|&(id, _)| id)
        .collect();
    Differences { gone, stale }
}

/// One monitor as it is now: start, reconfigure or stop its actor.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Changed(pub Monitor);

impl Handler<Changed> for Registry {
    type Result = ();

    fn handle(&mut self, Changed(monitor): Changed, _: &mut Self::Context) {
        self.remember(&monitor);
        self.sync(&monitor);
    }
}

/// The partitions this instance now holds leases on, and for those just
/// taken over how far their last scheduler got (see `queue::progress`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct OwnedPartitions {
    pub owned: BTreeSet<u16>,
    pub taken_over: HashMap<u16, u64>,
}

impl Handler<OwnedPartitions> for Registry {
    type Result = ();

    fn handle(&mut self, partitions: OwnedPartitions, _: &mut Self::Context) {
        self.owned = partitions.owned;
        self.taken_over = partitions.taken_over;
        let gone: Vec<Uuid> = self
            .running
            .keys()
            .filter(|id| !self.known.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(stopped) = self.running.remove(&id) {
                stopped.actor.do_send(Retire);
            }
        }
        self.sync_all();
        self.taken_over.clear();
        tracing::info!(
            partitions = self.owned.len(),
            running = self.running.len(),
            "scheduling the monitors of the owned partitions"
        );
    }
}

impl Registry {
    fn sync_all(&mut self) {
        // `sync` leaves `known` alone: taken out, it needs no copy.
        let known = std::mem::take(&mut self.known);
        for monitor in known.values() {
            self.sync(monitor);
        }
        self.known = known;
    }
}

/// How many monitor actors are running.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountRunning;

impl Handler<CountRunning> for Registry {
    type Result = usize;

    fn handle(&mut self, _: CountRunning, _: &mut Self::Context) -> usize {
        self.running.len()
    }
}

/// Where the watcher reads the event log, where it listens for appends, and
/// how often it compares the registry with the projection (by id and
/// version; only what differs is read whole), as a safety net.
pub struct LogSource {
    pub pool: Pool,
    pub listen_on: tokio_postgres::Config,
    pub reconcile_every: Duration,
}

/// Loads every active monitor into the registry, then follows the event log
/// (changes reach the registry as their commit is notified, within
/// `WATCH_EVERY` while it cannot listen), passes on lease changes, and
/// reconciles with the projection every `LogSource::reconcile_every`.
pub fn watch(
    log: LogSource,
    redis: RedisPool,
    keys: Keys,
    registry: Addr<Registry>,
    owned: Owned,
    scheduling: watch::Sender<BTreeSet<u16>>,
    shutdown: Shutdown,
) -> JoinHandle<()> {
    let watcher = Watcher {
        pg: log.pool,
        database: log.listen_on,
        reconcile_every: log.reconcile_every,
        listener: None,
        redis,
        keys,
        registry,
        owned,
        scheduling,
        cursor: 0,
        last_reconcile: Instant::now(),
    };
    actix_web::rt::spawn(consumer::run(watcher, shutdown))
}

/// The scheduler's view of the log: `prepare` loads every active monitor,
/// each step passes on lease changes and the monitors changed since.
pub struct Watcher {
    pg: Pool,
    /// Where to `LISTEN` for appends to the event log.
    database: tokio_postgres::Config,
    listener: Option<Listener>,
    /// Used only on a takeover: a pooled connection, checked when taken,
    /// rather than a kept one a Redis restart may have broken since.
    redis: RedisPool,
    keys: Keys,
    registry: Addr<Registry>,
    owned: Owned,
    /// The partitions passed on to the registry: the emitter notes progress
    /// for these, so a partition's last progress is read before it moves.
    scheduling: watch::Sender<BTreeSet<u16>>,
    /// The event log position read up to.
    cursor: i64,
    reconcile_every: Duration,
    last_reconcile: Instant,
}

impl Watcher {
    /// Tells the registry which partitions this instance now schedules,
    /// with how far scheduling got in those it takes over. Without that
    /// (Redis away), their fallen ticks go uncounted, as before there was
    /// progress to read.
    async fn pass_on_leases(&mut self) {
        let owned = self.owned.borrow_and_update().clone();
        let taken: Vec<u16> = owned
            .difference(&self.scheduling.borrow())
            .copied()
            .collect();
        let taken_over = self.read_progress(&taken).await;
        self.registry.do_send(OwnedPartitions {
            owned: owned.clone(),
            taken_over,
        });
        self.scheduling.send_replace(owned);
    }

    /// How far scheduling got in `partitions`, tried a few times: a takeover
    /// often follows a Redis restart by moments.
    async fn read_progress(&self, partitions: &[u16]) -> HashMap<u16, u64> {
        let keys = &self.keys;
        let mut delay = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            let read = on_redis(&self.redis, async |connection| {
                progress::read(connection, keys, partitions).await
            })
            .await;
            match read {
                Ok(progress) => return progress,
                Err(error) if attempt == PROGRESS_ATTEMPTS => {
                    tracing::warn!(error = %error, "ticks that fell during a takeover go uncounted");
                    return HashMap::new();
                }
                Err(error) => {
                    tracing::debug!(error = %error, attempt, "reading how far scheduling got");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
            }
        }
    }

    /// A listener that is up, started again if it was lost (from the next
    /// read on, nothing appended meanwhile is missed: reads follow the cursor).
    async fn listen(&mut self) {
        if self.listener.as_ref().is_some_and(|l| !l.is_lost()) {
            return;
        }
        if self.listener.take().is_some() {
            tracing::warn!("lost the LISTEN connection: polling the event log until it is back");
        }
        match Listener::start(&self.database, event_log::APPENDED).await {
            Ok(listener) => self.listener = Some(listener),
            Err(error) => tracing::debug!(error = %error, "cannot LISTEN for event log appends"),
        }
    }

    async fn load_all(&mut self) -> Result<(), StepError> {
        let (cursor, active) = load_all(&self.pg).await.map_err(StepError::store)?;
        self.cursor = cursor;
        self.registry.do_send(LoadAll(active));
        self.last_reconcile = Instant::now();
        Ok(())
    }

    /// Compares the registry with the projection and sends it what it
    /// missed. The cursor stays: following the log goes on as before.
    async fn reconcile(&mut self) -> Result<(), StepError> {
        self.last_reconcile = Instant::now();
        let client = store::connection(&self.pg, "reconciling the monitors")
            .await
            .map_err(StepError::store)?;
        let active = monitors::active_versions(&client)
            .await
            .map_err(StepError::store)?;
        let stale = self
            .registry
            .send(Reconcile(active))
            .await
            .map_err(|error| StepError::store(format!("the registry is gone: {error}")))?;
        for ids in stale.chunks(usize::try_from(WATCH_BATCH).unwrap_or(500)) {
            let views = monitors::find_many(&client, ids)
                .await
                .map_err(StepError::store)?;
            for view in views {
                self.registry.do_send(Changed(view.monitor));
            }
        }
        Ok(())
    }
}

impl Step for Watcher {
    fn name(&self) -> &'static str {
        "scheduler"
    }

    async fn prepare(&mut self) -> Result<(), StepError> {
        self.listen().await;
        self.load_all().await?;
        self.pass_on_leases().await;
        Ok(())
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        if self.owned.has_changed().unwrap_or(false) {
            self.pass_on_leases().await;
        }
        self.listen().await;
        if self.last_reconcile.elapsed() >= self.reconcile_every {
            self.reconcile().await?;
        }
        let (changed, read_up_to, full) = changes_after(&self.pg, self.cursor)
            .await
            .map_err(StepError::store)?;
        self.cursor = read_up_to;
        let count = changed.len();
        for monitor in changed {
            self.registry.do_send(Changed(monitor));
        }
        if full {
            // More is waiting now: no notification will say so again.
            return Ok(Outcome::worked(count));
        }
        // Until the log grows or the next look at it; a lease change
        // meanwhile is passed on at once.
        let listener = self.listener.as_ref();
        let every = if listener.is_some() {
            LISTENING_WATCH_EVERY
        } else {
            WATCH_EVERY
        }
        .min(self.reconcile_every);
        let appended = listen::woken_by(listener);
        tokio::select! {
            changed = self.owned.changed() => match changed {
                Ok(()) => self.pass_on_leases().await,
                // The lease keeper is gone (shutting down): just wait.
                Err(_) => tokio::time::sleep(every).await,
            },
            () = appended => {}
            () = tokio::time::sleep(every) => {}
        }
        Ok(Outcome::Idle)
    }
}

/// The log position first, then the monitors: a change in between is seen
/// twice, which is harmless, rather than missed.
async fn load_all(pg: &Pool) -> Result<(i64, Vec<Monitor>), StoreError> {
    let client = store::connection(pg, "loading monitors").await?;
    let cursor = event_log::latest_seq(&client).await?;
    let active = monitors::list_active(&client).await?;
    Ok((cursor, active))
}

/// The monitors changed after `cursor` (in one page of the log), where that
/// page ends, and whether it was full.
async fn changes_after(pg: &Pool, cursor: i64) -> Result<(Vec<Monitor>, i64, bool), StoreError> {
    let client = store::connection(pg, "following monitor changes").await?;
    let changes = event_log::configured_after(&client, cursor, WATCH_BATCH).await?;
    let changed = monitors::find_many(&client, &changes.monitors).await?;
    Ok((
        changed.into_iter().map(|view| view.monitor).collect(),
        changes.read_up_to,
        changes.full,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn only_what_differs_from_the_projection_is_read_again() {
        let known = HashMap::from([(id(1), 3), (id(2), 5), (id(3), 1)]);
        // 1 as known, 2 changed since, 3 deleted or paused, 4 missed.
        let active = [(id(1), 3), (id(2), 6), (id(4), 1)];
        assert_eq!(
            differences(&known, |&version| version, &active),
            Differences {
                gone: vec![id(3)],
                stale: vec![id(2), id(4)],
            }
        );
    }

    #[test]
    fn a_registry_that_missed_nothing_has_no_differences() {
        let known = HashMap::from([(id(1), 3), (id(2), 5)]);
        let active = [(id(2), 5), (id(1), 3)];
        let none = differences(&known, |&version| version, &active);
        assert_eq!(none.gone, Vec::<Uuid>::new());
        assert_eq!(none.stale, Vec::<Uuid>::new());
        let empty = differences(&HashMap::<Uuid, i64>::new(), |&v| v, &[]);
        assert!(empty.gone.is_empty() && empty.stale.is_empty());
    }
}
