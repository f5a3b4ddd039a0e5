//! Gathering what a channel brings into batches: the emitter's jobs, the
//! worker's finished probes.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

/// The receiving end of a channel, as `gather` uses it.
pub trait Queue<T> {
    /// How many items wait.
    fn queued(&self) -> usize;
    /// One waiting item, without waiting for one.
    fn take(&mut self) -> Option<T>;
}

impl<T> Queue<T> for mpsc::Receiver<T> {
    fn queued(&self) -> usize {
        self.len()
    }
    fn take(&mut self) -> Option<T> {
        self.try_recv().ok()
    }
}

impl<T> Queue<T> for mpsc::UnboundedReceiver<T> {
    fn queued(&self) -> usize {
        self.len()
    }
    fn take(&mut self) -> Option<T> {
        self.try_recv().ok()
    }
}

/// `first`, then what else arrives within `linger`, up to `max` items. It
/// sleeps through the linger and then takes what queued up, rather than
/// waking for every item (a wake-up per item showed in profiles); when a
/// full batch already waits, it does not sleep at all.
pub async fn gather<T>(
    first: T,
    queue: &mut impl Queue<T>,
    linger: Duration,
    max: usize,
) -> Vec<T> {
    if queue.queued() + 1 < max {
        tokio::time::sleep(linger).await;
    }
    let mut batch = Vec::with_capacity(max.min(queue.queued() + 1));
    batch.push(first);
    while batch.len() < max {
        match queue.take() {
            Some(item) => batch.push(item),
            None => break,
        }
    }
    batch
}

/// A linger that follows the rate: long enough that about `want` items
/// come at the rate last seen, never shorter than `min` (under load, a
/// batch fills before it anyway) nor longer than `max` (the latency
/// budget). At everyday rates the fixed cost of a batch — a wake-up, a
/// round trip, a transaction — is then shared by many items instead of one.
#[derive(Debug, Clone)]
pub struct AdaptiveLinger {
    min: Duration,
    max: Duration,
    want: usize,
    /// Items per second, smoothed over the last few batches.
    rate: f64,
    last_batch: Option<Instant>,
}

impl AdaptiveLinger {
    pub fn new(min: Duration, max: Duration, want: usize) -> Self {
        Self {
            min,
            max,
            want,
            rate: 0.0,
            last_batch: None,
        }
    }

    /// How long the next batch's first item waits.
    pub fn linger(&self) -> Duration {
        if self.rate <= 0.0 {
            return self.max;
        }
        Duration::from_secs_f64(self.want as f64 / self.rate).clamp(self.min, self.max)
    }

    /// A batch of `items` began at `at`: the rate since the one before.
    pub fn observe(&mut self, items: usize, at: Instant) {
        if let Some(last) = self.last_batch.replace(at) {
            let seconds = at.duration_since(last).as_secs_f64().max(1e-3);
            let rate = items as f64 / seconds;
            self.rate = if self.rate <= 0.0 {
                rate
            } else {
                0.7 * self.rate + 0.3 * rate
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linger_is_long_at_low_rates_and_short_at_high_ones() {
        let (min, max) = (Duration::from_millis(5), Duration::from_millis(50));
        let mut linger = AdaptiveLinger::new(min, max, 32);
        assert_eq!(linger.linger(), max, "nothing seen yet: the budget");
        let start = Instant::now();
        // 100 items/s: 32 would take 320 ms, more than the budget.
        for i in 1..=10 {
            linger.observe(5, start + Duration::from_millis(50 * i));
        }
        assert_eq!(linger.linger(), max);
        // 2 000 items/s: 32 come in 16 ms.
        let later = start + Duration::from_secs(1);
        for i in 1..=30 {
            linger.observe(20, later + Duration::from_millis(10 * i));
        }
        let at_2000 = linger.linger();
        assert!(
            at_2000 > Duration::from_millis(14) && at_2000 < Duration::from_millis(18),
            "{at_2000:?}"
        );
        // 100 000 items/s: never below the floor.
        let much_later = start + Duration::from_secs(2);
        for i in 1..=30 {
            linger.observe(1000, much_later + Duration::from_millis(10 * i));
        }
        assert_eq!(linger.linger(), min);
    }

    #[tokio::test]
    async fn what_arrives_during_the_linger_joins_the_batch() {
        let (sender, mut queue) = mpsc::unbounded_channel();
        sender.send(2).unwrap();
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            sender.send(3).unwrap();
        });
        let batch = gather(1, &mut queue, Duration::from_millis(500), 10).await;
        assert_eq!(batch, vec![1, 2, 3]);
        late.await.unwrap();
    }

    #[tokio::test]
    async fn a_full_batch_goes_at_once_and_the_rest_waits_for_the_next() {
        let (sender, mut queue) = mpsc::channel(16);
        for item in 2..=6 {
            sender.try_send(item).unwrap();
        }
        let batch = tokio::time::timeout(
            Duration::from_secs(5),
            gather(1, &mut queue, Duration::from_secs(3600), 4),
        )
        .await
        .expect("a full batch does not wait for the linger");
        assert_eq!(batch, vec![1, 2, 3, 4]);
        assert_eq!(queue.queued(), 2);
    }
}
