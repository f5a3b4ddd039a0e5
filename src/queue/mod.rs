//! Redis: the connection pool, and the streams of the probe pipeline (jobs,
//! results, transitions) with their consumer groups. Every key is built from
//! the configured prefix.

pub mod jobs;
pub mod keys;
mod known_checks;
pub mod leases;
pub mod progress;
pub mod results;
pub mod skips;
pub mod stream;
pub mod transitions;

pub use stream::QueueError;

use std::time::Duration;

use deadpool_redis::{Pool, Runtime};

use crate::config::RedisUrl;
use crate::runtime::retry::{Until, retry};

pub type RedisPool = Pool;

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("cannot build the Redis pool: {0}")]
    Pool(String),
    #[error("Redis did not answer within {waited:?}: {last_error}")]
    GaveUp {
        waited: Duration,
        last_error: String,
    },
}

/// How long a command's reply may take. Generous on purpose: a reply to
/// `XREADGROUP` that arrives after the client gave up still handed its
/// entries to this consumer, and they would wait for a reclaim. A busy
/// process must see slow replies, not lost ones.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

pub fn pool(url: &RedisUrl, max_size: usize) -> Result<RedisPool, RedisError> {
    let connection = deadpool_redis::redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(RESPONSE_TIMEOUT));
    let manager = deadpool_redis::Manager::new_with_config(url.expose(), connection)
        .map_err(|e| RedisError::Pool(e.to_string()))?;
    Pool::builder(manager)
        .max_size(max_size)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|e| RedisError::Pool(e.to_string()))
}

/// One `PING`; the error says why Redis did not answer.
pub async fn ping(pool: &RedisPool) -> Result<(), String> {
    let mut connection = pool.get().await.map_err(|e| e.to_string())?;
    let reply: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .map_err(|e| e.to_string())?;
    if reply == "PONG" {
        Ok(())
    } else {
        Err(format!("unexpected reply to PING: {reply}"))
    }
}

/// Waits (with backoff, up to `timeout`) until Redis answers.
pub async fn wait_until_ready(pool: &RedisPool, timeout: Duration) -> Result<(), RedisError> {
    retry("waiting for Redis", Until::Elapsed(timeout), || ping(pool))
        .await
        .map_err(|gave_up| RedisError::GaveUp {
            waited: gave_up.waited,
            last_error: gave_up.last_error,
        })
}

/// Runs `operation` on a pooled Redis connection; any failure (no connection,
/// or the operation's own) comes back as a message to log.
pub(crate) async fn on_redis<T>(
    redis: &RedisPool,
    operation: impl AsyncFnOnce(&mut deadpool_redis::Connection) -> Result<T, QueueError>,
) -> Result<T, String> {
    let mut connection = redis.get().await.map_err(|e| e.to_string())?;
    operation(&mut connection).await.map_err(|e| e.to_string())
}

/// A pooled connection that one loop keeps between its steps. Taking a
/// connection from the pool costs a round trip (the pool checks it with
/// `UNWATCH` and `PING`), which at everyday rates was most of Redis's work;
/// a kept one costs only the loop's own commands. After a failure the
/// connection is thrown away, not returned, and the next use takes a fresh one.
pub struct HeldConnection {
    pool: RedisPool,
    connection: Option<deadpool_redis::Connection>,
}

impl HeldConnection {
    pub fn new(pool: RedisPool) -> Self {
        Self {
            pool,
            connection: None,
        }
    }

    /// Runs `operation` on the kept connection (taken first if need be).
    pub(crate) async fn run<T>(
        &mut self,
        operation: impl AsyncFnOnce(&mut deadpool_redis::Connection) -> Result<T, QueueError>,
    ) -> Result<T, String> {
        let connection = match &mut self.connection {
            Some(connection) => connection,
            None => self
                .connection
                .insert(self.pool.get().await.map_err(|e| e.to_string())?),
        };
        match operation(connection).await {
            Ok(value) => Ok(value),
            Err(error) => {
                if let Some(broken) = self.connection.take() {
                    drop(deadpool_redis::Connection::take(broken));
                }
                Err(error.to_string())
            }
        }
    }
}

/// Entries delivered to a consumer group and not yet acknowledged: on the
/// jobs stream (workers) and on every results stream together (folders).
/// A stream or group not made yet counts as none.
pub async fn pending(
    pool: &RedisPool,
    keys: &keys::Keys,
    partitions: u16,
) -> Result<(u64, u64), String> {
    let mut connection = pool.get().await.map_err(|e| e.to_string())?;
    let jobs = pending_in(&mut connection, &keys.jobs(), keys::WORKERS_GROUP).await;
    let mut results = 0;
    for stream in keys.all_results(partitions) {
        results += pending_in(&mut connection, &stream, keys::FOLDERS_GROUP).await;
    }
    Ok((jobs, results))
}

async fn pending_in(connection: &mut deadpool_redis::Connection, stream: &str, group: &str) -> u64 {
    let summary: redis::RedisResult<redis::Value> = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(connection)
        .await;
    match summary {
        Ok(redis::Value::Array(fields)) => match fields.first() {
            Some(redis::Value::Int(count)) => u64::try_from(*count).unwrap_or(0),
            _ => 0,
        },
        _ => 0,
    }
}
