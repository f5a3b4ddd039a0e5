//! Keeps this instance's partition leases for one role (scheduler or folder):
//! heartbeat, compute the balanced share, give up what is no longer ours,
//! renew what is, take what is free. Publishes the partitions this instance
//! may act on; a lease not renewed in time is dropped locally before Redis
//! could hand it to another instance.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::domain::partitions::assigned_to;
use crate::queue::keys::Keys;
use crate::queue::leases;
use crate::queue::{HeldConnection, RedisPool};
use crate::runtime::consumer::{self, Outcome, Step, StepError};
use crate::runtime::{Shutdown, now_ms};

#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// `scheduler` or `folder`: each role has its own leases.
    pub role: &'static str,
    /// Unique per process.
    pub member: String,
    pub partitions: u16,
    pub lease: Duration,
}

impl LeaseConfig {
    /// How often the keeper runs: a small fraction of the lease, so a dead
    /// instance's partitions are taken soon after its leases expire.
    fn cycle(&self) -> Duration {
        (self.lease / 10).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// How long before the lease's expiry in Redis this instance stops acting.
    fn margin(&self) -> Duration {
        self.lease / 5
    }
}

/// Runs one Redis step, but never past the earliest local lease expiry (nor
/// longer than a cycle): a Redis that hangs must not keep this instance
/// acting on a partition after its lease could have passed to another.
async fn bounded<T>(
    held: &BTreeMap<u16, Instant>,
    config: &LeaseConfig,
    step: impl Future<Output = Result<T, String>>,
) -> Result<T, String> {
    let now = Instant::now();
    let budget = held
        .values()
        .min()
        .map_or(config.cycle(), |earliest| {
            earliest.saturating_duration_since(now).min(config.cycle())
        })
        .max(Duration::from_millis(10));
    tokio::time::timeout(budget, step)
        .await
        .unwrap_or_else(|_| Err(format!("Redis did not answer within {budget:?}")))
}

/// The partitions this instance may act on, kept current.
pub type Owned = watch::Receiver<BTreeSet<u16>>;

pub fn spawn(
    redis: RedisPool,
    keys: Keys,
    config: LeaseConfig,
    shutdown: Shutdown,
) -> (Owned, JoinHandle<()>) {
    let (keeper, owned) = LeaseKeeper::new(redis, keys, config);
    let task = actix_web::rt::spawn(consumer::run(keeper, shutdown));
    (owned, task)
}

/// The lease keeper of one role: each step is one cycle (heartbeat, then
/// release, renew and take leases), and sleeps until the next.
pub struct LeaseKeeper {
    redis: HeldConnection,
    keys: Keys,
    config: LeaseConfig,
    owned: watch::Sender<BTreeSet<u16>>,
    /// The leases held, each with when this instance stops acting on it.
    held: BTreeMap<u16, Instant>,
}

impl LeaseKeeper {
    pub fn new(redis: RedisPool, keys: Keys, config: LeaseConfig) -> (Self, Owned) {
        let (owned, receiver) = watch::channel(BTreeSet::new());
        let keeper = Self {
            redis: HeldConnection::new(redis),
            keys,
            config,
            owned,
            held: BTreeMap::new(),
        };
        (keeper, receiver)
    }

    /// Tells the role's loop which partitions it may act on, if that changed.
    fn publish(&self) {
        let now: BTreeSet<u16> = self.held.keys().copied().collect();
        let (role, member) = (self.config.role, self.config.member.as_str());
        self.owned.send_if_modified(|current| {
            if *current == now {
                return false;
            }
            tracing::info!(role, member, partitions = now.len(), "partitions owned");
            crate::instruments::partitions_owned(role, now.len());
            *current = now;
            true
        });
    }

    /// One cycle. Failures are logged, not returned: what is held lapses on
    /// its own clock, so the next cycle must come on time whatever happened.
    async fn cycle(&mut self, started: Instant) {
        let (keys, config) = (&self.keys, &self.config);
        let (role, member) = (config.role, config.member.as_str());
        let members = bounded(&self.held, config, async {
            self.redis
                .run(async |c| {
                    leases::heartbeat(c, keys, role, member, now_ms(), config.lease).await
                })
                .await
        })
        .await;
        let members = match members {
            Ok(members) => members,
            Err(error) => {
                tracing::warn!(role, error = %error, "cannot send the heartbeat");
                return;
            }
        };
        let wanted = assigned_to(&members, config.partitions, member);
        let dropping: BTreeSet<u16> = self
            .held
            .keys()
            .filter(|p| !wanted.contains(p))
            .copied()
            .collect();
        if !dropping.is_empty() {
            // Stop acting first, then let the others have them.
            self.held.retain(|p, _| wanted.contains(p));
            self.publish();
            let _ = bounded(&self.held, config, async {
                self.redis
                    .run(async |c| leases::release(c, keys, role, member, &dropping).await)
                    .await
            })
            .await;
        }
        let keeping: BTreeSet<u16> = self.held.keys().copied().collect();
        let taken = self
            .redis
            .run(async |c| {
                leases::renew_and_acquire(c, keys, role, member, &keeping, &wanted, config.lease)
                    .await
            })
            .await;
        match taken {
            Ok(taken) => {
                let valid_until = started + config.lease - config.margin();
                self.held.retain(|p, _| taken.contains(p));
                for partition in taken {
                    self.held.insert(partition, valid_until);
                }
            }
            Err(error) => tracing::warn!(role, error = %error, "cannot renew leases"),
        }
    }
}

impl Step for LeaseKeeper {
    fn name(&self) -> &'static str {
        "lease keeper"
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let started = Instant::now();
        self.held.retain(|_, valid_until| *valid_until > started);
        self.publish();
        self.cycle(started).await;
        self.publish();
        let next = started + self.config.cycle();
        Ok(Outcome::Sleep(
            next.saturating_duration_since(Instant::now()),
        ))
    }

    /// A clean stop: act on nothing, then hand everything over at once.
    async fn stop(&mut self) {
        let releasing: BTreeSet<u16> = self.held.keys().copied().collect();
        self.held.clear();
        self.publish();
        let (keys, role, member) = (&self.keys, self.config.role, self.config.member.as_str());
        let _ = self
            .redis
            .run(async |c| {
                leases::release(c, keys, role, member, &releasing).await?;
                leases::leave(c, keys, role, member).await
            })
            .await;
    }
}
