//! The jobs stream: schedulers append probe jobs, workers read them through
//! the `workers` consumer group, ack them once their result is published, and
//! reclaim the jobs of workers that died.

use deadpool_redis::Connection;
use deadpool_redis::redis::{self, AsyncCommands, streams::StreamId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::{Keys, WORKERS_GROUP};
use crate::domain::probe::ProbeSpec;

/// The stream field that holds a job, as JSON.
const JOB_FIELD: &str = "job";

/// One probe to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: Uuid,
    pub monitor_id: Uuid,
    #[serde(flatten)]
    pub spec: ProbeSpec,
    /// The tick, Unix milliseconds.
    pub scheduled_at_ms: u64,
}

/// A job handed to this consumer: its stream entry id (for the ack), the job
/// (or why it could not be read), and how often it has been delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub entry_id: String,
    pub job: Result<Job, String>,
    pub times_delivered: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error("Redis failed while {context}: {source}")]
    Redis {
        context: &'static str,
        #[source]
        source: redis::RedisError,
    },
    #[error("cannot encode job {0}: {1}")]
    Encode(Uuid, String),
}

fn redis_error(context: &'static str) -> impl FnOnce(redis::RedisError) -> JobsError {
    move |source| JobsError::Redis { context, source }
}

/// Creates the workers' group (and the stream) if they do not exist yet.
pub async fn ensure_group(connection: &mut Connection, keys: &Keys) -> Result<(), JobsError> {
    let created: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(keys.jobs())
        .arg(WORKERS_GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(connection)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other.map_err(redis_error("creating the workers group")),
    }
}

/// Appends `jobs` in one pipeline; the stream is trimmed to about `max_len`
/// entries so Redis memory stays bounded.
pub async fn publish(
    connection: &mut Connection,
    keys: &Keys,
    jobs: &[Job],
    max_len: usize,
) -> Result<(), JobsError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let stream = keys.jobs();
    let mut pipeline = redis::pipe();
    for job in jobs {
        let payload =
            serde_json::to_string(job).map_err(|e| JobsError::Encode(job.job_id, e.to_string()))?;
        pipeline
            .cmd("XADD")
            .arg(&stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(max_len)
            .arg("*")
            .arg(JOB_FIELD)
            .arg(payload)
            .ignore();
    }
    pipeline
        .query_async::<()>(connection)
        .await
        .map_err(redis_error("publishing jobs"))
}

/// Up to `count` new jobs for `consumer`, waiting at most `block_ms` for the first.
pub async fn read(
    connection: &mut Connection,
    keys: &Keys,
    consumer: &str,
    count: usize,
    block_ms: usize,
) -> Result<Vec<Delivery>, JobsError> {
    let options = redis::streams::StreamReadOptions::default()
        .group(WORKERS_GROUP, consumer)
        .count(count)
        .block(block_ms);
    let reply: Option<redis::streams::StreamReadReply> = connection
        .xread_options(&[keys.jobs()], &[">"], &options)
        .await
        .map_err(redis_error("reading jobs"))?;
    Ok(reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|key| key.ids)
        .map(|entry| delivery(entry, 1))
        .collect())
}

/// Takes over up to `count` jobs that another consumer left unacked for
/// longer than `min_idle_ms`, with how often each has now been delivered.
pub async fn reclaim(
    connection: &mut Connection,
    keys: &Keys,
    consumer: &str,
    min_idle_ms: usize,
    count: usize,
) -> Result<Vec<Delivery>, JobsError> {
    let stream = keys.jobs();
    let options = redis::streams::StreamAutoClaimOptions::default().count(count);
    let claimed: redis::streams::StreamAutoClaimReply = connection
        .xautoclaim_options(
            &stream,
            WORKERS_GROUP,
            consumer,
            min_idle_ms,
            "0-0",
            options,
        )
        .await
        .map_err(redis_error("reclaiming jobs"))?;
    if claimed.claimed.is_empty() {
        return Ok(Vec::new());
    }
    let pending: redis::streams::StreamPendingCountReply = connection
        .xpending_consumer_count(&stream, WORKERS_GROUP, "-", "+", count.max(1) * 4, consumer)
        .await
        .map_err(redis_error("reading delivery counts"))?;
    Ok(claimed
        .claimed
        .into_iter()
        .map(|entry| {
            let times = pending
                .ids
                .iter()
                .find(|p| p.id == entry.id)
                .map_or(1, |p| p.times_delivered as u64);
            delivery(entry, times)
        })
        .collect())
}

/// Acknowledges finished jobs so they are not handed out again.
pub async fn ack(
    connection: &mut Connection,
    keys: &Keys,
    entry_ids: &[String],
) -> Result<(), JobsError> {
    if entry_ids.is_empty() {
        return Ok(());
    }
    connection
        .xack::<_, _, _, ()>(keys.jobs(), WORKERS_GROUP, entry_ids)
        .await
        .map_err(redis_error("acknowledging jobs"))
}

fn delivery(entry: StreamId, times_delivered: u64) -> Delivery {
    let job = entry
        .get::<String>(JOB_FIELD)
        .ok_or_else(|| format!("entry {} has no `{JOB_FIELD}` field", entry.id))
        .and_then(|raw| serde_json::from_str::<Job>(&raw).map_err(|e| e.to_string()));
    Delivery {
        entry_id: entry.id,
        job,
        times_delivered,
    }
}
