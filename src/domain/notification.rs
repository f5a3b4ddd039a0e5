//! Notifications: which transitions are news, what a notification says, and
//! what happens after an attempt to deliver one (retry when, or give up).

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::fields::InvalidValue;
use super::monitor::{StatusChange, VersionDrift};
use super::status::Status;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    Down,
    Up,
    Drift,
    Reminder,
    Test,
}

impl NotificationKind {
    pub const ALL: [Self; 5] = [
        Self::Down,
        Self::Up,
        Self::Drift,
        Self::Reminder,
        Self::Test,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Down => "down",
            Self::Up => "up",
            Self::Drift => "drift",
            Self::Reminder => "reminder",
            Self::Test => "test",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == raw)
            .ok_or_else(|| InvalidValue(format!("`{raw}` is not a notification kind")))
    }

    /// The notification a status change is, if it is news: every move to
    /// `down`, and `down` → `up` (a new monitor's first `up` is not).
    pub fn of_change(change: &StatusChange) -> Option<Self> {
        // A change moves the status: `from` is never `to`.
        match (change.from, change.to) {
            (_, Status::Down) => Some(Self::Down),
            (Status::Down, Status::Up) => Some(Self::Up),
            _ => None,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [Self; 3] = [Self::Pending, Self::Delivered, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| {
                InvalidValue(format!("must be pending, delivered or failed, got `{raw}`"))
            })
    }
}

/// The monitor a notification is about, as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitorSummary {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    pub tags: Vec<String>,
}

/// What a drift notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftNotice {
    pub expected: String,
    pub observed: String,
    /// The version matches again.
    pub resolved: bool,
}

impl DriftNotice {
    pub fn of(drift: VersionDrift, resolved: bool) -> Self {
        Self {
            expected: drift.expected,
            observed: drift.observed,
            resolved,
        }
    }
}

/// Everything a sender needs to word one notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub delivery_id: Uuid,
    pub kind: NotificationKind,
    /// The event's global sequence number (none for a test).
    pub seq: Option<i64>,
    pub at: OffsetDateTime,
    /// None for a test.
    pub monitor: Option<MonitorSummary>,
    /// The transition (for a reminder: the one into the outage).
    pub change: Option<StatusChange>,
    /// The drift change, for a drift notification.
    pub drift: Option<DriftNotice>,
    /// The channel's name, for a test's wording.
    pub channel_name: String,
}

impl Notification {
    /// One line naming the monitor, the news and the reason, e.g.
    /// `checkout is DOWN: status 503 (expected 2xx)`.
    pub fn summary(&self) -> String {
        let name = self.monitor.as_ref().map_or("?", |m| m.name.as_str());
        let reason = self.change.as_ref().map_or("", |c| c.reason.as_str());
        match self.kind {
            NotificationKind::Test => format!(
                "Test notification from upwatch to channel {}",
                self.channel_name
            ),
            NotificationKind::Down => format!("{name} is DOWN: {reason}"),
            NotificationKind::Up => format!("{name} is UP again: {reason}"),
            NotificationKind::Reminder => format!("{name} is still DOWN: {reason}"),
            NotificationKind::Drift => match &self.drift {
                Some(d) if d.resolved => {
                    format!("{name} reports the expected version again: {}", d.observed)
                }
                Some(d) => format!(
                    "{name} has drifted: expected version {}, observed {}",
                    d.expected, d.observed
                ),
                None => format!("{name} has drifted"),
            },
        }
    }

    /// The status word of an e-mail subject: DOWN, UP, STILL DOWN, ...
    pub fn headline(&self) -> &'static str {
        match self.kind {
            NotificationKind::Down => "DOWN",
            NotificationKind::Up => "UP",
            NotificationKind::Reminder => "STILL DOWN",
            NotificationKind::Drift => "DRIFTING",
            NotificationKind::Test => "a TEST",
        }
    }
}

/// What one attempt to deliver came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered,
    /// Worth trying again (a connection error, a timeout, 408, 429, 5xx);
    /// `retry_after` is what the receiver asked for.
    Retry {
        error: String,
        retry_after: Option<Duration>,
    },
    /// Trying again would not help (another 4xx).
    Fail {
        error: String,
    },
}

impl Attempt {
    /// The outcome an HTTP receiver's status means.
    pub fn of_http_status(status: u16, retry_after: Option<Duration>) -> Self {
        match status {
            200..=299 => Self::Delivered,
            408 | 429 | 500..=599 => Self::Retry {
                error: format!("the receiver answered {status}"),
                retry_after,
            },
            _ => Self::Fail {
                error: format!("the receiver answered {status}"),
            },
        }
    }
}

/// When retries come: exponential from `first`, capped at `max`, each
/// scaled by a jitter in [0.5, 1.5) so that receivers coming back are not hit
/// by every notifier at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub max: Duration,
    /// How long after its creation a delivery is given up.
    pub give_up_after: Duration,
}

impl RetryPolicy {
    pub fn new(give_up_after: Duration) -> Self {
        Self {
            first: Duration::from_secs(2),
            max: Duration::from_secs(30 * 60),
            give_up_after,
        }
    }

    /// The wait after the `attempts`-th failed attempt (1 for the first),
    /// given a `jitter` in [0, 1): at least what `retry_after` asks.
    pub fn delay(&self, attempts: u32, jitter: f64, retry_after: Option<Duration>) -> Duration {
        let exponent = attempts.saturating_sub(1).min(20);
        let base = self.first.saturating_mul(1 << exponent).min(self.max);
        let jittered = base.mul_f64(0.5 + jitter.clamp(0.0, 1.0));
        jittered.max(retry_after.unwrap_or_default().min(self.give_up_after))
    }

    /// What to record after the `attempts`-th attempt of a delivery created
    /// at `created_at` came to `attempt`, at `now`.
    pub fn next(
        &self,
        attempt: Attempt,
        attempts: u32,
        created_at: OffsetDateTime,
        now: OffsetDateTime,
        jitter: f64,
    ) -> NextStep {
        match attempt {
            Attempt::Delivered => NextStep::Delivered,
            Attempt::Fail { error } => NextStep::Failed { error },
            Attempt::Retry { error, retry_after } => {
                let at = now + self.delay(attempts, jitter, retry_after);
                if at > created_at + self.give_up_after {
                    NextStep::Failed {
                        error: format!("gave up after {attempts} attempts: {error}"),
                    }
                } else {
                    NextStep::RetryAt { at, error }
                }
            }
        }
    }
}

/// Which reminder is owed at `now` for an outage that began at `down_since`,
/// reminding every `period`: the number of whole periods gone by, if any.
/// Only the current period's is owed: a notifier that was stopped for three
/// periods sends one reminder, not three.
pub fn reminder_due(
    down_since: OffsetDateTime,
    period: Duration,
    now: OffsetDateTime,
) -> Option<u32> {
    let elapsed = now - down_since;
    let period = time::Duration::try_from(period).ok()?;
    if period.is_zero() || elapsed < period {
        return None;
    }
    u32::try_from(elapsed.whole_seconds() / period.whole_seconds().max(1)).ok()
}

/// What a delivery becomes after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt { at: OffsetDateTime, error: String },
    Failed { error: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn change(from: Status, to: Status) -> StatusChange {
        StatusChange {
            from,
            to,
            reason: "status 503".into(),
            job_id: Uuid::nil(),
            checked_at: datetime!(2026-12-01 00:00 UTC),
            latency_ms: 3,
            http_status: Some(503),
            error: None,
        }
    }

    #[test]
    fn downs_and_recoveries_are_news_a_first_up_is_not() {
        use Status::*;
        let cases = [
            (Unknown, Down, Some(NotificationKind::Down)),
            (Up, Down, Some(NotificationKind::Down)),
            (Down, Up, Some(NotificationKind::Up)),
            (Unknown, Up, None),
            (Down, Unknown, None),
        ];
        for (from, to, expected) in cases {
            assert_eq!(
                NotificationKind::of_change(&change(from, to)),
                expected,
                "{from:?} → {to:?}"
            );
        }
    }

    #[test]
    fn delivery_statuses_parse_their_contract_names_only() {
        let names: Vec<&str> = DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["pending", "delivered", "failed"]);
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()).unwrap(), status);
        }
        assert!(DeliveryStatus::parse("Delivered").is_err());
        assert!(DeliveryStatus::parse("").is_err());
    }

    #[test]
    fn a_drift_summary_says_which_way_it_went() {
        let drift = |resolved| Notification {
            delivery_id: Uuid::nil(),
            kind: NotificationKind::Drift,
            seq: Some(7),
            at: datetime!(2026-12-01 00:00 UTC),
            monitor: Some(MonitorSummary {
                id: Uuid::nil(),
                name: "checkout".into(),
                url: "http://checkout/health".into(),
                tags: vec![],
            }),
            change: None,
            drift: Some(DriftNotice {
                expected: "2.0.0".into(),
                observed: if resolved { "2.0.0" } else { "1.9.0" }.into(),
                resolved,
            }),
            channel_name: "ops".into(),
        };
        assert_eq!(
            drift(false).summary(),
            "checkout has drifted: expected version 2.0.0, observed 1.9.0"
        );
        assert_eq!(
            drift(true).summary(),
            "checkout reports the expected version again: 2.0.0"
        );
    }

    #[test]
    fn a_reminder_is_owed_once_per_whole_period_of_an_outage() {
        let since = datetime!(2026-12-01 00:00 UTC);
        let period = Duration::from_secs(5 * 60);
        assert_eq!(
            reminder_due(since, period, since + Duration::from_secs(299)),
            None
        );
        assert_eq!(
            reminder_due(since, period, since + Duration::from_secs(300)),
            Some(1)
        );
        assert_eq!(
            reminder_due(since, period, since + Duration::from_secs(599)),
            Some(1)
        );
        assert_eq!(
            reminder_due(since, period, since + Duration::from_secs(1900)),
            Some(6)
        );
        assert_eq!(
            reminder_due(since, period, since - Duration::from_secs(60)),
            None
        );
    }

    #[test]
    fn http_statuses_split_into_delivered_retry_and_fail() {
        assert_eq!(Attempt::of_http_status(204, None), Attempt::Delivered);
        for retried in [408, 429, 500, 503] {
            assert!(
                matches!(
                    Attempt::of_http_status(retried, None),
                    Attempt::Retry { .. }
                ),
                "{retried}"
            );
        }
        for failed in [301, 400, 401, 404, 410] {
            assert!(
                matches!(Attempt::of_http_status(failed, None), Attempt::Fail { .. }),
                "{failed}"
            );
        }
    }

    #[test]
    fn retries_back_off_exponentially_with_jitter_and_honour_retry_after() {
        let policy = RetryPolicy::new(Duration::from_secs(24 * 3600));
        // The first retry comes within 5 s, whatever the jitter.
        assert!(policy.delay(1, 0.0, None) >= Duration::from_secs(1));
        assert!(policy.delay(1, 0.999, None) < Duration::from_secs(5));
        assert_eq!(policy.delay(3, 0.5, None), Duration::from_secs(8));
        assert_eq!(policy.delay(4, 0.5, None), Duration::from_secs(16));
        assert_eq!(policy.delay(30, 0.5, None), Duration::from_secs(30 * 60));
        assert_eq!(
            policy.delay(1, 0.5, Some(Duration::from_secs(120))),
            Duration::from_secs(120)
        );
        assert_eq!(
            policy.delay(5, 0.5, Some(Duration::from_secs(1))),
            Duration::from_secs(32)
        );
    }

    #[test]
    fn a_retry_past_the_give_up_time_fails_the_delivery() {
        let policy = RetryPolicy::new(Duration::from_secs(3600));
        let created = datetime!(2026-12-01 00:00 UTC);
        let retry = || Attempt::Retry {
            error: "timeout".into(),
            retry_after: None,
        };
        let soon = policy.next(retry(), 1, created, created, 0.5);
        assert_eq!(
            soon,
            NextStep::RetryAt {
                at: created + Duration::from_secs(2),
                error: "timeout".into()
            }
        );
        let late = policy.next(
            retry(),
            9,
            created,
            created + Duration::from_secs(3500),
            0.5,
        );
        assert!(
            matches!(late, NextStep::Failed { error } if error.contains("gave up after 9 attempts"))
        );
        // A retry due exactly at the give-up time is still made (the third
        // retry waits 8 s at this jitter).
        let last = policy.next(
            retry(),
            3,
            created,
            created + Duration::from_secs(3592),
            0.5,
        );
        assert!(
            matches!(last, NextStep::RetryAt { at, .. } if at == created + Duration::from_secs(3600))
        );
        let refused = policy.next(
            Attempt::Fail {
                error: "the receiver answered 400".into(),
            },
            1,
            created,
            created,
            0.5,
        );
        assert!(matches!(refused, NextStep::Failed { .. }));
        assert_eq!(
            policy.next(Attempt::Delivered, 2, created, created, 0.5),
            NextStep::Delivered
        );
    }
}
