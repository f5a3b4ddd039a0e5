//! What the roles share: shutdown, one retry with backoff, batching, the
//! consumer loop every role runs under, and runtimes of their own.

pub mod batching;
pub mod consumer;
pub mod retry;
mod shutdown;
mod spawn;

pub use shutdown::{Shutdown, ShutdownTrigger, shutdown_channel};
pub(crate) use spawn::spawn_on_own_runtime;

/// Wall-clock time in Unix milliseconds (the schedule grid's clock).
pub fn now_ms() -> u64 {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    u64::try_from(now).unwrap_or(0)
}
