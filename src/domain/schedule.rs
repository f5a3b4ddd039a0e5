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

/// How many grid ticks lie strictly between `last_ms` and `next_ms`: the
/// ticks a scheduler that ran late passed over, to be counted skipped.
pub fn ticks_between(interval: IntervalSeconds, last_ms: u64, next_ms: u64) -> u64 {
    (next_ms.saturating_sub(last_ms) / interval.as_millis()).saturating_sub(1)
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

    proptest! {
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
    }
}
