//! Partition leases on a real Redis: shares are balanced, a clean stop hands
//! over at once, and an instance that cannot renew stops acting before its
//! lease could pass to another.

use std::time::{Duration, Instant};

use upwatch::config::{KeyPrefix, RedisUrl};
use upwatch::queue::keys::Keys;
use upwatch::roles::leases::{self, LeaseConfig, LeaseKeeper, Owned};
use upwatch::runtime::consumer::{Outcome, Step};
use upwatch::runtime::shutdown_channel;
use uuid::Uuid;

use crate::health::ThrowawayRedis;
use crate::helpers::{RedisGuard, redis_url, wait_for};

const PATIENCE: Duration = Duration::from_secs(20);

fn config(member: &str, lease: Duration) -> LeaseConfig {
    LeaseConfig {
        role: "scheduler",
        member: member.to_owned(),
        partitions: 8,
        lease,
    }
}

async fn wait_for_count(owned: &Owned, count: usize, what: &str) {
    wait_for(what, PATIENCE, || async {
        (owned.borrow().len() == count).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn shares_balance_and_a_clean_stop_hands_over_at_once() {
    let prefix = format!("upwatch-test-{}", Uuid::new_v4().simple());
    let _guard = RedisGuard(prefix.clone());
    let pool = upwatch::queue::pool(&RedisUrl::parse(&redis_url()).unwrap(), 4).unwrap();
    let keys = Keys::new(&KeyPrefix::parse(&prefix).unwrap());
    let lease = Duration::from_secs(30);
    let (stop_a, shutdown_a) = shutdown_channel();
    let (stop_b, shutdown_b) = shutdown_channel();
    let (a, _) = leases::spawn(pool.clone(), keys.clone(), config("a", lease), shutdown_a);
    let (b, task_b) = leases::spawn(pool.clone(), keys.clone(), config("b", lease), shutdown_b);
    wait_for_count(&a, 4, "a to hold half").await;
    wait_for_count(&b, 4, "b to hold half").await;
    assert!(a.borrow().is_disjoint(&b.borrow()));

    // b stops cleanly: a takes everything long before b's 30 s leases expire.
    let stopped_at = Instant::now();
    stop_b.trigger();
    task_b.await.unwrap();
    assert!(b.borrow().is_empty());
    wait_for_count(&a, 8, "a to take b's partitions").await;
    assert!(stopped_at.elapsed() < Duration::from_secs(5));
    stop_a.trigger();
}

#[actix_web::test]
async fn an_instance_that_cannot_renew_stops_acting_before_its_lease_expires() {
    let mut redis = ThrowawayRedis::start();
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let pool = upwatch::queue::pool(&RedisUrl::parse(&url).unwrap(), 2).unwrap();
    let keys = Keys::new(&KeyPrefix::parse("lease-test").unwrap());
    let lease = Duration::from_secs(2);
    let (_stop, shutdown) = shutdown_channel();
    let (owned, _task) = leases::spawn(pool, keys, config("alone", lease), shutdown);
    wait_for_count(&owned, 8, "every partition").await;

    redis.child.kill().unwrap();
    redis.child.wait().unwrap();
    // The last renewal was at most now; the lease in Redis lasts until at
    // least then + `lease`. The instance must let go before that.
    let killed_at = Instant::now();
    wait_for_count(&owned, 0, "the partitions to be given up").await;
    let held_for = killed_at.elapsed();
    assert!(
        held_for < lease,
        "still acting {held_for:?} after the last possible renewal"
    );
}

/// Stepped by hand: a keeper's step takes the share its heartbeat gives it,
/// and a keeper of the same instance after a crash (no clean stop) takes the
/// dead one's leases back in its first step, not after they expire.
#[actix_web::test]
async fn a_step_takes_the_share_and_a_restarted_instance_takes_its_own_back() {
    let prefix = format!("upwatch-test-{}", Uuid::new_v4().simple());
    let _guard = RedisGuard(prefix.clone());
    let pool = upwatch::queue::pool(&RedisUrl::parse(&redis_url()).unwrap(), 2).unwrap();
    let keys = Keys::new(&KeyPrefix::parse(&prefix).unwrap());
    let lease = Duration::from_secs(60);

    let (mut first, owned) = LeaseKeeper::new(pool.clone(), keys.clone(), config("a", lease));
    assert!(matches!(first.step().await.unwrap(), Outcome::Sleep(_)));
    assert_eq!(owned.borrow().len(), 8, "alone, it holds every partition");
    // Crashed: it never hands its leases over.
    drop(first);

    let (mut other, others) = LeaseKeeper::new(pool.clone(), keys.clone(), config("b", lease));
    other.step().await.unwrap();
    assert!(
        others.borrow().is_empty(),
        "b waits for a's leases to expire"
    );

    let (mut restarted, owned) = LeaseKeeper::new(pool, keys, config("a", lease));
    restarted.step().await.unwrap();
    assert_eq!(
        owned.borrow().len(),
        4,
        "the restarted a takes back its half at once"
    );
}
