//! Ticks skipped on purpose — too late to probe, or no room to queue them —
//! are counted (`upwatch_ticks_skipped_total`), added to each monitor's
//! `skipped_ticks` (a Redis hash, written by the next Redis step of the
//! emitter or a worker's publisher), and reported in a `warn` line at most
//! every ten seconds per process, with how many and why, so an overload
//! shows without a line per tick.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::queue::keys::Keys;
use crate::queue::{HeldConnection, skips};

const REPORT_EVERY: Duration = Duration::from_secs(10);

/// The skips of one emitter or one worker lane, shared by what skips and
/// what records them.
#[derive(Debug, Clone, Default)]
pub struct Skips(Arc<Mutex<Unreported>>);

#[derive(Debug, Default)]
struct Unreported {
    count: u64,
    reason: &'static str,
    since: Option<Instant>,
    /// Per monitor, skipped and not yet added to Redis.
    unrecorded: HashMap<Uuid, u64>,
}

impl Skips {
    /// Counts one skipped tick of each of `monitors` (a monitor may
    /// repeat), and warns if the last warning is old enough.
    pub fn skipped(&self, monitors: impl IntoIterator<Item = Uuid>, reason: &'static str) {
        let Ok(mut unreported) = self.0.lock() else {
            return;
        };
        let mut count = 0;
        for monitor in monitors {
            *unreported.unrecorded.entry(monitor).or_default() += 1;
            count += 1;
        }
        if count == 0 {
            return;
        }
        crate::instruments::ticks_skipped(count);
        unreported.count += count;
        unreported.reason = reason;
        let now = Instant::now();
        let due = unreported
            .since
            .is_none_or(|since| now.duration_since(since) >= REPORT_EVERY);
        if due {
            tracing::warn!(
                skipped = unreported.count,
                last_reason = unreported.reason,
                "ticks skipped instead of probed late (upwatch_ticks_skipped_total counts them all)"
            );
            unreported.count = 0;
            unreported.since = Some(now);
        }
    }

    /// Adds the per-monitor counts skipped since the last call to Redis.
    /// What could not be written is kept for the next call.
    pub async fn record(&self, redis: &mut HeldConnection, keys: &Keys) {
        let counts = match self.0.lock() {
            Ok(mut unreported) if !unreported.unrecorded.is_empty() => {
                std::mem::take(&mut unreported.unrecorded)
            }
            _ => return,
        };
        let written = redis
            .run(async |connection| skips::record(connection, keys, &counts).await)
            .await;
        if let Err(error) = written {
            tracing::warn!(error = %error, "skipped ticks not yet added to their monitors; kept for the next try");
            if let Ok(mut unreported) = self.0.lock() {
                for (monitor, count) in counts {
                    *unreported.unrecorded.entry(monitor).or_default() += count;
                }
            }
        }
    }
}
