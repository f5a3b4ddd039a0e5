//! The jobs stream on a real Redis, under a key prefix of the test's own.

use upwatch::config::{KeyPrefix, RedisUrl};
use upwatch::domain::HttpMethod;
use upwatch::queue::jobs::{self, Delivery, JOBS_PER_ENTRY, Job};
use upwatch::queue::keys::Keys;
use uuid::Uuid;

use crate::helpers::{http_spec, redis_url};

/// A pool and a fresh prefix; the test's keys are deleted when dropped.
struct Stream {
    pool: upwatch::queue::RedisPool,
    keys: Keys,
}

impl Stream {
    async fn new() -> Self {
        let pool = upwatch::queue::pool(&RedisUrl::parse(&redis_url()).unwrap(), 4).unwrap();
        let prefix =
            KeyPrefix::parse(&format!("upwatch-test-{}", Uuid::new_v4().simple())).unwrap();
        let keys = Keys::new(&prefix);
        jobs::ensure_group(&mut pool.get().await.unwrap(), &keys)
            .await
            .unwrap();
        Self { pool, keys }
    }

    async fn connection(&self) -> deadpool_redis::Connection {
        self.pool.get().await.unwrap()
    }

    async fn len(&self) -> usize {
        redis::cmd("XLEN")
            .arg(self.keys.jobs())
            .query_async(&mut self.connection().await)
            .await
            .unwrap()
    }

    /// Appends an entry as written by hand: one `field` holding `value`.
    async fn add_raw(&self, field: &str, value: &str) {
        let _: String = redis::cmd("XADD")
            .arg(self.keys.jobs())
            .arg("*")
            .arg(field)
            .arg(value)
            .query_async(&mut self.connection().await)
            .await
            .unwrap();
    }

    async fn remove(self) {
        let _: () = redis::cmd("DEL")
            .arg(self.keys.jobs())
            .query_async(&mut self.connection().await)
            .await
            .unwrap();
    }
}

fn job(n: u64) -> Job {
    let monitor_id = Uuid::now_v7();
    Job {
        job_id: upwatch::domain::schedule::job_id(monitor_id, n),
        monitor_id,
        name: format!("job {n}"),
        spec: http_spec(
            &format!("http://127.0.0.1:9/{n}"),
            HttpMethod::Get,
            None,
            1000,
        ),
        scheduled_at_ms: n,
        skip_after_ms: None,
    }
}

fn jobs_of<'a>(deliveries: impl IntoIterator<Item = &'a Delivery>) -> Vec<Job> {
    deliveries
        .into_iter()
        .flat_map(|d| d.jobs.clone().unwrap())
        .collect()
}

#[actix_web::test]
async fn jobs_are_delivered_once_to_the_group_and_gone_after_ack() {
    let stream = Stream::new().await;
    // Five entries: four full, one with the rest.
    let published: Vec<Job> = (0..4 * JOBS_PER_ENTRY as u64 + 3).map(job).collect();
    let mut connection = stream.connection().await;
    jobs::publish(&mut connection, &stream.keys, &published)
        .await
        .unwrap();
    assert_eq!(stream.len().await, 5, "jobs share entries");

    let first = jobs::read(&mut connection, &stream.keys, "w1", 3, 100)
        .await
        .unwrap();
    let second = jobs::read(&mut connection, &stream.keys, "w2", 10, 100)
        .await
        .unwrap();
    assert_eq!((first.len(), second.len()), (3, 2));
    let received = jobs_of(first.iter().chain(&second));
    assert_eq!(received, published, "each job once, in order, intact");
    assert!(first.iter().chain(&second).all(|d| d.times_delivered == 1));
    assert!(
        jobs::read(&mut connection, &stream.keys, "w3", 10, 50)
            .await
            .unwrap()
            .is_empty()
    );

    let ids: Vec<String> = first
        .iter()
        .chain(&second)
        .map(|d| d.entry_id.clone())
        .collect();
    jobs::ack(&mut connection, &stream.keys, &ids)
        .await
        .unwrap();
    let left = jobs::reclaim(&mut connection, &stream.keys, "w3", 0, 10)
        .await
        .unwrap();
    assert!(
        left.is_empty(),
        "acked jobs are never handed out again: {left:?}"
    );
    stream.remove().await;
}

#[actix_web::test]
async fn a_dead_workers_jobs_are_reclaimed_with_their_delivery_count() {
    let stream = Stream::new().await;
    let mut connection = stream.connection().await;
    let published: Vec<Job> = (0..JOBS_PER_ENTRY as u64 + 1).map(job).collect();
    jobs::publish(&mut connection, &stream.keys, &published)
        .await
        .unwrap();
    let taken = jobs::read(&mut connection, &stream.keys, "dies", 10, 100)
        .await
        .unwrap();
    assert_eq!(taken.len(), 2);

    // Not idle long enough yet: nothing to take over.
    let early = jobs::reclaim(&mut connection, &stream.keys, "heir", 60_000, 10)
        .await
        .unwrap();
    assert!(early.is_empty());

    let reclaimed = jobs::reclaim(&mut connection, &stream.keys, "heir", 0, 10)
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 2);
    assert_eq!(jobs_of(&reclaimed), published, "every job of every entry");
    for (before, after) in taken.iter().zip(&reclaimed) {
        assert_eq!(before.entry_id, after.entry_id);
        assert_eq!(before.jobs, after.jobs);
        assert_eq!(after.times_delivered, 2);
    }
    let again = jobs::reclaim(&mut connection, &stream.keys, "heir2", 0, 10)
        .await
        .unwrap();
    assert!(again.iter().all(|d| d.times_delivered == 3), "{again:?}");
    stream.remove().await;
}

#[actix_web::test]
async fn nothing_published_is_trimmed_and_the_backlog_is_reported() {
    let stream = Stream::new().await;
    let mut connection = stream.connection().await;
    // 2 000 entries' worth of jobs, in two pipelines.
    let many: Vec<Job> = (0..2000 * JOBS_PER_ENTRY as u64).map(job).collect();
    let (first, second) = many.split_at(many.len() / 2);
    let after_first = jobs::publish(&mut connection, &stream.keys, first)
        .await
        .unwrap();
    assert_eq!(after_first.entries, 1000);
    let after_second = jobs::publish(&mut connection, &stream.keys, second)
        .await
        .unwrap();
    assert_eq!(after_second.entries, 2000, "every entry kept");
    assert_eq!(stream.len().await, 2000);
    assert_eq!(
        jobs::queue_state(&mut connection, &stream.keys)
            .await
            .unwrap()
            .entries,
        2000
    );
    // The oldest are still there to be read.
    let oldest = jobs::read(&mut connection, &stream.keys, "w", 1, 100)
        .await
        .unwrap();
    assert_eq!(oldest[0].jobs.as_ref().unwrap()[0].scheduled_at_ms, 0);
    stream.remove().await;
}

#[actix_web::test]
async fn the_queue_tells_when_its_oldest_untaken_entry_was_added() {
    let stream = Stream::new().await;
    let mut connection = stream.connection().await;
    let keys = stream.keys.clone();
    let state = async |connection: &mut deadpool_redis::Connection| {
        jobs::queue_state(connection, &keys).await.unwrap()
    };
    assert_eq!(state(&mut connection).await, jobs::QueueState::default());
    // Three entries added ten, five and one second ago.
    let now = upwatch::runtime::now_ms();
    for ago in [10_000, 5_000, 1_000] {
        let _: String = redis::cmd("XADD")
            .arg(stream.keys.jobs())
            .arg(format!("{}-0", now - ago))
            .arg("jobs")
            .arg("[]")
            .query_async(&mut connection)
            .await
            .unwrap();
    }
    let waiting = state(&mut connection).await;
    assert_eq!(waiting.entries, 3);
    assert_eq!(waiting.oldest_waiting_ms, Some(now - 10_000));
    assert_eq!(waiting.wait_ms(now), 10_000);

    // A worker takes the oldest: the next one is the oldest waiting; taken
    // and not yet acknowledged, the first still counts as held.
    let taken = jobs::read(&mut connection, &stream.keys, "w", 1, 100)
        .await
        .unwrap();
    let after_one = state(&mut connection).await;
    assert_eq!(after_one.entries, 3);
    assert_eq!(after_one.oldest_waiting_ms, Some(now - 5_000));
    jobs::ack(&mut connection, &stream.keys, &[taken[0].entry_id.clone()])
        .await
        .unwrap();
    jobs::read(&mut connection, &stream.keys, "w", 2, 100)
        .await
        .unwrap();
    let all_taken = state(&mut connection).await;
    assert_eq!(all_taken.entries, 2);
    assert_eq!(all_taken.oldest_waiting_ms, None, "nothing waits");
    assert_eq!(all_taken.wait_ms(now), 0);

    // Published jobs wait from when they were added.
    let published = jobs::publish(&mut connection, &stream.keys, &[job(1)])
        .await
        .unwrap();
    assert_eq!(published.entries, 3);
    let added = published.oldest_waiting_ms.unwrap();
    assert!(
        added >= now && added <= upwatch::runtime::now_ms(),
        "{published:?}"
    );
    stream.remove().await;
}

#[actix_web::test]
async fn an_unreadable_entry_is_delivered_as_an_error_not_a_crash() {
    let stream = Stream::new().await;
    stream.add_raw("job", "{not json").await;
    let mut connection = stream.connection().await;
    let delivered = jobs::read(&mut connection, &stream.keys, "w", 10, 100)
        .await
        .unwrap();
    assert_eq!(delivered.len(), 1);
    assert!(delivered[0].jobs.is_err());
    stream.remove().await;
}

#[actix_web::test]
async fn an_entry_written_before_jobs_were_batched_still_reads_as_its_job() {
    let stream = Stream::new().await;
    let older = job(7);
    stream
        .add_raw("job", &serde_json::to_string(&older).unwrap())
        .await;
    let mut connection = stream.connection().await;
    let delivered = jobs::read(&mut connection, &stream.keys, "w", 10, 100)
        .await
        .unwrap();
    assert_eq!(jobs_of(&delivered), vec![older]);
    stream.remove().await;
}
