//! The health state machine: (state, probe result) → (state, optional
//! transition). Pure; the folder calls it for every result it folds.

use time::OffsetDateTime;

use super::fields::Threshold;
use super::status::Status;

/// What one probe found, as far as the state machine cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSample {
    pub up: bool,
    /// The tick the probe belonged to: results are ordered by it.
    pub scheduled_at: OffsetDateTime,
    /// When the probe finished: a new status holds since then.
    pub checked_at: OffsetDateTime,
}

/// A monitor's health between two results; persisted so a restart resumes the
/// counts where they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HealthState {
    pub status: Status,
    pub since: Option<OffsetDateTime>,
    pub consecutive_successes: u32,
    pub consecutive_failures: u32,
    /// The newest tick folded so far; older results no longer drive transitions.
    pub newest_folded: Option<OffsetDateTime>,
}

/// The thresholds of the monitor the result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub failure: Threshold,
    pub recovery: Threshold,
}

/// A change of status, the content of a `status_changed` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Status,
    pub to: Status,
    pub at: OffsetDateTime,
    pub reason: String,
}

/// Folds one sample into the state.
///
/// - `unknown` → `up` on the first success;
/// - `unknown`/`up` → `down` after `failure` consecutive failures;
/// - `down` → `up` after `recovery` consecutive successes;
/// - a result older than the newest folded one changes nothing.
pub fn fold(
    state: HealthState,
    sample: HealthSample,
    thresholds: Thresholds,
) -> (HealthState, Option<Transition>) {
    if state
        .newest_folded
        .is_some_and(|newest| sample.scheduled_at <= newest)
    {
        return (state, None);
    }
    let mut next = HealthState {
        newest_folded: Some(sample.scheduled_at),
        ..state
    };
    if sample.up {
        next.consecutive_successes = state.consecutive_successes.saturating_add(1);
        next.consecutive_failures = 0;
    } else {
        next.consecutive_failures = state.consecutive_failures.saturating_add(1);
        next.consecutive_successes = 0;
    }
    let failures_needed = u32::from(thresholds.failure.get());
    let successes_needed = u32::from(thresholds.recovery.get());
    let (to, reason) = match (state.status, sample.up) {
        (Status::Unknown, true) => (Status::Up, "first successful check".to_owned()),
        (Status::Down, true) if next.consecutive_successes >= successes_needed => (
            Status::Up,
            format!(
                "{} consecutive successful checks",
                next.consecutive_successes
            ),
        ),
        (Status::Unknown | Status::Up, false) if next.consecutive_failures >= failures_needed => (
            Status::Down,
            format!("{} consecutive failed checks", next.consecutive_failures),
        ),
        _ => return (next, None),
    };
    next.status = to;
    next.since = Some(sample.checked_at);
    let transition = Transition {
        from: state.status,
        to,
        at: sample.checked_at,
        reason,
    };
    (next, Some(transition))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn thresholds(failure: i64, recovery: i64) -> Thresholds {
        Thresholds {
            failure: Threshold::parse(failure).unwrap(),
            recovery: Threshold::parse(recovery).unwrap(),
        }
    }

    fn tick(n: i64) -> OffsetDateTime {
        datetime!(2026-01-01 00:00 UTC) + time::Duration::seconds(n)
    }

    /// When the probe of tick `n` finished.
    fn checked(n: i64) -> OffsetDateTime {
        tick(n) + time::Duration::milliseconds(250)
    }

    fn observe(up: bool, n: i64) -> HealthSample {
        HealthSample {
            up,
            scheduled_at: tick(n),
            checked_at: checked(n),
        }
    }

    /// Folds `results` (true = up) on consecutive ticks; returns the final
    /// state and the statuses transitioned to, with the tick of each.
    fn run(results: &[bool], limits: Thresholds) -> (HealthState, Vec<(Status, i64)>) {
        let mut state = HealthState::default();
        let mut transitions = Vec::new();
        for (n, &up) in (0_i64..).zip(results) {
            let (next, transition) = fold(state, observe(up, n), limits);
            if let Some(t) = transition {
                assert_eq!(t.from, state.status);
                transitions.push((t.to, n));
            }
            state = next;
        }
        (state, transitions)
    }

    /// A case name, results on consecutive ticks, thresholds, and the expected
    /// transitions (status reached, tick).
    type Case = (&'static str, Vec<bool>, Thresholds, Vec<(Status, i64)>);

    #[test]
    fn the_transition_table_holds() {
        use Status::{Down, Up};
        let (f, t) = (false, true);
        let cases: Vec<Case> = vec![
            (
                "first success is up",
                vec![t],
                thresholds(3, 5),
                vec![(Up, 0)],
            ),
            (
                "failures below threshold stay unknown",
                vec![f, f],
                thresholds(3, 1),
                vec![],
            ),
            (
                "unknown goes down at the threshold",
                vec![f, f, f],
                thresholds(3, 1),
                vec![(Down, 2)],
            ),
            (
                "threshold one goes down at once",
                vec![t, f],
                thresholds(1, 1),
                vec![(Up, 0), (Down, 1)],
            ),
            (
                "a success resets the failure count",
                vec![t, f, f, t, f, f],
                thresholds(3, 1),
                vec![(Up, 0)],
            ),
            (
                "up goes down after n failures",
                vec![t, f, f, f],
                thresholds(3, 1),
                vec![(Up, 0), (Down, 3)],
            ),
            (
                "down needs the recovery threshold",
                vec![f, f, t, t, f, t, t, t],
                thresholds(2, 3),
                vec![(Down, 1), (Up, 7)],
            ),
            (
                "staying down records nothing more",
                vec![f, f, f, f, f],
                thresholds(2, 1),
                vec![(Down, 1)],
            ),
            (
                "staying up records nothing more",
                vec![t, t, t],
                thresholds(2, 1),
                vec![(Up, 0)],
            ),
        ];
        for (name, results, limits, expected) in cases {
            assert_eq!(run(&results, limits).1, expected, "{name}");
        }
    }

    #[test]
    fn transitions_carry_time_and_reason_and_update_since() {
        let (state, _) = run(&[true, false, false], thresholds(2, 1));
        assert_eq!(state.status, Status::Down);
        assert_eq!(state.since, Some(checked(2)));
        let (_, transition) = fold(state, observe(true, 3), thresholds(2, 1));
        let transition = transition.unwrap();
        assert_eq!((transition.from, transition.to), (Status::Down, Status::Up));
        assert_eq!(transition.at, checked(3));
        assert_eq!(transition.reason, "1 consecutive successful checks");
    }

    #[test]
    fn results_older_than_the_newest_folded_change_nothing() {
        let limits = thresholds(1, 1);
        let (state, _) = run(&[true, true, true], limits);
        for late in [0, 2] {
            let (after, transition) = fold(state, observe(false, late), limits);
            assert_eq!(after, state);
            assert_eq!(transition, None);
        }
    }

    #[test]
    fn counts_resume_from_a_persisted_state() {
        let limits = thresholds(3, 1);
        let (before_restart, _) = run(&[true, false, false], limits);
        assert_eq!(before_restart.consecutive_failures, 2);
        let (_, transition) = fold(before_restart, observe(false, 3), limits);
        assert_eq!(transition.map(|t| t.to), Some(Status::Down));
    }
}
