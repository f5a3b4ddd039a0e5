//! Telling long-running loops that the process is stopping.

use std::time::Duration;

use tokio::sync::watch;

/// Tells long-running loops that the process is stopping.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// The sending half: `trigger` asks every loop to finish what it holds and stop.
#[derive(Debug)]
pub struct ShutdownTrigger(watch::Sender<bool>);

pub fn shutdown_channel() -> (ShutdownTrigger, Shutdown) {
    let (sender, receiver) = watch::channel(false);
    (ShutdownTrigger(sender), Shutdown(receiver))
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// A shutdown that never comes: for loops that must finish their input
    /// whatever happens (the worker's publisher).
    pub fn never() -> Self {
        let (trigger, shutdown) = shutdown_channel();
        // The receiver sees the last value; without a sender it never changes.
        drop(trigger);
        shutdown
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once shutdown is requested; never, if it cannot be any more.
    pub async fn requested(&mut self) {
        if self.0.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Sleeps for `duration` unless shutdown comes first; true if it did.
    pub async fn sleep(&mut self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => self.is_requested(),
            () = self.requested() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trigger_wakes_a_sleeper_and_never_does_not() {
        let (trigger, mut shutdown) = shutdown_channel();
        trigger.trigger();
        assert!(shutdown.sleep(Duration::from_secs(3600)).await);
        let mut never = Shutdown::never();
        assert!(!never.sleep(Duration::from_millis(10)).await);
        assert!(!never.is_requested());
    }
}
