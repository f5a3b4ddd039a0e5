//! The notifier role: claims due deliveries from the outbox, sends each
//! with a bounded number in flight, and records what every attempt came to.
//! It sleeps until PostgreSQL tells it (`LISTEN`) that something is owed,
//! the next retry falls due, or it is time to look for reminders — an idle
//! notifier runs two small queries every half minute.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::domain::notification::{NextStep, RetryPolicy};
use crate::notify::{ATTEMPT_TIMEOUT, Senders};
use crate::runtime::consumer::{self, Outcome, Step, StepError};
use crate::runtime::retry::{Until, retry};
use crate::runtime::{Shutdown, spawn_on_own_runtime};
use crate::store::Pool;
use crate::store::deliveries::{self, Claimed};
use crate::store::listen::{self, Listener};

/// How long a claim holds a delivery: longer than any attempt, so a live
/// notifier always records its outcome first; after a crash, how soon
/// another notifier tries again.
pub const LEASE: Duration = Duration::from_secs(ATTEMPT_TIMEOUT.as_secs() + 5);

/// How often the notifier looks for reminders that fell due.
const REMINDER_CHECK: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Deliveries sent at once.
    pub concurrency: usize,
    pub policy: RetryPolicy,
    /// Where to `LISTEN` for new deliveries.
    pub database: tokio_postgres::Config,
}

/// Runs the notifier on a runtime of its own, with a pool of its own.
pub fn spawn(
    pool: Pool,
    senders: Senders,
    config: NotifierConfig,
    shutdown: Shutdown,
) -> std::io::Result<JoinHandle<()>> {
    spawn_on_own_runtime("upwatch-notifier", 1, move || async move {
        consumer::run(
            Notifier::new(pool, senders, config, shutdown.clone()),
            shutdown,
        )
        .await;
    })
}

pub struct Notifier {
    pool: Pool,
    senders: Senders,
    config: NotifierConfig,
    shutdown: Shutdown,
    listener: Option<Listener>,
    sending: JoinSet<()>,
    next_reminder_check: Instant,
}

impl Notifier {
    pub fn new(pool: Pool, senders: Senders, config: NotifierConfig, shutdown: Shutdown) -> Self {
        Self {
            pool,
            senders,
            config,
            shutdown,
            listener: None,
            sending: JoinSet::new(),
            next_reminder_check: Instant::now(),
        }
    }

    /// Deliveries being sent right now.
    pub fn in_flight(&self) -> usize {
        self.sending.len()
    }

    /// Waits until there may be work: a wake-up, a retry falling due, a send
    /// finishing (room for another), the reminder timer, or shutdown.
    async fn wait_for_work(&mut self) -> Result<usize, StepError> {
        let full = self.sending.len() >= self.config.concurrency;
        let mut wait = self
            .next_reminder_check
            .saturating_duration_since(Instant::now());
        if !full
            && let Some(due) = deliveries::next_due(&self.pool)
                .await
                .map_err(StepError::store)?
        {
            let until_due = due - OffsetDateTime::now_utc();
            let until_due = Duration::try_from(until_due).unwrap_or_default();
            // A due row another notifier is claiming right now: look again soon.
            wait = wait.min(until_due.max(Duration::from_millis(50)));
        }
        // A full notifier waits for room, not for more work.
        let woken = listen::woken_by(self.listener.as_ref().filter(|_| !full));
        let sending = !self.sending.is_empty();
        tokio::select! {
            () = woken => Ok(0),
            () = tokio::time::sleep(wait) => Ok(0),
            Some(_) = self.sending.join_next(), if sending => Ok(1),
            () = self.shutdown.requested() => Ok(0),
        }
    }
}

impl Step for Notifier {
    fn name(&self) -> &'static str {
        "notifier"
    }

    async fn prepare(&mut self) -> Result<(), StepError> {
        let listener = Listener::start(&self.config.database, deliveries::WAKE_UP)
            .await
            .map_err(StepError::store)?;
        self.listener = Some(listener);
        Ok(())
    }

    async fn step(&mut self) -> Result<Outcome, StepError> {
        let mut finished = 0;
        while self.sending.try_join_next().is_some() {
            finished += 1;
        }
        if self.listener.as_ref().is_none_or(Listener::is_lost) {
            // Prepared again before the next step: a new LISTEN connection.
            return Err(StepError::queue(
                "the LISTEN connection to PostgreSQL was lost",
            ));
        }
        if Instant::now() >= self.next_reminder_check {
            let owed = deliveries::owe_reminders(&self.pool, OffsetDateTime::now_utc())
                .await
                .map_err(StepError::store)?;
            if owed > 0 {
                tracing::info!(reminders = owed, "reminders owed");
            }
            self.next_reminder_check = Instant::now() + REMINDER_CHECK;
        }
        let room = self.config.concurrency.saturating_sub(self.sending.len());
        let mut claimed = 0;
        if room > 0 {
            let due = deliveries::claim(&self.pool, room, LEASE)
                .await
                .map_err(StepError::store)?;
            claimed = due.len();
            for delivery in due {
                let (pool, senders, policy) =
                    (self.pool.clone(), self.senders.clone(), self.config.policy);
                self.sending.spawn(async move {
                    deliver(&pool, &senders, policy, delivery).await;
                });
            }
        }
        if claimed + finished == 0 {
            finished = self.wait_for_work().await?;
        }
        Ok(Outcome::worked(claimed + finished))
    }

    async fn stop(&mut self) {
        // Sends in flight finish and record their outcome; an unrecorded
        // one is sent again (same delivery id) once its lease is over.
        while self.sending.join_next().await.is_some() {}
    }
}

/// One attempt at a claimed delivery, and its outcome recorded. Returns
/// what the delivery became.
pub async fn deliver(
    pool: &Pool,
    senders: &Senders,
    policy: RetryPolicy,
    claimed: Claimed,
) -> NextStep {
    let attempt = senders
        .send(claimed.channel.destination(), &claimed.notification)
        .await;
    let attempts = u32::try_from(claimed.attempt).unwrap_or(1);
    let next = policy.next(
        attempt,
        attempts,
        claimed.created_at,
        OffsetDateTime::now_utc(),
        fastrand::f64(),
    );
    let n = &claimed.notification;
    let outcome = match &next {
        NextStep::Delivered => "delivered",
        NextStep::RetryAt { .. } => "retrying",
        NextStep::Failed { .. } => "failed",
    };
    let channel = claimed.channel.destination().kind().as_str();
    crate::instruments::notification(n.kind.as_str(), channel, outcome);
    match &next {
        NextStep::Delivered => tracing::info!(
            delivery_id = %claimed.id, channel = n.channel_name, kind = n.kind.as_str(),
            attempt = claimed.attempt, "notification delivered"
        ),
        NextStep::RetryAt { at, error } => tracing::warn!(
            delivery_id = %claimed.id, channel = n.channel_name, kind = n.kind.as_str(),
            attempt = claimed.attempt, error = %error, retry_at = %at, "notification not delivered; will retry"
        ),
        NextStep::Failed { error } => tracing::error!(
            delivery_id = %claimed.id, channel = n.channel_name, kind = n.kind.as_str(),
            attempt = claimed.attempt, error = %error, "notification failed"
        ),
    }
    // Within the lease: past it the delivery is another attempt's to record.
    let recorded = retry(
        "recording a delivery attempt",
        Until::Elapsed(LEASE - ATTEMPT_TIMEOUT),
        || deliveries::record(pool, claimed.id, claimed.attempt, &next),
    )
    .await;
    if let Ok(false) = recorded {
        tracing::warn!(delivery_id = %claimed.id, attempt = claimed.attempt,
            "the delivery moved on before this attempt's outcome was recorded");
    }
    next
}
