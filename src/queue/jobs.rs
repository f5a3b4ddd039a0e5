//! The jobs stream: schedulers append probe jobs, workers read them through
//! the `workers` consumer group, ack them once their results are published,
//! and reclaim the jobs of workers that died.
//!
//! An entry carries up to `JOBS_PER_ENTRY` jobs: one `XADD`, one delivery and
//! one ack per batch instead of per probe (the stream's bookkeeping per
//! entry, measured in BENCHMARKS.md). An entry is delivered,
//! reclaimed and acknowledged as a whole.

use std::collections::BTreeMap;

use deadpool_redis::Connection;
use deadpool_redis::redis::{self, AsyncCommands, streams::StreamId};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

use super::keys::{Keys, RESULTS_FIELD, RESULTS_PER_ENTRY, WORKERS_GROUP};
use super::known_checks;
use super::progress::{self, Handled};
use super::stream::{self, QueueError, ReadFrom, redis_error};
use crate::domain::check::{Check, CheckFields};
use crate::domain::probe::ProbeSpec;
use crate::domain::{ExpectedStatuses, HttpMethod, MonitorUrl, TimeoutMs};
use crate::domain::{ProbeResult, partition_of};

/// The stream field that holds an entry's jobs, as a JSON array.
const JOBS_FIELD: &str = "jobs";
/// The field of entries written before jobs were batched: one job, as JSON.
const SINGLE_JOB_FIELD: &str = "job";
/// At most this many jobs share a stream entry.
pub const JOBS_PER_ENTRY: usize = 32;

/// One probe to run. On the stream the spec's fields (the check, the
/// timeout) sit beside the job's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    pub job_id: Uuid,
    pub monitor_id: Uuid,
    /// The monitor's name, for the worker's log lines.
    pub name: String,
    #[serde(flatten)]
    pub spec: ProbeSpec,
    /// The tick, Unix milliseconds.
    pub scheduled_at_ms: u64,
    /// When the tick is too late to probe (about when the next one is due):
    /// a worker that gets it later skips it, counted, instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_after_ms: Option<u64>,
}

/// A job written without a deadline is skipped once this old.
pub const STALE_AFTER_MS: u64 = 60_000;

impl Job {
    /// Whether, at `now_ms`, this tick is too late to be worth probing.
    pub fn too_late(&self, now_ms: u64) -> bool {
        let deadline = self
            .skip_after_ms
            .unwrap_or_else(|| self.scheduled_at_ms.saturating_add(STALE_AFTER_MS));
        now_ms > deadline
    }

    /// How late, after its tick, this job may still be probed.
    pub fn window_ms(&self) -> u64 {
        self.skip_after_ms.map_or(STALE_AFTER_MS, |deadline| {
            deadline.saturating_sub(self.scheduled_at_ms)
        })
    }
}

/// A job as read from the stream. The check is taken as its raw JSON and
/// parsed through `known_checks` (once per monitor, not per tick). Entries
/// written before checks were one value carry the HTTP fields flat instead.
#[derive(Deserialize)]
struct JobOnStream {
    job_id: Uuid,
    monitor_id: Uuid,
    #[serde(default)]
    name: String,
    check: Option<Box<RawValue>>,
    timeout: TimeoutMs,
    url: Option<MonitorUrl>,
    method: Option<HttpMethod>,
    expected_status: Option<ExpectedStatuses>,
    scheduled_at_ms: u64,
    #[serde(default)]
    skip_after_ms: Option<u64>,
}

impl<'de> Deserialize<'de> for Job {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let job = JobOnStream::deserialize(deserializer)?;
        let check = match (job.check, job.url) {
            (Some(raw), _) => known_checks::parse(job.monitor_id, raw.get()),
            (None, Some(url)) => Check::parse(CheckFields {
                method: job.method,
                expected_status: job.expected_status,
                ..CheckFields::of(url)
            })
            .map_err(|e| e.to_string()),
            (None, None) => Err("a job has neither `check` nor `url`".to_owned()),
        }
        .map_err(|e| serde::de::Error::custom(format!("check: {e}")))?;
        Ok(Self {
            job_id: job.job_id,
            monitor_id: job.monitor_id,
            name: job.name,
            spec: ProbeSpec {
                check,
                timeout: job.timeout,
            },
            scheduled_at_ms: job.scheduled_at_ms,
            skip_after_ms: job.skip_after_ms,
        })
    }
}

/// A stream entry handed to this consumer: its id (for the ack), its jobs
/// (or why they could not be read), and how often it has been delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub entry_id: String,
    pub jobs: Result<Vec<Job>, String>,
    pub times_delivered: u64,
}

/// Creates the workers' group (and the stream) if they do not exist yet.
pub async fn ensure_group(connection: &mut Connection, keys: &Keys) -> Result<(), QueueError> {
    stream::ensure_group(connection, &keys.jobs(), WORKERS_GROUP).await
}

/// The jobs stream at a glance, for the emitter to bound it and to shed
/// ticks the workers could not probe in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueState {
    /// Entries held: waiting, or taken by a worker and not yet done.
    pub entries: usize,
    /// When the oldest entry no worker has taken yet was added (its id's
    /// time, Unix milliseconds); `None` when every entry has been taken.
    pub oldest_waiting_ms: Option<u64>,
}

impl QueueState {
    /// How long, at `now_ms`, the oldest waiting job has waited (0 if none waits).
    pub fn wait_ms(&self, now_ms: u64) -> u64 {
        self.oldest_waiting_ms
            .map_or(0, |added| now_ms.saturating_sub(added))
    }
}

/// Returns the stream's length and the time of the first entry after the
/// workers' group's last delivered one (0 for none), in one round trip.
const QUEUE_STATE_SCRIPT: &str = r"
local entries = redis.call('XLEN', KEYS[1])
if entries == 0 then return {0, 0} end
local after = '0-0'
local found, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if found then
  for _, group in ipairs(groups) do
    local name, last
    for i = 1, #group, 2 do
      if group[i] == 'name' then name = group[i + 1] end
      if group[i] == 'last-delivered-id' then last = group[i + 1] end
    end
    if name == ARGV[1] then after = last end
  end
end
local oldest = redis.call('XRANGE', KEYS[1], '(' .. after, '+', 'COUNT', 1)
if #oldest == 0 then return {entries, 0} end
return {entries, tonumber(string.match(oldest[1][1], '^(%d+)'))}
";

fn queue_state_command(keys: &Keys) -> redis::Cmd {
    let mut command = redis::cmd("EVAL");
    command
        .arg(QUEUE_STATE_SCRIPT)
        .arg(1)
        .arg(keys.jobs())
        .arg(WORKERS_GROUP);
    command
}

fn queue_state_of((entries, oldest_waiting_ms): (usize, u64)) -> QueueState {
    QueueState {
        entries,
        oldest_waiting_ms: (oldest_waiting_ms > 0).then_some(oldest_waiting_ms),
    }
}

/// Appends `jobs` in one pipeline, `JOBS_PER_ENTRY` to an entry, and
/// returns the stream's state afterwards. It is never trimmed: trimming
/// would drop ticks nobody saw. The emitter bounds it by skipping ticks,
/// counted, while the backlog is too long or waits too long.
pub async fn publish(
    connection: &mut Connection,
    keys: &Keys,
    jobs: &[impl Serialize],
) -> Result<QueueState, QueueError> {
    publish_noting(connection, keys, jobs, None).await
}

/// [`publish`], and in the same round trip how far scheduling got once
/// these jobs are in (see `progress`).
pub async fn publish_noting(
    connection: &mut Connection,
    keys: &Keys,
    jobs: &[impl Serialize],
    handled: Option<&Handled>,
) -> Result<QueueState, QueueError> {
    let stream = keys.jobs();
    let mut pipeline = redis::pipe();
    for entry in jobs.chunks(JOBS_PER_ENTRY) {
        stream::add(&mut pipeline, &stream, None, JOBS_FIELD, &entry)?;
    }
    if let Some(handled) = handled {
        progress::note(&mut pipeline, keys, handled);
    }
    pipeline.add_command(queue_state_command(keys));
    let (state,): ((usize, u64),) = pipeline
        .query_async(connection)
        .await
        .map_err(redis_error("publishing jobs"))?;
    Ok(queue_state_of(state))
}

/// The jobs stream's state: its length and how long its oldest waiting job has waited.
pub async fn queue_state(
    connection: &mut Connection,
    keys: &Keys,
) -> Result<QueueState, QueueError> {
    let state = queue_state_command(keys)
        .query_async(connection)
        .await
        .map_err(redis_error("reading the jobs backlog"))?;
    Ok(queue_state_of(state))
}

/// Up to `count` new entries for `consumer`, waiting at most `block_ms` for the first.
pub async fn read(
    connection: &mut Connection,
    keys: &Keys,
    consumer: &str,
    count: usize,
    block_ms: usize,
) -> Result<Vec<Delivery>, QueueError> {
    read_from(connection, keys, consumer, ReadFrom::New, count, block_ms).await
}

/// The entries already delivered to `consumer` and not acknowledged: what a
/// restarted worker of the same name had in hand when it stopped.
pub async fn own_pending(
    connection: &mut Connection,
    keys: &Keys,
    consumer: &str,
    count: usize,
) -> Result<Vec<Delivery>, QueueError> {
    read_from(connection, keys, consumer, ReadFrom::OwnPending, count, 0).await
}

async fn read_from(
    connection: &mut Connection,
    keys: &Keys,
    consumer: &str,
    from: ReadFrom,
    count: usize,
    block_ms: usize,
) -> Result<Vec<Delivery>, QueueError> {
    let entries = stream::read_group(
        connection,
        &[keys.jobs()],
        WORKERS_GROUP,
        consumer,
        from,
        count,
        block_ms,
    )
    .await?;
    // A pending entry was delivered at least once before, to the stopped worker.
    let times_delivered = match from {
        ReadFrom::New => 1,
        ReadFrom::OwnPending => 2,
    };
    Ok(entries
        .into_iter()
        .map(|(_, entry)| delivery(entry, times_delivered))
        .collect())
}

/// Takes over up to `count` entries that another consumer left unacked for
/// longer than `min_idle_ms`, with how often each has now been delivered.
pub async fn reclaim(
    connection: &mut Connection,
    keys: &Keys,
    consumer: &str,
    min_idle_ms: usize,
    count: usize,
) -> Result<Vec<Delivery>, QueueError> {
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

/// Acknowledges finished entries so they are not handed out again.
pub async fn ack(
    connection: &mut Connection,
    keys: &Keys,
    entry_ids: &[String],
) -> Result<(), QueueError> {
    let mut pipeline = redis::pipe();
    stream::ack_and_delete(&mut pipeline, &keys.jobs(), WORKERS_GROUP, entry_ids);
    pipeline
        .query_async::<()>(connection)
        .await
        .map_err(redis_error("acknowledging jobs"))
}

/// Publishes the results of finished jobs to their partitions' results
/// streams (one entry per partition, up to `RESULTS_PER_ENTRY` results
/// each), then acknowledges the entries (`entry_ids`) whose jobs are all
/// done — in that order, in one round trip, so an entry is never
/// acknowledged before its results are in Redis.
pub async fn complete(
    connection: &mut Connection,
    keys: &Keys,
    partitions: u16,
    results: &[ProbeResult],
    entry_ids: &[String],
) -> Result<(), QueueError> {
    if results.is_empty() && entry_ids.is_empty() {
        return Ok(());
    }
    let mut by_partition: BTreeMap<u16, Vec<&ProbeResult>> = BTreeMap::new();
    for result in results {
        by_partition
            .entry(partition_of(result.monitor_id, partitions))
            .or_default()
            .push(result);
    }
    let mut pipeline = redis::pipe();
    for (partition, results) in &by_partition {
        let stream = keys.results(*partition);
        for entry in results.chunks(RESULTS_PER_ENTRY) {
            // Never trimmed: a result waits until a folder has committed it.
            stream::add(&mut pipeline, &stream, None, RESULTS_FIELD, &entry)?;
        }
    }
    stream::ack_and_delete(&mut pipeline, &keys.jobs(), WORKERS_GROUP, entry_ids);
    pipeline
        .query_async::<()>(connection)
        .await
        .map_err(redis_error("publishing results"))
}

fn delivery(entry: StreamId, times_delivered: u64) -> Delivery {
    let entry = stream::decode_batch(String::new(), entry, JOBS_FIELD, SINGLE_JOB_FIELD);
    Delivery {
        entry_id: entry.id,
        jobs: entry.payload,
        times_delivered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::check::HttpCheck;

    fn job() -> Job {
        Job {
            job_id: Uuid::new_v4(),
            monitor_id: Uuid::new_v4(),
            name: "api".to_owned(),
            spec: ProbeSpec {
                check: Check::Http(HttpCheck {
                    url: MonitorUrl::parse("http://a.example/health").unwrap(),
                    method: HttpMethod::Head,
                    expected_status: Some(ExpectedStatuses::parse(&[200, 204]).unwrap()),
                    headers: Default::default(),
                    body: None,
                    conditions: Default::default(),
                    expected_version: None,
                    version_source: None,
                }),
                timeout: TimeoutMs::parse(750).unwrap(),
            },
            scheduled_at_ms: 1_700_000_000_123,
            skip_after_ms: Some(1_700_000_060_123),
        }
    }

    #[test]
    fn a_tick_is_too_late_after_its_deadline_or_without_one_a_minute() {
        let mut job = job();
        let tick = job.scheduled_at_ms;
        job.skip_after_ms = Some(tick + 1_000);
        assert!(!job.too_late(tick + 1_000));
        assert!(job.too_late(tick + 1_001));
        job.skip_after_ms = None;
        assert!(!job.too_late(tick + STALE_AFTER_MS));
        assert!(job.too_late(tick + STALE_AFTER_MS + 1));
        job.skip_after_ms = Some(tick + 300_000);
        assert!(
            !job.too_late(tick + 300_000),
            "a deadline past a minute holds"
        );
        assert!(job.too_late(tick + 300_001));
    }

    #[test]
    fn a_job_reads_back_as_written_with_its_check() {
        let job = job();
        let written = serde_json::to_value(&job).unwrap();
        assert_eq!(written["check"]["kind"], "http");
        assert_eq!(written["timeout"], 750);
        assert_eq!(serde_json::from_value::<Job>(written).unwrap(), job);

        let bad = serde_json::to_string(&job)
            .unwrap()
            .replace("http://a.example/health", "not a url");
        assert!(serde_json::from_str::<Job>(&bad).is_err());
    }

    #[test]
    fn entries_written_before_checks_were_one_value_still_read() {
        let job = job();
        // The shape of the jobs stream before: HTTP fields beside the job's.
        let older = serde_json::json!({
            "job_id": job.job_id, "monitor_id": job.monitor_id,
            "url": "http://a.example/health", "method": "HEAD", "timeout": 750,
            "expected_status": [200, 204], "scheduled_at_ms": job.scheduled_at_ms,
        });
        let read: Job = serde_json::from_value(older.clone()).unwrap();
        assert_eq!(read.name, "", "older entries may carry no name");
        assert_eq!(read.spec, job.spec);

        let mut no_expectation = older;
        no_expectation
            .as_object_mut()
            .unwrap()
            .remove("expected_status");
        let read: Job = serde_json::from_value(no_expectation).unwrap();
        let Check::Http(check) = read.spec.check else {
            panic!("an HTTP check reads back as HTTP");
        };
        assert_eq!(check.expected_status, None);

        let ftp = serde_json::json!({
            "job_id": job.job_id, "monitor_id": job.monitor_id, "url": "ftp://a.example/",
            "method": "GET", "timeout": 750, "scheduled_at_ms": 1,
        });
        let refused = serde_json::from_value::<Job>(ftp).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("scheme must be one of http, https")
        );
    }
}
