//! SIGTERM on a running `upwatch serve`: probes in flight finish, their
//! results are published and their jobs acknowledged, and the process exits 0.

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

fn serve(db_url: &str, prefix: &str, port: u16) -> Killed {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upwatch"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("UPWATCH_")) {
        command.env_remove(name);
    }
    let child = command
        .arg("serve")
        .env("UPWATCH_DATABASE_URL", db_url)
        .env("UPWATCH_REDIS_URL", redis_url())
        .env("UPWATCH_KEY_PREFIX", prefix)
        .env("UPWATCH_PARTITIONS", "2")
        .env("UPWATCH_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    Killed(child)
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
    let db_name = format!("upwatch_test_{}", uuid::Uuid::new_v4().simple());
    let prefix = format!("upwatch-test-{}", uuid::Uuid::new_v4().simple());
    let _database = DatabaseGuard(db_name.clone());
    let _redis = RedisGuard(prefix.clone());
    let target = Target::start();
    let port = closed_port();
    let mut process = serve(&format!("{}/{db_name}", postgres_base_url()), &prefix, port);

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
    let keys = Keys::new(&KeyPrefix::parse(&prefix).unwrap());
    let mut published = 0;
    for stream in keys.all_results(2) {
        published += redis_count("XLEN", &stream, None).await;
    }
    let stored: i64 = connect(&db_name)
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
