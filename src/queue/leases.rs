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

/// Takes each lease in KEYS that nobody holds, or renews it if this member
/// holds it already (a member is an instance name, so a process restarted
/// under the same name, after a crash, takes its own leases back at once);
/// returns the positions (from 1) of the keys held afterwards. One script
/// for every partition: one command a cycle instead of one per partition.
const TAKE_OR_RENEW: &str = "local held = {} \
    for i, key in ipairs(KEYS) do \
      local holder = redis.call('GET', key) \
      if holder == ARGV[1] then redis.call('PEXPIRE', key, ARGV[2]) held[#held + 1] = i \
      elseif not holder then redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) held[#held + 1] = i end \
    end \
    return held";
/// Gives up each lease in KEYS this member still holds.
const RELEASE: &str = "for _, key in ipairs(KEYS) do \
      if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end \
    end \
    return 0";

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
    let lease_keys: Vec<String> = order.iter().map(|p| keys.lease(role, *p)).collect();
    let held: Vec<usize> = redis::cmd("EVAL")
        .arg(TAKE_OR_RENEW)
        .arg(lease_keys.len())
        .arg(&lease_keys)
        .arg(member)
        .arg(millis(lease))
        .query_async(connection)
        .await
        .map_err(redis_error("renewing and taking leases"))?;
    Ok(held
        .into_iter()
        .filter_map(|position| order.get(position.checked_sub(1)?).copied())
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
    let lease_keys: Vec<String> = partitions.iter().map(|p| keys.lease(role, *p)).collect();
    redis::cmd("EVAL")
        .arg(RELEASE)
        .arg(lease_keys.len())
        .arg(&lease_keys)
        .arg(member)
        .query_async::<()>(connection)
        .await
        .map_err(redis_error("releasing leases"))
}
