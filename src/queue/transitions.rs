//! The transitions stream: every committed `status_changed`, in the shape the
//! live feed sends to clients, capped so Redis memory stays bounded (the event
//! log keeps everything).

use deadpool_redis::Connection;
use deadpool_redis::redis;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::keys::Keys;
use super::stream::{self, QueueError, redis_error};
use crate::domain::Status;
use crate::store::folding::RecordedTransition;

/// The stream field that holds a transition, as JSON.
pub const TRANSITION_FIELD: &str = "transition";

/// About how many transitions the stream keeps.
pub const MAX_LEN: usize = 100_000;

/// One transition as the live feed shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionMessage {
    /// The `status_changed` event's global sequence number.
    pub seq: i64,
    pub monitor_id: Uuid,
    pub name: String,
    pub from: Status,
    pub to: Status,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub reason: String,
    pub latency_ms: i32,
    pub http_status: Option<i32>,
    pub error: Option<String>,
}

impl From<&RecordedTransition> for TransitionMessage {
    fn from(t: &RecordedTransition) -> Self {
        Self {
            seq: t.seq,
            monitor_id: t.monitor_id,
            name: t.name.clone(),
            from: t.change.from,
            to: t.change.to,
            at: t.change.checked_at,
            reason: t.change.reason.clone(),
            latency_ms: t.change.latency_ms,
            http_status: t.change.http_status,
            error: t.change.error.clone(),
        }
    }
}

/// Appends `transitions` in one pipeline.
pub async fn publish(
    connection: &mut Connection,
    keys: &Keys,
    transitions: &[TransitionMessage],
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
