//! What every upwatch stream shares: one JSON payload per entry, consumer
//! groups, reading, acknowledging. The jobs, results and transitions modules
//! build on these.

use deadpool_redis::Connection;
use deadpool_redis::redis::{self, AsyncCommands, streams::StreamId};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("Redis failed while {context}: {source}")]
    Redis {
        context: &'static str,
        #[source]
        source: redis::RedisError,
    },
    #[error("cannot encode {0}: {1}")]
    Encode(String, String),
}

pub(crate) fn redis_error(context: &'static str) -> impl FnOnce(redis::RedisError) -> QueueError {
    move |source| QueueError::Redis { context, source }
}

/// One entry read from a stream: where it came from, its id (for the ack),
/// and its payload (or why it could not be read).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<T> {
    pub stream: String,
    pub id: String,
    pub payload: Result<T, String>,
}

/// Creates `group` on `stream` (and the stream) unless it exists.
pub async fn ensure_group(
    connection: &mut Connection,
    stream: &str,
    group: &str,
) -> Result<(), QueueError> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(connection)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other.map_err(redis_error("creating a consumer group")),
    }
}

/// Queues an `XADD` of `item` as the JSON value of `field`. With `max_len`,
/// the stream is trimmed to about that many entries.
pub fn add(
    pipeline: &mut redis::Pipeline,
    stream: &str,
    max_len: Option<usize>,
    field: &str,
    item: &impl Serialize,
) -> Result<(), QueueError> {
    let payload = serde_json::to_string(item)
        .map_err(|e| QueueError::Encode(format!("an entry for {stream}"), e.to_string()))?;
    let command = pipeline.cmd("XADD").arg(stream);
    if let Some(max_len) = max_len {
        command.arg("MAXLEN").arg("~").arg(max_len);
    }
    command.arg("*").arg(field).arg(payload).ignore();
    Ok(())
}

/// Queues the acknowledgement and deletion of finished entries: nothing
/// pending is ever trimmed, and what is done does not linger.
pub fn ack_and_delete(pipeline: &mut redis::Pipeline, stream: &str, group: &str, ids: &[String]) {
    if ids.is_empty() {
        return;
    }
    pipeline
        .cmd("XACK")
        .arg(stream)
        .arg(group)
        .arg(ids)
        .ignore();
    pipeline.cmd("XDEL").arg(stream).arg(ids).ignore();
}

/// Which entries a group read asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// Entries never delivered to anyone.
    New,
    /// Entries already delivered to this consumer and not yet acknowledged.
    OwnPending,
}

/// Up to `count` entries from `streams` for `consumer` of `group`, waiting at
/// most `block_ms` for the first new one; each entry as Redis sent it, beside
/// its stream's name.
pub async fn read_group(
    connection: &mut Connection,
    streams: &[String],
    group: &str,
    consumer: &str,
    from: ReadFrom,
    count: usize,
    block_ms: usize,
) -> Result<Vec<(String, StreamId)>, QueueError> {
    let mut options = redis::streams::StreamReadOptions::default()
        .group(group, consumer)
        .count(count);
    let id = match from {
        ReadFrom::New => {
            options = options.block(block_ms);
            ">"
        }
        ReadFrom::OwnPending => "0",
    };
    let ids = vec![id; streams.len()];
    let reply: Option<redis::streams::StreamReadReply> = connection
        .xread_options(streams, &ids, &options)
        .await
        .map_err(redis_error("reading a stream"))?;
    Ok(reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|key| {
            let stream = key.key;
            key.ids
                .into_iter()
                .map(move |entry| (stream.clone(), entry))
        })
        .collect())
}

/// Decodes an entry that carries a JSON array of items in `many_field`, or,
/// written in an older shape, a single item in `one_field`.
pub(crate) fn decode_batch<T: DeserializeOwned>(
    stream: String,
    entry: StreamId,
    many_field: &str,
    one_field: &str,
) -> Entry<Vec<T>> {
    if entry.map.contains_key(many_field) || !entry.map.contains_key(one_field) {
        decode(stream, entry, many_field)
    } else {
        let entry = decode::<T>(stream, entry, one_field);
        Entry {
            stream: entry.stream,
            id: entry.id,
            payload: entry.payload.map(|item| vec![item]),
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(
    stream: String,
    entry: StreamId,
    field: &str,
) -> Entry<T> {
    // Read in place: the bytes as Redis sent them, no copy, no UTF-8 pass.
    let payload = match entry.map.get(field) {
        Some(redis::Value::BulkString(raw)) => {
            serde_json::from_slice::<T>(raw).map_err(|e| e.to_string())
        }
        Some(other) => Err(format!(
            "entry {} has a `{field}` that is not a string: {other:?}",
            entry.id
        )),
        None => Err(format!("entry {} has no `{field}` field", entry.id)),
    };
    Entry {
        stream,
        id: entry.id,
        payload,
    }
}
