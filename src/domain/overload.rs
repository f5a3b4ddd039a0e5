//! When a tick is still worth probing, and when it is worth queuing at all.
//! Under overload the cheapest tick to drop is the one never queued: shed at
//! the source, the workers spend their time on ticks they can still probe on
//! time, instead of reading, decoding and skipping late ones.

use super::IntervalSeconds;

/// How late a tick may still be probed: an interval (by then the next tick
/// is due), but at least ten seconds (a worker's restart or a short stall is
/// ridden out) and at most five minutes (a long interval's tick reclaimed
/// from a dead worker after `UPWATCH_RECLAIM_AFTER_MS` is still probed, but
/// not one from hours ago).
pub fn skip_window_ms(interval: IntervalSeconds) -> u64 {
    interval.as_millis().clamp(10_000, 300_000)
}

/// Whether a tick that may be probed up to `window_ms` late is worth
/// queuing while the oldest queued job not yet taken by a worker has waited
/// `queue_wait_ms`. Not once the wait takes a quarter of the window: the
/// workers are behind, and queuing more only makes every tick later until
/// they are all skipped unprobed. The queue then drains, and queuing resumes
/// by itself.
pub fn worth_queuing(queue_wait_ms: u64, window_ms: u64) -> bool {
    queue_wait_ms <= window_ms / 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_may_be_probed_an_interval_late_within_ten_seconds_and_five_minutes() {
        let window = |seconds| skip_window_ms(IntervalSeconds::parse(seconds).unwrap());
        assert_eq!(window(1), 10_000, "a short stall is ridden out");
        assert_eq!(window(9), 10_000);
        assert_eq!(window(11), 11_000);
        assert_eq!(window(30), 30_000, "until the next tick is due");
        assert_eq!(window(300), 300_000);
        assert_eq!(window(3600), 300_000, "not hours late");
    }

    #[test]
    fn a_tick_is_queued_until_the_wait_takes_a_quarter_of_its_window() {
        assert!(worth_queuing(0, 10_000), "an empty queue takes anything");
        assert!(worth_queuing(2_500, 10_000));
        assert!(!worth_queuing(2_501, 10_000), "workers are behind");
        assert!(
            worth_queuing(2_501, 60_000),
            "a longer interval's tick still has time"
        );
        assert!(!worth_queuing(15_001, 60_000));
    }
}
