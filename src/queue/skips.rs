//! Each monitor's count of ticks skipped on purpose, in one Redis hash
//! (monitor id → count). It lives as long as Redis keeps its data: the
//! metric `upwatch_ticks_skipped_total` counts every skip in each process.

use std::collections::HashMap;

use deadpool_redis::Connection;
use deadpool_redis::redis;
use uuid::Uuid;

use super::keys::Keys;
use super::stream::{QueueError, redis_error};

/// Adds `counts` to the monitors' totals, in one pipeline.
pub async fn record(
    connection: &mut Connection,
    keys: &Keys,
    counts: &HashMap<Uuid, u64>,
) -> Result<(), QueueError> {
    if counts.is_empty() {
        return Ok(());
    }
    let key = keys.skipped();
    let mut pipeline = redis::pipe();
    for (monitor, count) in counts {
        pipeline
            .cmd("HINCRBY")
            .arg(&key)
            .arg(monitor.to_string())
            .arg(*count)
            .ignore();
    }
    pipeline
        .query_async::<()>(connection)
        .await
        .map_err(redis_error("counting skipped ticks"))
}

/// The totals of `monitors`, in their order (0 for one never skipped).
pub async fn counts(
    connection: &mut Connection,
    keys: &Keys,
    monitors: &[Uuid],
) -> Result<Vec<u64>, QueueError> {
    if monitors.is_empty() {
        return Ok(Vec::new());
    }
    let fields: Vec<String> = monitors.iter().map(Uuid::to_string).collect();
    let counts: Vec<Option<u64>> = redis::cmd("HMGET")
        .arg(keys.skipped())
        .arg(&fields)
        .query_async(connection)
        .await
        .map_err(redis_error("reading skipped ticks"))?;
    Ok(counts.into_iter().map(Option::unwrap_or_default).collect())
}
