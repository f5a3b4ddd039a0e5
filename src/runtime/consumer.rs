//! The one loop every role runs under. A role is a `Step`: `prepare` makes
//! what its steps need (consumer groups, a first load), `step` does one
//! round of work and says what it did. The loop owns the rest: preparing
//! again after a failure (a Redis that restarted empty lost its groups),
//! backing off while failures last, and stopping on shutdown. Tests call
//! `prepare` and `step` themselves instead of waiting on timers.

use std::time::Duration;

use super::Shutdown;
use super::retry::Backoff;

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handled this many items (entries, jobs, batches): step again at once.
    Worked(usize),
    /// Nothing came within the step's own wait: step again at once.
    Idle,
    /// Nothing to do until this much time has passed (a role on a timer).
    Sleep(Duration),
    /// The input is closed: nothing more will come.
    Finished,
}

impl Outcome {
    /// `Worked(count)`, or `Idle` when nothing was handled.
    pub fn worked(count: usize) -> Self {
        if count == 0 {
            Self::Idle
        } else {
            Self::Worked(count)
        }
    }
}

/// Why a step failed, which decides what the loop does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// Redis failed: what `prepare` made may be gone with it, so it is made
    /// again before the next step.
    #[error("{0}")]
    Queue(String),
    /// Anything else (PostgreSQL unavailable, a refused write): the step is
    /// tried again after a backoff.
    #[error("{0}")]
    Store(String),
}

impl StepError {
    pub fn queue(error: impl std::fmt::Display) -> Self {
        Self::Queue(error.to_string())
    }

    pub fn store(error: impl std::fmt::Display) -> Self {
        Self::Store(error.to_string())
    }
}

/// A role that works in steps.
// Roles run on the thread that drives them (the actix System, or a runtime
// of their own), so their futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Step {
    /// The role's name in log lines.
    fn name(&self) -> &'static str;

    /// Makes what the steps need; run before the first step, and again
    /// after a step failed with `StepError::Queue`.
    async fn prepare(&mut self) -> Result<(), StepError> {
        Ok(())
    }

    /// One round of work.
    async fn step(&mut self) -> Result<Outcome, StepError>;

    /// Told of a failed step before the loop backs off (to read its own
    /// pending entries again, say).
    fn failed(&mut self, _error: &StepError) {}

    /// Runs once the loop ends: finish what is in hand, hand leases over.
    async fn stop(&mut self) {}
}

/// Delays after failed steps: short at first, so a blip costs little, and
/// capped, so a dependency that comes back is used again soon.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_millis(200),
    max: Duration::from_secs(2),
};

/// Runs `role` until shutdown (or until its input is finished), then stops it.
pub async fn run(mut role: impl Step, mut shutdown: Shutdown) {
    let name = role.name();
    tracing::info!(role = name, "started");
    let mut prepared = false;
    let mut delay = BACKOFF.first;
    while !shutdown.is_requested() {
        let stepped = if prepared {
            role.step().await
        } else {
            role.prepare().await.map(|()| {
                prepared = true;
                Outcome::Idle
            })
        };
        match stepped {
            Ok(outcome) => {
                delay = BACKOFF.first;
                match outcome {
                    Outcome::Worked(_) | Outcome::Idle => {}
                    Outcome::Sleep(wait) => {
                        shutdown.sleep(wait).await;
                    }
                    Outcome::Finished => break,
                }
            }
            Err(error) => {
                tracing::warn!(
                    role = name,
                    error = %error,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "step failed; retrying"
                );
                if matches!(error, StepError::Queue(_)) {
                    prepared = false;
                }
                role.failed(&error);
                shutdown.sleep(delay).await;
                delay = BACKOFF.after(delay);
            }
        }
    }
    role.stop().await;
    tracing::info!(role = name, "stopped");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::shutdown_channel;

    /// Fails its first steps as told, then counts down to `Finished`.
    #[derive(Default)]
    struct Scripted {
        failures: Vec<StepError>,
        left: usize,
        log: Vec<&'static str>,
    }

    impl Step for &mut Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        async fn prepare(&mut self) -> Result<(), StepError> {
            self.log.push("prepare");
            Ok(())
        }
        async fn step(&mut self) -> Result<Outcome, StepError> {
            if !self.failures.is_empty() {
                self.log.push("fail");
                return Err(self.failures.remove(0));
            }
            self.log.push("step");
            if self.left == 0 {
                return Ok(Outcome::Finished);
            }
            self.left -= 1;
            Ok(Outcome::Worked(1))
        }
        fn failed(&mut self, _: &StepError) {
            self.log.push("failed");
        }
        async fn stop(&mut self) {
            self.log.push("stop");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_queue_failure_prepares_again_and_a_store_failure_only_retries() {
        let mut role = Scripted {
            failures: vec![StepError::queue("redis gone"), StepError::store("pg gone")],
            left: 1,
            ..Scripted::default()
        };
        run(&mut role, Shutdown::never()).await;
        assert_eq!(
            role.log,
            [
                "prepare", "fail", "failed", "prepare", "fail", "failed", "step", "step", "stop"
            ]
        );
    }

    #[tokio::test]
    async fn shutdown_ends_the_loop_and_stops_the_role() {
        let (trigger, shutdown) = shutdown_channel();
        trigger.trigger();
        let mut role = Scripted {
            left: usize::MAX,
            ..Scripted::default()
        };
        run(&mut role, shutdown).await;
        assert_eq!(role.log, ["stop"]);
    }
}
