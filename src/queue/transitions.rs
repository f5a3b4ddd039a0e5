//! The transitions stream: every committed `status_changed`, in the shape the
//! live feed sends to clients, capped so Redis memory stays bounded (the event
//! log keeps everything).

use super::keys::Keys;
use super::stream::{self, Entry, QueueError, redis_error};
pub use crate::domain::feed::{FeedItem, TransitionMessage};
use deadpool_redis::Connection;
use deadpool_redis::redis::{self, AsyncCommands};

/// The stream field that holds a transition, as JSON.
pub const TRANSITION_FIELD: &str = "transition";

/// About how many transitions the stream keeps.
pub const MAX_LEN: usize = 100_000;

/// Appends `transitions` in one pipeline.
pub async fn publish(
    connection: &mut Connection,
    keys: &Keys,
    transitions: &[FeedItem],
) -> Result<(), QueueError> {
    if transitions.is_empty() {
        return Ok(());
    }
    let stream = keys.transitions();
    let mut pipeline = redis::pipe();
    for transition in transitions {
        stream::add(
            &mut pipeline,
            &stream,
            Some(MAX_LEN),
            TRANSITION_FIELD,
            transition,
        )?;
    }
    pipeline
        .query_async::<()>(connection)
        .await
        .map_err(redis_error("publishing transitions"))
}

/// The id of the newest transition in the stream, or `0-0` when it is empty:
/// where a reader that wants only what comes next starts.
pub async fn newest_id(connection: &mut Connection, keys: &Keys) -> Result<String, QueueError> {
    let newest: Vec<redis::streams::StreamId> = redis::cmd("XREVRANGE")
        .arg(keys.transitions())
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async::<redis::streams::StreamRangeReply>(connection)
        .await
        .map_err(redis_error("reading the newest transition"))?
        .ids;
    Ok(newest
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |entry| entry.id))
}

/// Up to `count` transitions after the entry `after_id`, waiting at most
/// `block_ms` for the first. Every reader sees every transition (no group).
pub async fn read_after(
    connection: &mut Connection,
    keys: &Keys,
    after_id: &str,
    count: usize,
    block_ms: usize,
) -> Result<Vec<Entry<FeedItem>>, QueueError> {
    let stream = keys.transitions();
    let options = redis::streams::StreamReadOptions::default()
        .count(count)
        .block(block_ms);
    let reply: Option<redis::streams::StreamReadReply> = connection
        .xread_options(&[&stream], &[after_id], &options)
        .await
        .map_err(redis_error("reading transitions"))?;
    Ok(reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|key| key.ids)
        .map(|entry| stream::decode(stream.clone(), entry, TRANSITION_FIELD))
        .collect())
}
