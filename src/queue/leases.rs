//! Membership and partition leases in Redis. Each instance of a role keeps a
//! heartbeat in `<prefix>:members:<role>` (a sorted set scored by expiry) and
//! holds `<prefix>:lease:<role>:<partition>` keys (value: the member, with a
//! PX expiry) for the partitions it acts on.

use std::collections::BTreeSet;
use std::time::Duration;

use deadpool_redis::Connection;
use deadpool_redis::redis;

use super::keys::Keys;
use super::stream::{QueueError, redis_error};

/// Takes a lease that nobody holds, or renews it if this member holds it
/// already: a member is an instance name, so a process restarted under the
/// same name (after a crash) takes its own leases back at once.
const TAKE_OR_RENEW: &str = "local holder = redis.call('GET', KEYS[1]) \
    if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end \
    if holder then return 0 end \
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1";
/// Gives a lease up only if this member still holds it.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
    return redis.call('DEL', KEYS[1]) else return 0 end";

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Records this member as alive until `now_ms + lease`, forgets members whose
/// heartbeat expired, and returns the live ones.
pub async fn heartbeat(
    connection: &mut Connection,
    keys: &Keys,
    role: &str,
    member: &str,
    now_ms: u64,
    lease: Duration,
) -> Result<Vec<String>, QueueError> {
    let key = keys.members(role);
    let (members,): (Vec<String>,) = redis::pipe()
        .cmd("ZADD")
        .arg(&key)
        .arg(now_ms + millis(lease))
        .arg(member)
        .ignore()
        .cmd("ZREMRANGEBYSCORE")
        .arg(&key)
        .arg("-inf")
        .arg(now_ms)
        .ignore()
        .cmd("ZRANGE")
        .arg(&key)
        .arg(0)
        .arg(-1)
        .query_async(connection)
        .await
        .map_err(redis_error("keeping the member heartbeat"))?;
    Ok(members)
}

/// Leaves the member list at once (a clean stop), so others rebalance now.
pub async fn leave(
    connection: &mut Connection,
    keys: &Keys,
    role: &str,
    member: &str,
) -> Result<(), QueueError> {
    redis::cmd("ZREM")
        .arg(keys.members(role))
        .arg(member)
        .query_async::<()>(connection)
        .await
        .map_err(redis_error("leaving the member list"))
}

/// Renews the leases in `held` and takes those in `wanted` that nobody holds;
/// returns the partitions this member holds afterwards.
pub async fn renew_and_acquire(
    connection: &mut Connection,
    keys: &Keys,
    role: &str,
    member: &str,
    held: &BTreeSet<u16>,
    wanted: &BTreeSet<u16>,
    lease: Duration,
) -> Result<BTreeSet<u16>, QueueError> {
    let order: Vec<u16> = held
        .iter()
        .chain(wanted.difference(held))
        .copied()
        .collect();
    if order.is_empty() {
        return Ok(BTreeSet::new());
    }
    let mut pipeline = redis::pipe();
    for partition in &order {
        pipeline
            .cmd("EVAL")
            .arg(TAKE_OR_RENEW)
            .arg(1)
            .arg(keys.lease(role, *partition))
            .arg(member)
            .arg(millis(lease));
    }
    let replies: Vec<redis::Value> = pipeline
        .query_async(connection)
        .await
        .map_err(redis_error("renewing and taking leases"))?;
    Ok(order
        .into_iter()
        .zip(replies)
        .filter(|(_, reply)| matches!(reply, redis::Value::Int(1)))
        .map(|(partition, _)| partition)
        .collect())
}

/// Gives up leases (only those this member still holds).
pub async fn release(
    connection: &mut Connection,
    keys: &Keys,
    role: &str,
    member: &str,
    partitions: &BTreeSet<u16>,
) -> Result<(), QueueError> {
    if partitions.is_empty() {
        return Ok(());
    }
    let mut pipeline = redis::pipe();
    for partition in partitions {
        pipeline
            .cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(keys.lease(role, *partition))
            .arg(member)
            .ignore();
    }
    pipeline
        .query_async::<()>(connection)
        .await
        .map_err(redis_error("releasing leases"))
}
