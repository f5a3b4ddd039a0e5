//! Gathering what a channel brings into batches: the emitter's jobs, the
//! worker's finished probes.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
