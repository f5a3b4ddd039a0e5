//! Stopping a running `upwatch serve`: on SIGTERM probes in flight finish,
//! their results are published and their jobs acknowledged, and the process
//! exits 0; after SIGKILL, a restart under the same instance name completes
//! every job that had been scheduled, once.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use upwatch::config::KeyPrefix;
use upwatch::queue::keys::{Keys, WORKERS_GROUP};

use crate::helpers::{DatabaseGuard, RedisGuard, connect, postgres_base_url, redis_url, wait_for};
use crate::target::{Target, closed_port};

const PATIENCE: Duration = Duration::from_secs(30);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A database and a Redis key prefix of the test's own, dropped at the end,
/// for real `upwatch serve` processes.
struct Deployment {
    db_name: String,
    prefix: String,
    _database: DatabaseGuard,
    _redis: RedisGuard,
}

impl Deployment {
    fn new() -> Self {
        let db_name = format!("upwatch_test_{}", uuid::Uuid::new_v4().simple());
        let prefix = format!("upwatch-test-{}", uuid::Uuid::new_v4().simple());
        Self {
            _database: DatabaseGuard(db_name.clone()),
            _redis: RedisGuard(prefix.clone()),
            db_name,
            prefix,
        }
    }

    /// `upwatch serve` with every role, as `instance`, its API on `port`.
    fn serve(&self, port: u16, instance: &str) -> Killed {
        let mut command = Command::new(env!("CARGO_BIN_EXE_upwatch"));
        for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("UPWATCH_")) {
            command.env_remove(name);
        }
        let child = command
            .arg("serve")
            .env(
                "UPWATCH_DATABASE_URL",
                format!("{}/{}", postgres_base_url(), self.db_name),
            )
            .env("UPWATCH_REDIS_URL", redis_url())
            .env("UPWATCH_KEY_PREFIX", &self.prefix)
            .env("UPWATCH_PARTITIONS", "2")
            .env("UPWATCH_INSTANCE", instance)
            .env("UPWATCH_BIND", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        Killed(child)
    }
}

async fn redis_count(command: &str, key: &str, extra: Option<&str>) -> usize {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let mut cmd = redis::cmd(command);
    cmd.arg(key);
    if let Some(extra) = extra {
        cmd.arg(extra);
    }
    match cmd
        .query_async::<redis::Value>(&mut connection)
        .await
        .unwrap()
    {
        redis::Value::Int(n) => usize::try_from(n).unwrap(),
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => usize::try_from(*n).unwrap(),
            _ => 0,
        },
        other => panic!("unexpected reply {other:?}"),
    }
}

#[actix_web::test]
async fn sigterm_lets_probes_in_flight_finish_and_publish() {
    let deployment = Deployment::new();
    let target = Target::start();
    let port = closed_port();
    let mut process = deployment.serve(port, "shutdown-test");

    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{port}/api/v1/monitors");
    let body = json!({"name": "slow", "url": target.url("/slow/1500"), "interval_seconds": 2, "timeout_ms": 2000});
    wait_for("the API to register the monitor", PATIENCE, || async {
        let response = http.post(&api).json(&body).send().await.ok()?;
        (response.status() == 201).then_some(())
    })
    .await;
    wait_for("a probe to be in flight", PATIENCE, || async {
        (target.hits() > 0).then_some(())
    })
    .await;

    let pid = process.0.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = process.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running after SIGTERM"
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");

    // Every probe that reached the target has its result: folded into
    // PostgreSQL, or waiting in a results stream for the next folder.
    let keys = Keys::new(&KeyPrefix::parse(&deployment.prefix).unwrap());
    let mut published = 0;
    for stream in keys.all_results(2) {
        published += redis_count("XLEN", &stream, None).await;
    }
    let stored: i64 = connect(&deployment.db_name)
        .await
        .query_one("SELECT count(*) FROM probe_results", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        published + usize::try_from(stored).unwrap(),
        target.hits(),
        "results published or stored, one per probe"
    );
    assert_eq!(
        redis_count("XPENDING", &keys.jobs(), Some(WORKERS_GROUP)).await,
        0,
        "no job left unacknowledged"
    );
}

#[actix_web::test]
async fn after_sigkill_a_restart_completes_every_scheduled_job_once() {
    let deployment = Deployment::new();
    let target = Target::start();
    let port = closed_port();
    let mut first = deployment.serve(port, "killed");

    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{port}/api/v1/monitors");
    // Each probe takes 400 ms of its 1 s interval: most of the time one is in flight.
    let body = json!({"name": "busy", "url": target.url("/slow/400"), "interval_seconds": 1, "timeout_ms": 1000});
    let id = register(&http, &api, &body).await;
    let db = connect(&deployment.db_name).await;
    wait_for("three results before the kill", PATIENCE, || async {
        (scheduled_ticks(&db, &id).await.len() >= 3).then_some(())
    })
    .await;
    wait_for("a probe in flight", PATIENCE, || async {
        (target.in_flight() > 0).then_some(())
    })
    .await;

    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let killed_at = time::OffsetDateTime::now_utc();
    let _second = deployment.serve(port, "killed");
    wait_for("probing to resume after the restart", PATIENCE, || async {
        let after = scheduled_ticks(&db, &id)
            .await
            .into_iter()
            .filter(|tick| *tick > killed_at)
            .count();
        (after >= 3).then_some(())
    })
    .await;

    // Every grid tick from the first result until just before the kill has
    // exactly one result, including the jobs in flight when it was killed.
    let ticks = scheduled_ticks(&db, &id).await;
    let first_tick = ticks[0];
    // The tick in flight at the kill is the last one before it.
    let last_scheduled = killed_at;
    let expected: Vec<time::OffsetDateTime> = (0..)
        .map(|k| first_tick + time::Duration::seconds(k))
        .take_while(|tick| *tick <= last_scheduled)
        .collect();
    let before_kill: Vec<time::OffsetDateTime> = ticks
        .iter()
        .copied()
        .filter(|tick| *tick <= last_scheduled)
        .collect();
    assert_eq!(
        before_kill, expected,
        "one result per scheduled tick, none missing"
    );

    let transitions: i64 = db
        .query_one(
            "SELECT count(*) FROM events WHERE type = 'status_changed'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(transitions, 1, "the monitor went up once and stayed up");
}

async fn scheduled_ticks(db: &tokio_postgres::Client, id: &str) -> Vec<time::OffsetDateTime> {
    let id = uuid::Uuid::parse_str(id).unwrap();
    db.query(
        "SELECT scheduled_at FROM probe_results WHERE monitor_id = $1 ORDER BY scheduled_at",
        &[&id],
    )
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect()
}

/// A process restarted under the same instance name takes its own leases back
/// at once (they name the instance): probing and folding resume within a
/// tick, not after the dead process's leases expire (10 s).
#[actix_web::test]
async fn after_sigkill_a_restart_resumes_probing_and_folding_at_once() {
    let deployment = Deployment::new();
    let target = Target::start();
    let port = closed_port();
    let mut first = deployment.serve(port, "restarted");

    let http = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{port}/api/v1/monitors");
    let mut healthy = Vec::new();
    for n in 0..5 {
        let body = json!({"name": format!("healthy-{n}"), "url": target.url("/status/200"), "interval_seconds": 1, "timeout_ms": 800});
        healthy.push(register(&http, &api, &body).await);
    }
    // Fails from its first probe; goes down at its sixth consecutive failure.
    let threshold = 6;
    let body = json!({"name": "failing", "url": format!("http://127.0.0.1:{}/", closed_port()), "interval_seconds": 1, "timeout_ms": 500, "failure_threshold": threshold});
    let failing = register(&http, &api, &body).await;
    let db = connect(&deployment.db_name).await;
    let first_failure = wait_for("two failures before the kill", PATIENCE, || async {
        let ticks = scheduled_ticks(&db, &failing).await;
        (ticks.len() >= 2).then(|| ticks[0])
    })
    .await;
    assert!(
        status_changes_to(&db, &failing, "down").await.is_empty(),
        "not down yet at the kill"
    );

    first.0.kill().unwrap();
    first.0.wait().unwrap();
    let _second = deployment.serve(port, "restarted");
    wait_for("the restarted process to answer", PATIENCE, || async {
        let response = http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    let ready_at = time::OffsetDateTime::now_utc();

    wait_for(
        "a new result of every monitor within 2 s of the restart",
        Duration::from_secs(2),
        || async {
            for id in healthy.iter().chain([&failing]) {
                let newest = scheduled_ticks(&db, id).await.last().copied()?;
                if newest <= ready_at {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;

    // On schedule: the sixth failure is due `threshold - 1` ticks after the
    // first; the restart may cost a tick or two, not a lease time.
    let due = first_failure + time::Duration::seconds(threshold - 1);
    let down_at = wait_for("the failing monitor to go down", PATIENCE, || async {
        status_changes_to(&db, &failing, "down")
            .await
            .first()
            .copied()
    })
    .await;
    assert!(
        down_at <= due + time::Duration::seconds(2),
        "down at {down_at}, due at {due}: the restart held probing back"
    );
}

async fn register(http: &reqwest::Client, api: &str, body: &serde_json::Value) -> String {
    wait_for("the API to register a monitor", PATIENCE, || async {
        let response = http.post(api).json(body).send().await.ok()?;
        let created: serde_json::Value = response.json().await.ok()?;
        created["id"].as_str().map(str::to_owned)
    })
    .await
}

/// The ticks of the results that moved a monitor to `to`, oldest first.
async fn status_changes_to(
    db: &tokio_postgres::Client,
    id: &str,
    to: &str,
) -> Vec<time::OffsetDateTime> {
    let id = uuid::Uuid::parse_str(id).unwrap();
    db.query(
        "SELECT r.scheduled_at FROM events e
         JOIN probe_results r ON r.job_id = (e.data->>'job_id')::uuid
         WHERE e.aggregate_id = $1 AND e.type = 'status_changed' AND e.data->>'to' = $2
         ORDER BY e.seq",
        &[&id, &to],
    )
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect()
}
