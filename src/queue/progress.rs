//! How far scheduling has got in each partition: every tick of its monitors
//! up to this Unix millisecond was queued or counted skipped by the
//! scheduler that held it. A scheduler taking a partition over reads it to
//! account for the ticks that fell while nobody scheduled them
//! (`domain::schedule::catch_up`). One hash, partition → milliseconds.

use std::collections::HashMap;

use deadpool_redis::Connection;
use deadpool_redis::redis;

use super::keys::Keys;
use super::stream::{QueueError, redis_error};

/// Partitions whose ticks are all handled up to `up_to_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    pub partitions: Vec<u16>,
    pub up_to_ms: u64,
}

/// Adds the write of `handled` to `pipeline` (its reply ignored).
pub fn note(pipeline: &mut redis::Pipeline, keys: &Keys, handled: &Handled) {
    if handled.partitions.is_empty() {
        return;
    }
    let mut command = redis::cmd("HSET");
    command.arg(keys.scheduled());
    for partition in &handled.partitions {
        command.arg(partition).arg(handled.up_to_ms);
    }
    pipeline.add_command(command).ignore();
}

/// Where scheduling got to in each of `partitions` (absent: never scheduled).
pub async fn read(
    connection: &mut Connection,
    keys: &Keys,
    partitions: &[u16],
) -> Result<HashMap<u16, u64>, QueueError> {
    if partitions.is_empty() {
        return Ok(HashMap::new());
    }
    let handled: Vec<Option<u64>> = redis::cmd("HMGET")
        .arg(keys.scheduled())
        .arg(partitions)
        .query_async(connection)
        .await
        .map_err(redis_error("reading how far scheduling got"))?;
    Ok(partitions
        .iter()
        .zip(handled)
        .filter_map(|(partition, up_to)| up_to.map(|ms| (*partition, ms)))
        .collect())
}
