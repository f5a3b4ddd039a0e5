//! What the pipeline does when things go wrong: duplicate results, workers
//! that vanish mid-job, jobs nobody manages to finish, and SIGTERM.

use std::time::Duration;

use serde_json::{Value, json};
use upwatch::config::{KeyPrefix, Roles};
use upwatch::domain::ProbeResult;
use upwatch::domain::probe::ProbeSpec;
use upwatch::probe::Prober;
use upwatch::queue::jobs::{self, Job};
use upwatch::queue::keys::Keys;
use upwatch::queue::{RedisPool, stream::QueueError};
use upwatch::roles::folder::{FolderConfig, FolderRole};
use upwatch::roles::scheduler::emitter;
use upwatch::roles::worker::{Worker, WorkerConfig};
use upwatch::runtime::consumer::{Outcome, Step};
use upwatch::startup::Application;
use uuid::Uuid;

use crate::helpers::{TestApp, http_spec, redis_url, spawn_roles, status_changes, wait_for};
use crate::target::Target;

const PATIENCE: Duration = Duration::from_secs(30);

fn redis(app: &TestApp) -> (RedisPool, Keys) {
    let url = upwatch::config::RedisUrl::parse(&redis_url()).unwrap();
    let pool = upwatch::queue::pool(&url, 2).unwrap();
    (pool, Keys::new(&KeyPrefix::parse(&app.key_prefix).unwrap()))
}

/// A monitor that the scheduler would probe only once a day, so the test's own
/// jobs and results are the only ones.
async fn quiet_monitor(app: &TestApp, url: &str) -> (String, ProbeSpec) {
    quiet_monitor_named(app, "quiet", url, 1000).await
}

async fn quiet_monitor_named(
    app: &TestApp,
    name: &str,
    url: &str,
    timeout_ms: i64,
) -> (String, ProbeSpec) {
    let body = app
        .create_monitor(json!({
            "name": name, "url": url, "interval_seconds": 86_400, "timeout_ms": timeout_ms
        }))
        .await;
    let spec = http_spec(url, upwatch::domain::HttpMethod::Get, None, timeout_ms);
    (body["id"].as_str().unwrap().to_owned(), spec)
}

/// A quiet monitor on its own target, and the jobs stream with the workers'
/// group made, for a test that queues that monitor's jobs itself.
struct Queued {
    app: TestApp,
    target: Target,
    id: String,
    spec: ProbeSpec,
    pool: RedisPool,
    keys: Keys,
    connection: deadpool_redis::Connection,
}

async fn a_queue_for_a_quiet_monitor() -> Queued {
    let app = spawn_roles("api", &[]).await;
    let target = Target::start();
    let (id, spec) = quiet_monitor(&app, &target.url("/health")).await;
    let (pool, keys) = redis(&app);
    let mut connection = pool.get().await.unwrap();
    jobs::ensure_group(&mut connection, &keys).await.unwrap();
    Queued {
        app,
        target,
        id,
        spec,
        pool,
        keys,
        connection,
    }
}

async fn results(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app
        .get_json(&format!("/api/v1/monitors/{id}/results?limit=1000"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn pending_jobs(pool: &RedisPool, keys: &Keys) -> usize {
    let reply: redis::Value = redis::cmd("XPENDING")
        .arg(keys.jobs())
        .arg(upwatch::queue::keys::WORKERS_GROUP)
        .query_async(&mut pool.get().await.unwrap())
        .await
        .unwrap();
    match reply {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => usize::try_from(*n).unwrap(),
            other => panic!("unexpected XPENDING reply {other:?}"),
        },
        other => panic!("unexpected XPENDING reply {other:?}"),
    }
}

/// Starts a process-alike with `roles` on the same database and prefix.
async fn start_roles(app: &TestApp, roles: &str) {
    let mut settings = app.settings.clone();
    settings.roles = Roles::parse(roles).unwrap();
    // Another process: instance names are distinct by contract.
    settings.instance =
        upwatch::config::InstanceName::parse(&format!("other-{}", Uuid::new_v4().simple()))
            .unwrap();
    let started = Application::build(settings).await.unwrap();
    actix_web::rt::spawn(started.run_until_stopped());
}

fn job_now(monitor_id: &str, spec: &ProbeSpec) -> Job {
    let monitor_id = Uuid::parse_str(monitor_id).unwrap();
    let tick = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp() * 1000).unwrap();
    Job {
        job_id: upwatch::domain::schedule::job_id(monitor_id, tick),
        monitor_id,
        name: "quiet".into(),
        spec: spec.clone(),
        scheduled_at_ms: tick,
        skip_after_ms: None,
    }
}

/// A successful result of `job`, as a worker would publish it.
fn result_now(job: &Job) -> ProbeResult {
    let now = upwatch::domain::result::to_micros(time::OffsetDateTime::now_utc());
    ProbeResult {
        job_id: job.job_id,
        monitor_id: job.monitor_id,
        scheduled_at: now,
        started_at: now,
        checked_at: now,
        up: true,
        http_status: Some(200),
        latency_ms: 3,
        error: None,
        worker: "test".into(),
        certificate_expires_at: None,
        observed_version: None,
    }
}

/// Publishes a job and has a consumer that then "dies" take it: it is
/// pending, owned by nobody alive.
async fn leave_pending(pool: &RedisPool, keys: &Keys, job: &Job, deliveries: u32) {
    let mut connection = pool.get().await.unwrap();
    jobs::ensure_group(&mut connection, keys).await.unwrap();
    jobs::publish(&mut connection, keys, std::slice::from_ref(job))
        .await
        .unwrap();
    let taken = jobs::read(&mut connection, keys, "vanished-0", 10, 100)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    for n in 1..deliveries {
        let again = jobs::reclaim(&mut connection, keys, &format!("vanished-{n}"), 0, 10)
            .await
            .unwrap();
        assert_eq!(again.len(), 1);
    }
}

/// Steps `role` until a step does some work; what it did.
async fn step_until_worked(role: &mut impl Step) -> usize {
    for _ in 0..10 {
        if let Outcome::Worked(count) = role.step().await.unwrap() {
            return count;
        }
    }
    panic!("ten steps did no work");
}

/// A worker to drive by hand; it reclaims any entry left unacknowledged.
fn stepped_worker(app: &TestApp) -> Worker {
    let config = WorkerConfig {
        consumer: "stepped-worker".into(),
        concurrency: 4,
        partitions: app.settings.partitions,
        reclaim_after: Duration::ZERO,
        threads: 1,
    };
    let (pool, keys) = redis(app);
    Worker::new(pool, keys, Prober::new().unwrap(), config)
}

/// A folder role holding every partition, as the only folder would.
fn folder_role(app: &TestApp) -> FolderRole {
    let all = (0..app.settings.partitions).collect();
    let (_leases, owned) = tokio::sync::watch::channel(all);
    let (pool, keys) = redis(app);
    FolderRole::new(
        upwatch::store::database::pool(&app.settings.database, 2).unwrap(),
        pool,
        keys,
        FolderConfig {
            consumer: "stepped-folder".into(),
            partitions: app.settings.partitions,
        },
        owned,
        upwatch::runtime::Shutdown::never(),
    )
}

#[actix_web::test]
async fn a_job_left_by_a_vanished_worker_is_reclaimed_and_completed() {
    let app = spawn_roles("api", &[]).await;
    let target = Target::start();
    let (id, spec) = quiet_monitor(&app, &target.url("/health")).await;
    let (pool, keys) = redis(&app);
    let job = job_now(&id, &spec);
    leave_pending(&pool, &keys, &job, 1).await;

    // Driven step by step: the worker's first step reclaims what was left.
    let mut worker = stepped_worker(&app);
    worker.prepare().await.unwrap();
    assert_eq!(worker.step().await.unwrap(), Outcome::Worked(1));
    // Stopping lets the probe finish, publishes its result, acks its entry.
    worker.stop().await;
    assert_eq!(pending_jobs(&pool, &keys).await, 0, "acknowledged");
    assert_eq!(target.hits(), 1);
    assert_eq!(app.results_waiting().await, 1, "its result is published");

    let mut folder = folder_role(&app);
    folder.prepare().await.unwrap();
    assert_eq!(step_until_worked(&mut folder).await, 1, "one entry folded");
    assert_eq!(app.results_waiting().await, 0, "and acknowledged");
    let stored = results(&app, &id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["job_id"], job.job_id.to_string());
    assert_eq!(stored[0]["status"], "up");
}

#[actix_web::test]
async fn a_worker_started_while_postgres_is_down_probes_at_once() {
    let Queued {
        app,
        target,
        id,
        spec,
        pool: _,
        keys,
        mut connection,
    } = a_queue_for_a_quiet_monitor().await;
    let job = job_now(&id, &spec);
    jobs::publish(&mut connection, &keys, std::slice::from_ref(&job))
        .await
        .unwrap();

    // Nothing listens where this worker's PostgreSQL would be, and start-up
    // would give up on it within a second: a worker does not wait for it.
    let mut settings = app.settings.clone();
    settings.roles = Roles::parse("worker").unwrap();
    settings.instance = upwatch::config::InstanceName::parse("worker-without-postgres").unwrap();
    settings.database =
        upwatch::config::DatabaseSettings::parse("postgres://postgres@127.0.0.1:1/upwatch")
            .unwrap();
    settings.startup_timeout = Duration::from_secs(1);
    let worker = Application::build(settings)
        .await
        .expect("a worker starts without PostgreSQL");
    actix_web::rt::spawn(worker.run_until_stopped());

    wait_for("the job's result to be published", PATIENCE, || async {
        (app.results_waiting().await == 1).then_some(())
    })
    .await;
    assert_eq!(target.hits(), 1);
}

#[actix_web::test]
async fn a_job_delivered_more_than_three_times_is_recorded_as_down() {
    let app = spawn_roles("api", &[]).await;
    let target = Target::start();
    let (id, spec) = quiet_monitor(&app, &target.url("/health")).await;
    let (pool, keys) = redis(&app);
    let job = job_now(&id, &spec);
    leave_pending(&pool, &keys, &job, 3).await;

    let mut worker = stepped_worker(&app);
    worker.prepare().await.unwrap();
    assert_eq!(
        worker.step().await.unwrap(),
        Outcome::Worked(1),
        "reclaimed"
    );
    worker.stop().await;
    assert_eq!(pending_jobs(&pool, &keys).await, 0, "acknowledged");
    assert_eq!(target.hits(), 0, "a job given up on is not probed again");

    let mut folder = folder_role(&app);
    folder.prepare().await.unwrap();
    step_until_worked(&mut folder).await;
    let stored = results(&app, &id).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["job_id"], job.job_id.to_string());
    assert_eq!(stored[0]["status"], "down");
    assert_eq!(
        stored[0]["error"],
        "abandoned: delivered 4 times without a result"
    );
}

#[actix_web::test]
async fn an_entry_of_jobs_is_acknowledged_only_once_all_its_results_are_published() {
    let app = spawn_roles("api,folder", &[]).await;
    let target = Target::start();
    let (fast_id, fast_spec) =
        quiet_monitor_named(&app, "fast", &target.url("/health"), 1000).await;
    let (slow_id, slow_spec) =
        quiet_monitor_named(&app, "slow", &target.url("/slow/3000"), 10_000).await;
    let (pool, keys) = redis(&app);
    let mut connection = pool.get().await.unwrap();
    jobs::ensure_group(&mut connection, &keys).await.unwrap();
    let batch = [job_now(&fast_id, &fast_spec), job_now(&slow_id, &slow_spec)];
    jobs::publish(&mut connection, &keys, &batch).await.unwrap();

    start_roles(&app, "worker").await;
    let fast = wait_for("the fast job's result", PATIENCE, || async {
        results(&app, &fast_id).await.into_iter().next()
    })
    .await;
    assert_eq!(fast["job_id"], batch[0].job_id.to_string());
    // Published without waiting for its entry's slow job, which holds the entry.
    let pending = pending_jobs(&pool, &keys).await;
    assert_eq!(target.in_flight(), 1, "the slow probe is still running");
    assert_eq!(pending, 1, "the entry is not acknowledged while a job runs");

    let slow = wait_for("the slow job's result", PATIENCE, || async {
        results(&app, &slow_id).await.into_iter().next()
    })
    .await;
    assert_eq!(slow["job_id"], batch[1].job_id.to_string());
    wait_for("the entry to be acknowledged", PATIENCE, || async {
        (pending_jobs(&pool, &keys).await == 0).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn a_duplicate_result_is_stored_once_and_folded_once() {
    let app = spawn_roles("api", &[]).await;
    let (id, spec) = quiet_monitor(&app, "http://127.0.0.1:9/").await;
    let (pool, keys) = redis(&app);
    let result = result_now(&job_now(&id, &spec));
    // Published twice, as a worker that died between publishing and acking
    // and the worker that redid the job would.
    let published: Result<(), QueueError> = jobs::complete(
        &mut pool.get().await.unwrap(),
        &keys,
        app.settings.partitions,
        &[result.clone(), result.clone()],
        &[],
    )
    .await;
    published.unwrap();
    jobs::complete(
        &mut pool.get().await.unwrap(),
        &keys,
        app.settings.partitions,
        &[result],
        &[],
    )
    .await
    .unwrap();

    let mut folder = folder_role(&app);
    folder.prepare().await.unwrap();
    assert_eq!(step_until_worked(&mut folder).await, 2, "both entries");
    assert_eq!(app.results_waiting().await, 0, "folded and acknowledged");
    assert_eq!(results(&app, &id).await.len(), 1);
    let (_, events) = app.get_json(&format!("/api/v1/monitors/{id}/events")).await;
    let changes = status_changes(&events);
    assert_eq!(changes.len(), 1, "{events}");
    assert_eq!(changes[0]["data"]["to"], "up");
}

#[actix_web::test]
async fn results_of_one_partition_share_an_entry_and_older_single_result_entries_still_fold() {
    // No folder yet: what is published stays in the streams.
    let app = spawn_roles("api", &[]).await;
    let (pool, keys) = redis(&app);
    let partitions = app.settings.partitions;
    let mut published = Vec::new();
    for n in 0..6 {
        let (id, spec) =
            quiet_monitor_named(&app, &format!("quiet {n}"), "http://127.0.0.1:9/", 1000).await;
        published.push(result_now(&job_now(&id, &spec)));
    }
    let mut connection = pool.get().await.unwrap();
    jobs::complete(&mut connection, &keys, partitions, &published, &[])
        .await
        .unwrap();
    let used: std::collections::BTreeSet<u16> = published
        .iter()
        .map(|r| upwatch::domain::partition_of(r.monitor_id, partitions))
        .collect();
    assert_eq!(
        app.results_waiting().await,
        used.len(),
        "one entry per partition"
    );

    // An older worker wrote one result per entry, under the field `result`.
    let (id, spec) = quiet_monitor(&app, "http://127.0.0.1:9/").await;
    let older = result_now(&job_now(&id, &spec));
    let _: String = redis::cmd("XADD")
        .arg(keys.results(upwatch::domain::partition_of(older.monitor_id, partitions)))
        .arg("*")
        .arg("result")
        .arg(serde_json::to_string(&older).unwrap())
        .query_async(&mut connection)
        .await
        .unwrap();
    published.push(older);

    let mut folder = folder_role(&app);
    folder.prepare().await.unwrap();
    assert_eq!(step_until_worked(&mut folder).await, used.len() + 1);
    assert_eq!(app.results_waiting().await, 0, "folded and acknowledged");
    for result in &published {
        let id = result.monitor_id.to_string();
        assert_eq!(results(&app, &id).await.len(), 1, "{id}");
        let (_, monitor) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
        assert_eq!(monitor["status"], "up", "{monitor}");
    }
}

#[actix_web::test]
async fn a_tick_too_late_to_probe_is_skipped_and_its_entry_acknowledged() {
    let app = spawn_roles("api", &[]).await;
    let (late_target, due_target) = (Target::start(), Target::start());
    let (late_id, late_spec) =
        quiet_monitor_named(&app, "late", &late_target.url("/health"), 1000).await;
    let (due_id, due_spec) =
        quiet_monitor_named(&app, "due", &due_target.url("/health"), 1000).await;
    let (pool, keys) = redis(&app);
    let mut connection = pool.get().await.unwrap();
    jobs::ensure_group(&mut connection, &keys).await.unwrap();
    let mut late = job_now(&late_id, &late_spec);
    late.skip_after_ms = Some(late.scheduled_at_ms - 1);
    let due = job_now(&due_id, &due_spec);
    jobs::publish(&mut connection, &keys, &[late, due.clone()])
        .await
        .unwrap();

    let mut worker = stepped_worker(&app);
    worker.prepare().await.unwrap();
    step_until_worked(&mut worker).await;
    worker.stop().await;
    assert_eq!(late_target.hits(), 0, "the late tick is not probed");
    assert_eq!(due_target.hits(), 1, "its entry's other job is");
    assert_eq!(
        pending_jobs(&pool, &keys).await,
        0,
        "the entry is acknowledged"
    );
    assert_eq!(app.results_waiting().await, 1, "one result: the due job's");
    let skipped = |monitor: Value| monitor["skipped_ticks"].as_u64();
    let (_, late_monitor) = app.get_json(&format!("/api/v1/monitors/{late_id}")).await;
    assert_eq!(
        skipped(late_monitor),
        Some(1),
        "the skip shows on its monitor"
    );
    let (_, due_monitor) = app.get_json(&format!("/api/v1/monitors/{due_id}")).await;
    assert_eq!(skipped(due_monitor), Some(0));
    let (_, page) = app.get_json("/api/v1/monitors").await;
    let listed: Vec<(String, Option<u64>)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_owned(),
                m["skipped_ticks"].as_u64(),
            )
        })
        .collect();
    assert!(listed.contains(&("late".into(), Some(1))), "{listed:?}");
    assert!(listed.contains(&("due".into(), Some(0))), "{listed:?}");
}

#[actix_web::test]
async fn ticks_are_shed_at_the_source_while_workers_are_behind_and_queued_once_they_catch_up() {
    let Queued {
        app,
        target: _target,
        id,
        spec,
        pool,
        keys,
        mut connection,
    } = a_queue_for_a_quiet_monitor().await;
    // A job that has waited ten seconds for a worker.
    let waiting = job_now(&id, &spec);
    let waited_since = upwatch::runtime::now_ms() - 10_000;
    let _: String = redis::cmd("XADD")
        .arg(keys.jobs())
        .arg(format!("{waited_since}-0"))
        .arg("jobs")
        .arg(serde_json::to_string(&[&waiting]).unwrap())
        .query_async(&mut connection)
        .await
        .unwrap();
    let (trigger, shutdown) = upwatch::runtime::shutdown_channel();
    let (_scheduling, scheduled) = tokio::sync::watch::channel(Default::default());
    let (sender, emitter) = emitter::spawn(pool.clone(), keys.clone(), scheduled, shutdown);
    // A tick of a monitor at 1 s may be probed up to ten seconds late: the
    // queue's wait already takes more than a quarter of that.
    let tick = |n: u64| {
        let mut job = job_now(&id, &spec);
        job.job_id = Uuid::new_v4();
        job.scheduled_at_ms += n;
        job.skip_after_ms = Some(job.scheduled_at_ms + 10_000);
        job
    };
    assert!(sender.send(tick(1)));
    let skipped = || async {
        let (_, monitor) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
        monitor["skipped_ticks"].as_u64()
    };
    wait_for("the tick to be skipped", PATIENCE, || async {
        (skipped().await == Some(1)).then_some(())
    })
    .await;
    let held = jobs::queue_state(&mut connection, &keys).await.unwrap();
    assert_eq!(held.entries, 1, "nothing queued behind it");

    // The workers catch up: the next tick is queued again.
    let taken = jobs::read(&mut connection, &keys, "w", 10, 100)
        .await
        .unwrap();
    jobs::ack(&mut connection, &keys, &[taken[0].entry_id.clone()])
        .await
        .unwrap();
    drop(connection);
    let next = tick(2);
    assert!(sender.send(next.clone()));
    let queued = wait_for("the next tick to be queued", PATIENCE, || async {
        let mut connection = pool.get().await.unwrap();
        let read = jobs::read(&mut connection, &keys, "w", 10, 100)
            .await
            .unwrap();
        read.into_iter().next()
    })
    .await;
    assert_eq!(queued.jobs, Ok(vec![next]));
    assert_eq!(skipped().await, Some(1), "only the first was skipped");
    trigger.trigger();
    drop(sender);
    emitter.await.unwrap();
}
