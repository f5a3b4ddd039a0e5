//! The deterministic probe schedule: a monitor's ticks sit on the grid
//! `offset(monitor) + k·interval` (Unix milliseconds), and a job's id is
//! derived from (monitor id, tick). Two schedulers that both own a monitor for
//! a moment emit the same job ids, so the duplicate is harmless.

use uuid::Uuid;

use super::fields::IntervalSeconds;

/// Where in its interval a monitor's ticks fall, in milliseconds. Derived from
/// the id's random low bits, so monitors spread evenly over the interval.
pub fn offset_ms(monitor_id: Uuid, interval: IntervalSeconds) -> u64 {
    let interval_ms = u128::from(interval.as_millis());
    // The remainder is below the interval (≤ 86 400 000), so it fits in u64.
    u64::try_from(monitor_id.as_u128() % interval_ms).unwrap_or(0)
}

/// The first tick strictly after `now_ms`. Ticks missed while nothing ran are
/// skipped, never replayed as a burst; processing time never moves the grid.
pub fn next_tick_after(monitor_id: Uuid, interval: IntervalSeconds, now_ms: u64) -> u64 {
    let interval_ms = interval.as_millis();
    let offset = offset_ms(monitor_id, interval);
    if now_ms < offset {
        return offset;
    }
    let ticks_so_far = (now_ms - offset) / interval_ms;
    offset + (ticks_so_far + 1) * interval_ms
}

/// Monitor timers fire on a coarser shared grid of this many milliseconds:
/// every tick that falls within one step wakes the scheduler's thread once,
/// together, instead of once each. At everyday rates (100 ticks/s) a wake-up
/// costs more than the tick's own work, and the jobs still gather in the
/// emitter for about as long anyway; the cost is up to this much schedule lag.
pub const TIMER_GRANULE_MS: u64 = 50;

/// When the timer for `tick_ms` fires: the first step of the timer grid at
/// or after it. The tick itself (the job's `scheduled_at`) does not move.
pub fn wake_at(tick_ms: u64) -> u64 {
    tick_ms.div_ceil(TIMER_GRANULE_MS) * TIMER_GRANULE_MS
}

/// How many grid ticks lie strictly between `last_ms` and `next_ms`: the
/// ticks a scheduler that ran late passed over, to be counted skipped.
pub fn ticks_between(interval: IntervalSeconds, last_ms: u64, next_ms: u64) -> u64 {
    (next_ms.saturating_sub(last_ms) / interval.as_millis()).saturating_sub(1)
}

/// What a scheduler taking over a monitor does with the ticks that fell
/// since the last one handled: the latest is probed late, if it still may
/// be (`late_window_ms`); the others are counted skipped. At most one extra
/// job per monitor, so a takeover is never a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    pub late_tick_ms: Option<u64>,
    pub skipped: u64,
}

/// The catch-up for the grid ticks in (`handled_ms`, `now_ms`]: every tick
/// up to `handled_ms` was emitted or counted by the previous owner, and the
/// first tick after `now_ms` is the new owner's ordinary next tick.
pub fn catch_up(
    monitor_id: Uuid,
    interval: IntervalSeconds,
    handled_ms: u64,
    now_ms: u64,
    late_window_ms: u64,
) -> CatchUp {
    let first = next_tick_after(monitor_id, interval, handled_ms);
    if first > now_ms {
        return CatchUp {
            late_tick_ms: None,
            skipped: 0,
        };
    }
    let interval_ms = interval.as_millis();
    let missed = (now_ms - first) / interval_ms + 1;
    let latest = first + (missed - 1) * interval_ms;
    if latest + late_window_ms > now_ms {
        CatchUp {
            late_tick_ms: Some(latest),
            skipped: missed - 1,
        }
    } else {
        CatchUp {
            late_tick_ms: None,
            skipped: missed,
        }
    }
}

/// The id of the job for one tick of one monitor: the same inputs always give
/// the same id.
pub fn job_id(monitor_id: Uuid, tick_ms: u64) -> Uuid {
    Uuid::new_v5(&monitor_id, &tick_ms.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn interval(seconds: i64) -> IntervalSeconds {
        IntervalSeconds::parse(seconds).unwrap()
    }

    #[test]
    fn ticks_sit_on_the_monitors_grid() {
        let id = Uuid::from_u128(1_234_567);
        let sixty = interval(60);
        let offset = offset_ms(id, sixty);
        assert_eq!(offset, 1_234_567 % 60_000);
        assert_eq!(next_tick_after(id, sixty, 0), offset);
        assert_eq!(next_tick_after(id, sixty, offset), offset + 60_000);
        assert_eq!(next_tick_after(id, sixty, offset + 59_999), offset + 60_000);
        assert_eq!(
            next_tick_after(id, sixty, offset + 60_000),
            offset + 120_000
        );
    }

    #[test]
    fn a_late_scheduler_skips_missed_ticks_instead_of_bursting() {
        let id = Uuid::from_u128(42);
        let ten = interval(10);
        // Down for an hour: the next tick is the one after now, not 360 old ones.
        let now = 1_700_000_000_000;
        let next = next_tick_after(id, ten, now);
        assert!(next > now && next - now <= 10_000);
        assert_eq!((next - offset_ms(id, ten)) % 10_000, 0);
    }

    #[test]
    fn the_ticks_a_late_scheduler_passed_over_are_counted() {
        let id = Uuid::from_u128(42);
        let ten = interval(10);
        let tick = next_tick_after(id, ten, 1_700_000_000_000);
        let on_time = next_tick_after(id, ten, tick + 3);
        assert_eq!(ticks_between(ten, tick, on_time), 0);
        let late = next_tick_after(id, ten, tick + 25_000);
        assert_eq!(late, tick + 30_000);
        assert_eq!(ticks_between(ten, tick, late), 2, "two ticks passed over");
        assert_eq!(ticks_between(ten, tick, tick), 0);
    }

    #[test]
    fn offsets_spread_monitors_over_the_interval() {
        let sixty = interval(60);
        let mut buckets = [0_u32; 6];
        for _ in 0..6000 {
            let offset = offset_ms(Uuid::now_v7(), sixty);
            buckets[usize::try_from(offset / 10_000).unwrap()] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (800..=1200).contains(&n)),
            "{buckets:?}"
        );
    }

    #[test]
    fn job_ids_are_deterministic_and_distinct_per_tick() {
        let id = Uuid::now_v7();
        assert_eq!(job_id(id, 1000), job_id(id, 1000));
        assert_ne!(job_id(id, 1000), job_id(id, 2000));
        assert_ne!(job_id(id, 1000), job_id(Uuid::now_v7(), 1000));
    }

    #[test]
    fn a_takeover_probes_the_latest_missed_tick_and_counts_the_rest_skipped() {
        let id = Uuid::from_u128(1_234);
        let one = interval(1);
        let tick = next_tick_after(id, one, 1_700_000_000_000);
        // Handled up to just after `tick`; now is 3.5 s later: the ticks at
        // +1 s, +2 s and +3 s fell unhandled.
        let caught = catch_up(id, one, tick + 10, tick + 3_500, 10_000);
        assert_eq!(
            caught,
            CatchUp {
                late_tick_ms: Some(tick + 3_000),
                skipped: 2
            }
        );
        // A tick exactly at now counts as fallen.
        let caught = catch_up(id, one, tick, tick + 1_000, 10_000);
        assert_eq!(caught.late_tick_ms, Some(tick + 1_000));
        assert_eq!(caught.skipped, 0);
    }

    #[test]
    fn nothing_to_catch_up_when_no_tick_fell_since_the_last_handled() {
        let id = Uuid::from_u128(99);
        let sixty = interval(60);
        let tick = next_tick_after(id, sixty, 1_700_000_000_000);
        let none = CatchUp {
            late_tick_ms: None,
            skipped: 0,
        };
        assert_eq!(catch_up(id, sixty, tick, tick + 59_999, 60_000), none);
        assert_eq!(catch_up(id, sixty, tick - 1, tick - 1, 60_000), none);
    }

    #[test]
    fn ticks_too_old_to_probe_are_all_counted_skipped() {
        let id = Uuid::from_u128(7);
        let one = interval(1);
        let tick = next_tick_after(id, one, 1_700_000_000_000);
        // An hour without a scheduler, and the latest tick is exactly the
        // window old: nothing is probed late, all 3 600 are skipped.
        let caught = catch_up(id, one, tick, tick + 3_600_000, 0);
        assert_eq!(caught.late_tick_ms, None);
        assert_eq!(caught.skipped, 3_600);
        let caught = catch_up(id, one, tick, tick + 3_600_000, 1);
        assert_eq!(caught.late_tick_ms, Some(tick + 3_600_000));
        assert_eq!(caught.skipped, 3_599);
    }

    #[test]
    fn timers_wake_on_the_shared_grid_never_before_their_tick() {
        assert_eq!(wake_at(1_700_000_000_000), 1_700_000_000_000);
        assert_eq!(wake_at(1_700_000_000_001), 1_700_000_000_050);
        assert_eq!(wake_at(1_700_000_000_049), 1_700_000_000_050);
        assert_eq!(wake_at(1_700_000_000_050), 1_700_000_000_050);
        assert_eq!(wake_at(1_700_000_000_051), 1_700_000_000_100);
    }

    proptest! {
        #[test]
        fn a_catch_up_accounts_for_every_fallen_tick_once(
            raw_id in any::<u128>(),
            seconds in 1_i64..=3_600,
            handled in 0_u64..2_000_000_000_000,
            gap in 0_u64..10_000_000,
            window in 0_u64..400_000,
        ) {
            let id = Uuid::from_u128(raw_id);
            let every = interval(seconds);
            let now = handled + gap;
            let caught = catch_up(id, every, handled, now, window);
            let mut fallen = 0;
            let mut tick = next_tick_after(id, every, handled);
            while tick <= now {
                fallen += 1;
                tick += every.as_millis();
            }
            let late = u64::from(caught.late_tick_ms.is_some());
            prop_assert_eq!(caught.skipped + late, fallen);
            if let Some(late_tick) = caught.late_tick_ms {
                prop_assert!(late_tick > handled && late_tick <= now);
                prop_assert!(late_tick + window > now);
                prop_assert_eq!(next_tick_after(id, every, late_tick), tick);
            }
        }

        #[test]
        fn the_next_tick_is_the_first_grid_point_after_now(
            raw_id in any::<u128>(),
            seconds in 1_i64..=86_400,
            now in 0_u64..4_000_000_000_000,
        ) {
            let id = Uuid::from_u128(raw_id);
            let every = interval(seconds);
            let next = next_tick_after(id, every, now);
            let interval_ms = every.as_millis();
            prop_assert!(next > now);
            prop_assert!(next - now <= interval_ms);
            prop_assert_eq!((next - offset_ms(id, every)) % interval_ms, 0);
            // Ticking from one tick lands exactly one interval later: no drift.
            prop_assert_eq!(next_tick_after(id, every, next), next + interval_ms);
        }

        #[test]
        fn a_timer_wakes_within_one_granule_after_its_tick(tick in 0_u64..4_000_000_000_000) {
            let wake = wake_at(tick);
            prop_assert!(wake >= tick);
            prop_assert!(wake - tick < TIMER_GRANULE_MS);
            prop_assert_eq!(wake % TIMER_GRANULE_MS, 0);
        }
    }
}
