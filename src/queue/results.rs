//! The results streams, one per partition: workers append to them (see
//! `jobs::complete`, up to `RESULTS_PER_ENTRY` results per entry), folders
//! read them through the `folders` group and acknowledge an entry only once
//! PostgreSQL has committed all its results.

use std::collections::BTreeMap;

use deadpool_redis::Connection;
use deadpool_redis::redis;

use super::keys::{FOLDERS_GROUP, Keys, RESULTS_FIELD, SINGLE_RESULT_FIELD};
use super::stream::{self, Entry, QueueError, ReadFrom, redis_error};
use crate::domain::ProbeResult;

/// Creates the folders' group on every partition's stream.
pub async fn ensure_groups(
    connection: &mut Connection,
    keys: &Keys,
    partitions: u16,
) -> Result<(), QueueError> {
    for stream in keys.all_results(partitions) {
        stream::ensure_group(connection, &stream, FOLDERS_GROUP).await?;
    }
    Ok(())
}

/// An entry of a results stream: the results of one or more probes.
pub type ResultsEntry = Entry<Vec<ProbeResult>>;

/// Up to `count` entries across `streams` for this folder.
pub async fn read(
    connection: &mut Connection,
    streams: &[String],
    consumer: &str,
    from: ReadFrom,
    count: usize,
    block_ms: usize,
) -> Result<Vec<ResultsEntry>, QueueError> {
    let entries = stream::read_group(
        connection,
        streams,
        FOLDERS_GROUP,
        consumer,
        from,
        count,
        block_ms,
    )
    .await?;
    Ok(entries
        .into_iter()
        .map(|(stream, entry)| decode(stream, entry))
        .collect())
}

fn decode(stream: String, entry: redis::streams::StreamId) -> ResultsEntry {
    stream::decode_batch(stream, entry, RESULTS_FIELD, SINGLE_RESULT_FIELD)
}

/// Takes over entries another folder read but never acknowledged (it died
/// before committing), once they have been idle for `min_idle_ms`.
pub async fn reclaim(
    connection: &mut Connection,
    streams: &[String],
    consumer: &str,
    min_idle_ms: usize,
    count: usize,
) -> Result<Vec<ResultsEntry>, QueueError> {
    let mut pipeline = redis::pipe();
    for stream in streams {
        pipeline
            .cmd("XAUTOCLAIM")
            .arg(stream)
            .arg(FOLDERS_GROUP)
            .arg(consumer)
            .arg(min_idle_ms)
            .arg("0-0")
            .arg("COUNT")
            .arg(count);
    }
    let replies: Vec<redis::streams::StreamAutoClaimReply> = pipeline
        .query_async(connection)
        .await
        .map_err(redis_error("reclaiming results"))?;
    Ok(streams
        .iter()
        .zip(replies)
        .flat_map(|(stream, reply)| {
            reply
                .claimed
                .into_iter()
                .map(|entry| decode(stream.clone(), entry))
        })
        .collect())
}

/// Acknowledges (and deletes) entries whose results' fold is committed.
pub async fn ack<T>(connection: &mut Connection, entries: &[Entry<T>]) -> Result<(), QueueError> {
    let mut by_stream: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for entry in entries {
        by_stream
            .entry(entry.stream.as_str())
            .or_default()
            .push(entry.id.clone());
    }
    if by_stream.is_empty() {
        return Ok(());
    }
    let mut pipeline = redis::pipe();
    for (stream, ids) in &by_stream {
        stream::ack_and_delete(&mut pipeline, stream, FOLDERS_GROUP, ids);
    }
    pipeline
        .query_async::<()>(connection)
        .await
        .map_err(redis_error("acknowledging results"))
}
