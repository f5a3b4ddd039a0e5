//! Redis: the connection pool, and the streams of the probe pipeline (jobs,
//! results, transitions) with their consumer groups. Every key is built from
//! the configured prefix.

pub mod jobs;
pub mod keys;
pub mod leases;
pub mod results;
pub mod stream;
pub mod transitions;

pub use stream::QueueError;

use std::time::Duration;

use deadpool_redis::{Config, Pool, Runtime};

use crate::config::RedisUrl;
use crate::retry::{Backoff, retry_until};

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

pub fn pool(url: &RedisUrl, max_size: usize) -> Result<RedisPool, RedisError> {
    let mut config = Config::from_url(url.expose());
    config.pool = Some(deadpool_redis::PoolConfig {
        max_size,
        timeouts: deadpool_redis::Timeouts {
            wait: Some(Duration::from_secs(5)),
            create: Some(Duration::from_secs(5)),
            recycle: Some(Duration::from_secs(5)),
        },
        ..Default::default()
    });
    config
        .create_pool(Some(Runtime::Tokio1))
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
    retry_until("Redis", timeout, Backoff::default(), || ping(pool))
        .await
        .map_err(|(waited, last_error)| RedisError::GaveUp { waited, last_error })
}
