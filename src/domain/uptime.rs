//! Uptime from the event log: the share of a span of time a monitor was
//! `up`, weighted by time, counting only the time it was `up` or `down`
//! (not paused, not unknown, not before it existed or after its deletion).

use time::{Duration, OffsetDateTime};

use super::status::Status;

/// What changes what is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Registered,
    Status(Status),
    Paused,
    Resumed,
    Deleted,
}

/// A monitor's state when a span starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    pub exists: bool,
    pub status: Status,
    pub paused: bool,
}

impl State {
    /// Before its first event.
    pub const NONE: State = State {
        exists: false,
        status: Status::Unknown,
        paused: false,
    };

    pub fn after(mut self, change: Change) -> Self {
        match change {
            Change::Registered => {
                self = State {
                    exists: true,
                    status: Status::Unknown,
                    paused: false,
                }
            }
            Change::Status(status) => self.status = status,
            Change::Paused => self.paused = true,
            Change::Resumed => self.paused = false,
            Change::Deleted => self.exists = false,
        }
        self
    }

    /// The status this time counts as, if it counts at all.
    fn counted(self) -> Option<Status> {
        (self.exists && !self.paused && self.status != Status::Unknown).then_some(self.status)
    }
}

/// Time spent up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub up: Duration,
    pub down: Duration,
}

impl Tally {
    /// The share of the counted time that was up; `None` when none counted.
    pub fn uptime(&self) -> Option<f64> {
        let counted = self.up + self.down;
        (counted > Duration::ZERO).then(|| self.up / counted)
    }
}

/// The time from `initial` (the state at `from`) through `changes` (in
/// order, each at its time) tallied into each bucket `[start, start + len)`,
/// the last one ending at `to` at the latest.
pub fn tally_buckets(
    initial: State,
    changes: &[(OffsetDateTime, Change)],
    starts: &[OffsetDateTime],
    len: Duration,
    to: OffsetDateTime,
) -> Vec<Tally> {
    let mut tallies = vec![Tally::default(); starts.len()];
    let Some(&first) = starts.first() else {
        return tallies;
    };
    let mut state = initial;
    let mut from = first;
    let segments = changes
        .iter()
        .copied()
        .chain(std::iter::once((to, Change::Deleted)));
    for (at, change) in segments {
        let until = at.min(to);
        if until > from
            && let Some(status) = state.counted()
        {
            for (tally, &start) in tallies.iter_mut().zip(starts) {
                let overlap = until.min(start + len).min(to) - from.max(start);
                if overlap > Duration::ZERO {
                    match status {
                        Status::Up => tally.up += overlap,
                        _ => tally.down += overlap,
                    }
                }
            }
        }
        from = from.max(until);
        state = state.after(change);
    }
    tallies
}

/// The whole span `[from, to)` as one tally.
pub fn tally(
    initial: State,
    changes: &[(OffsetDateTime, Change)],
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Tally {
    tally_buckets(initial, changes, &[from], to - from, to)
        .pop()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const UP: State = State {
        exists: true,
        status: Status::Up,
        paused: false,
    };

    #[test]
    fn uptime_is_weighted_by_time() {
        let from = datetime!(2026-01-01 0:00 UTC);
        let to = datetime!(2026-01-01 4:00 UTC);
        let changes = [
            (datetime!(2026-01-01 1:00 UTC), Change::Status(Status::Down)),
            (datetime!(2026-01-01 2:00 UTC), Change::Status(Status::Up)),
        ];
        let whole = tally(UP, &changes, from, to);
        assert_eq!(whole.up, Duration::hours(3));
        assert_eq!(whole.down, Duration::hours(1));
        assert_eq!(whole.uptime(), Some(0.75));
    }

    #[test]
    fn paused_unknown_and_absent_time_is_not_counted() {
        let from = datetime!(2026-01-01 0:00 UTC);
        let to = datetime!(2026-01-01 6:00 UTC);
        let changes = [
            (datetime!(2026-01-01 1:00 UTC), Change::Registered),
            (datetime!(2026-01-01 2:00 UTC), Change::Status(Status::Up)),
            (datetime!(2026-01-01 3:00 UTC), Change::Paused),
            (datetime!(2026-01-01 4:00 UTC), Change::Resumed),
            (datetime!(2026-01-01 5:00 UTC), Change::Status(Status::Down)),
            (datetime!(2026-01-01 5:30 UTC), Change::Deleted),
        ];
        let whole = tally(State::NONE, &changes, from, to);
        assert_eq!(whole.up, Duration::hours(2));
        assert_eq!(whole.down, Duration::minutes(30));
        assert_eq!(tally(State::NONE, &[], from, to).uptime(), None);
    }

    #[test]
    fn buckets_split_the_segments_they_overlap() {
        let starts = [
            datetime!(2026-01-01 0:00 UTC),
            datetime!(2026-01-01 1:00 UTC),
        ];
        let changes = [(datetime!(2026-01-01 0:30 UTC), Change::Status(Status::Down))];
        let to = datetime!(2026-01-01 1:45 UTC);
        let tallies = tally_buckets(UP, &changes, &starts, Duration::HOUR, to);
        assert_eq!(tallies[0].up, Duration::minutes(30));
        assert_eq!(tallies[0].down, Duration::minutes(30));
        assert_eq!(tallies[1].up, Duration::ZERO);
        assert_eq!(
            tallies[1].down,
            Duration::minutes(45),
            "the last bucket ends at `to`"
        );
    }
}
