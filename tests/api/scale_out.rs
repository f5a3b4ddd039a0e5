//! Several real `upwatch serve` processes with different roles against one
//! PostgreSQL and one Redis: killing a scheduler/folder or a worker loses no
//! tick and counts nothing twice, a new process gets its share of partitions,
//! and a change made through the API reaches the scheduler that owns it.

use std::collections::{BTreeMap, HashMap};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::helpers::{DatabaseGuard, RedisGuard, connect, postgres_base_url, redis_url, wait_for};
use crate::target::{Target, closed_port};

const PARTITIONS: u16 = 16;
const LEASE_SECONDS: i64 = 3;
const MONITORS: usize = 200;
const PATIENCE: Duration = Duration::from_secs(60);

struct Fleet {
    db_url: String,
    prefix: String,
    processes: HashMap<String, Child>,
}

impl Fleet {
    /// Starts `upwatch serve` with `roles` under the instance name `name`.
    fn start(&mut self, name: &str, roles: &str, port: Option<u16>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_upwatch"));
        for (variable, _) in std::env::vars().filter(|(n, _)| n.starts_with("UPWATCH_")) {
            command.env_remove(variable);
        }
        let bind = format!("127.0.0.1:{}", port.unwrap_or_else(closed_port));
        let child = command
            .args(["serve", "--roles", roles])
            .env("UPWATCH_DATABASE_URL", &self.db_url)
            .env("UPWATCH_REDIS_URL", redis_url())
            .env("UPWATCH_KEY_PREFIX", &self.prefix)
            .env("UPWATCH_PARTITIONS", PARTITIONS.to_string())
            .env("UPWATCH_LEASE_SECONDS", LEASE_SECONDS.to_string())
            .env("UPWATCH_RECLAIM_AFTER_MS", "2000")
            // One lane per worker: its consumer is named after the process
            // (what the reclaim check reads), and its results are published
            // in the order its jobs were read.
            .env("UPWATCH_WORKER_THREADS", "1")
            .env("UPWATCH_INSTANCE", name)
            .env("UPWATCH_BIND", bind)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        self.processes.insert(name.to_owned(), child);
    }

    fn kill(&mut self, name: &str) {
        let mut child = self.processes.remove(name).expect("a running process");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.processes.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn redis_connection() -> redis::Connection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// Who holds each partition's lease for `role`: partition → member.
fn lease_holders(prefix: &str, role: &str) -> BTreeMap<u16, String> {
    let mut connection = redis_connection();
    (0..PARTITIONS)
        .filter_map(|p| {
            let holder: Option<String> = redis::cmd("GET")
                .arg(format!("{prefix}:lease:{role}:{p}"))
                .query(&mut connection)
                .unwrap();
            holder.map(|h| (p, h))
        })
        .collect()
}

/// Partitions held per instance name (a lease names its instance).
fn shares(holders: &BTreeMap<u16, String>) -> BTreeMap<String, usize> {
    let mut shares = BTreeMap::new();
    for instance in holders.values() {
        *shares.entry(instance.clone()).or_default() += 1;
    }
    shares
}

fn balanced(shares: &BTreeMap<String, usize>, instances: &[&str]) -> bool {
    let n = instances.len();
    let (low, high) = (
        usize::from(PARTITIONS) / n,
        usize::from(PARTITIONS).div_ceil(n),
    );
    shares.len() == n
        && instances.iter().all(|i| {
            shares
                .get(*i)
                .is_some_and(|&count| count == low || count == high)
        })
        && shares.values().sum::<usize>() == usize::from(PARTITIONS)
}

/// Waits until the leases of both roles are balanced over `instances`.
async fn wait_until_balanced(prefix: &str, instances: &[&str], what: &str) {
    wait_for(what, PATIENCE, || async {
        let both = ["scheduler", "folder"]
            .iter()
            .all(|role| balanced(&shares(&lease_holders(prefix, role)), instances));
        both.then_some(())
    })
    .await;
}

async fn ticks_by_monitor(db: &tokio_postgres::Client) -> HashMap<Uuid, Vec<OffsetDateTime>> {
    let rows = db
        .query(
            "SELECT monitor_id, scheduled_at FROM probe_results ORDER BY monitor_id, scheduled_at",
            &[],
        )
        .await
        .unwrap();
    let mut ticks: HashMap<Uuid, Vec<OffsetDateTime>> = HashMap::new();
    for row in rows {
        ticks.entry(row.get(0)).or_default().push(row.get(1));
    }
    ticks
}

/// Each monitor's `skipped_ticks`, as the API reports them.
async fn skipped_ticks(http: &reqwest::Client, api: &str) -> HashMap<Uuid, u64> {
    let page: Value = http
        .get(format!("{api}/monitors?limit=1000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|monitor| {
            let id = Uuid::parse_str(monitor["id"].as_str().unwrap()).unwrap();
            (id, monitor["skipped_ticks"].as_u64().unwrap_or(0))
        })
        .collect()
}

/// The monitors with ticks, from their first result up to `until`, that
/// are neither stored nor counted skipped: (monitor, ticks due, stored,
/// skipped). Every monitor here is at 1 s.
fn unaccounted(
    ticks: &HashMap<Uuid, Vec<OffsetDateTime>>,
    skipped: &HashMap<Uuid, u64>,
    until: OffsetDateTime,
) -> Vec<(Uuid, i128, i128, u64)> {
    let mut short = Vec::new();
    for (id, mine) in ticks {
        let Some(first) = mine.first() else { continue };
        let due = (until - *first).whole_milliseconds() / 1000 + 1;
        let stored = mine.iter().filter(|t| **t <= until).count() as i128;
        let skipped = skipped.get(id).copied().unwrap_or(0);
        if stored + i128::from(skipped) < due {
            short.push((*id, due, stored, skipped));
        }
    }
    short
}

#[actix_web::test]
async fn killing_processes_loses_no_tick_and_counts_nothing_twice() {
    let db_name = format!("upwatch_test_{}", Uuid::new_v4().simple());
    let prefix = format!("upwatch-test-{}", Uuid::new_v4().simple());
    let _database = DatabaseGuard(db_name.clone());
    let _redis = RedisGuard(prefix.clone());
    let target = Target::start();
    let mut fleet = Fleet {
        db_url: format!("{}/{db_name}", postgres_base_url()),
        prefix: prefix.clone(),
        processes: HashMap::new(),
    };
    let api_port = closed_port();
    fleet.start("api", "api", Some(api_port));
    let api = format!("http://127.0.0.1:{api_port}/api/v1");
    let http = reqwest::Client::new();
    wait_for("the API to answer", PATIENCE, || async {
        let response = http.get(format!("{api}/monitors")).send().await.ok()?;
        response.status().is_success().then_some(())
    })
    .await;
    for name in ["s1", "s2", "s3"] {
        fleet.start(name, "scheduler,folder", None);
    }
    // One worker while the counting monitor counts: two would publish the
    // results of its late tick and its next one in either order, and a
    // result older than the newest folded one changes nothing.
    fleet.start("w1", "worker", None);
    wait_until_balanced(
        &prefix,
        &["s1", "s2", "s3"],
        "leases balanced over three schedulers",
    )
    .await;

    let mut ids = Vec::new();
    for n in 0..MONITORS {
        let body = json!({"name": format!("m{n}"), "url": target.url("/status/200"), "interval_seconds": 1, "timeout_ms": 800});
        let created: Value = http
            .post(format!("{api}/monitors"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    let counting = json!({"name": "counting", "url": target.url("/health"), "interval_seconds": 1, "timeout_ms": 800, "failure_threshold": 5});
    let counting: Value = http
        .post(format!("{api}/monitors"))
        .json(&counting)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let counting_id = Uuid::parse_str(counting["id"].as_str().unwrap()).unwrap();

    let db = connect(&db_name).await;
    wait_for("every monitor to be up", PATIENCE, || async {
        let up: i64 = db
            .query_one("SELECT count(*) FROM monitors WHERE status = 'up'", &[])
            .await
            .unwrap()
            .get(0);
        (up == i64::try_from(MONITORS).unwrap() + 1).then_some(())
    })
    .await;

    // The counting monitor starts failing; once two failures are folded
    // (stored in the transaction that folds them; the monitors row is saved
    // only every few seconds), the process that folds its partition dies
    // holding the count in memory.
    target.answer(503);
    wait_for("two failures of the counting monitor", PATIENCE, || async {
        let failures: i64 = db
            .query_one(
                "SELECT count(*) FROM probe_results WHERE monitor_id = $1 AND NOT up",
                &[&counting_id],
            )
            .await
            .unwrap()
            .get(0);
        (failures >= 2).then_some(())
    })
    .await;
    let partition = upwatch::domain::partition_of(counting_id, PARTITIONS);
    let owner = lease_holders(&prefix, "folder")[&partition].clone();
    let victim = owner;
    let killed_at = OffsetDateTime::now_utc();
    fleet.kill(&victim);
    let survivors: Vec<&str> = ["s1", "s2", "s3"]
        .into_iter()
        .filter(|s| *s != victim)
        .collect();

    wait_until_balanced(
        &prefix,
        &survivors,
        "the dead process's partitions to be taken over",
    )
    .await;
    let taken_over_after = OffsetDateTime::now_utc() - killed_at;
    assert!(
        taken_over_after <= time::Duration::seconds(LEASE_SECONDS + 2),
        "takeover took {taken_over_after}"
    );

    wait_for("the counting monitor to go down", PATIENCE, || async {
        let status: String = db
            .query_one("SELECT status FROM monitors WHERE id = $1", &[&counting_id])
            .await
            .unwrap()
            .get(0);
        (status == "down").then_some(())
    })
    .await;

    // A worker dies mid-batch: its jobs are reclaimed by a second one.
    fleet.start("w2", "worker", None);
    wait_for("the second worker to read jobs", PATIENCE, || async {
        let mut connection = redis_connection();
        let consumers: redis::streams::StreamInfoConsumersReply = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(format!("{prefix}:jobs"))
            .arg("workers")
            .query(&mut connection)
            .unwrap();
        consumers
            .consumers
            .iter()
            .any(|consumer| consumer.name == "worker-w2")
            .then_some(())
    })
    .await;
    fleet.kill("w1");
    wait_for(
        "the dead worker's jobs to be reclaimed",
        PATIENCE,
        || async {
            let mut connection = redis_connection();
            let pending: redis::Value = redis::cmd("XPENDING")
                .arg(format!("{prefix}:jobs"))
                .arg("workers")
                .arg("-")
                .arg("+")
                .arg(1000)
                .arg("worker-w1")
                .query(&mut connection)
                .unwrap();
            matches!(pending, redis::Value::Array(ref items) if items.is_empty()).then_some(())
        },
    )
    .await;

    // A fourth scheduler/folder gets its share.
    fleet.start("s4", "scheduler,folder", None);
    let mut with_new: Vec<&str> = survivors.clone();
    with_new.push("s4");
    wait_until_balanced(
        &prefix,
        &with_new,
        "partitions to rebalance onto the new process",
    )
    .await;

    // A change through the API process reaches whichever scheduler owns it.
    let moved = &ids[0];
    let patched = http
        .patch(format!("{api}/monitors/{moved}"))
        .json(&json!({"url": target.url("/status/500"), "failure_threshold": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    wait_for(
        "the change to take effect in a scheduler",
        PATIENCE,
        || async {
            let body: Value = http
                .get(format!("{api}/monitors/{moved}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (body["status"] == "down").then_some(())
        },
    )
    .await;

    // Let everything settle, then compare what is stored with the schedule.
    let settle_from = OffsetDateTime::now_utc();
    wait_for(
        "results well after the last disruption",
        PATIENCE,
        || async {
            let newest: Option<OffsetDateTime> = db
                .query_one("SELECT max(scheduled_at) FROM probe_results", &[])
                .await
                .unwrap()
                .get(0);
            newest
                .filter(|n| *n > settle_from + time::Duration::seconds(3))
                .map(|_| ())
        },
    )
    .await;
    let window_end = settle_from;
    let ticks = ticks_by_monitor(&db).await;
    let limit = time::Duration::seconds(LEASE_SECONDS + 2) + time::Duration::milliseconds(500);
    for id in &ids {
        let id = Uuid::parse_str(id).unwrap();
        let mine: Vec<OffsetDateTime> = ticks[&id]
            .iter()
            .copied()
            .filter(|t| *t <= window_end)
            .collect();
        let longest = mine.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            longest <= limit,
            "monitor {id} went {longest} without a result"
        );
        let mut distinct = mine.clone();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            mine.len(),
            "a tick of {id} was stored twice"
        );
    }

    // Every tick up to then has a result or is counted skipped, those that
    // fell while the dead scheduler's partitions found a new owner too (the
    // late ones and the counts arrive a little after).
    let deadline = Instant::now() + PATIENCE;
    let short = loop {
        let ticks = ticks_by_monitor(&db).await;
        let short = unaccounted(&ticks, &skipped_ticks(&http, &api).await, window_end);
        if short.is_empty() || Instant::now() > deadline {
            break short;
        }
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        short.is_empty(),
        "{} monitors have ticks neither stored nor counted skipped, \
         (monitor, due, stored, skipped): {:?}",
        short.len(),
        &short[..short.len().min(5)]
    );

    let transitions: Vec<(Uuid, String)> = db
        .query(
            "SELECT aggregate_id, data->>'to' FROM events WHERE type = 'status_changed' ORDER BY seq",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let mut per_monitor: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (id, to) in transitions {
        per_monitor.entry(id).or_default().push(to);
    }
    for id in &ids[1..] {
        let id = Uuid::parse_str(id).unwrap();
        assert_eq!(per_monitor[&id], ["up"], "monitor {id}");
    }
    assert_eq!(per_monitor[&counting_id], ["up", "down"]);

    // The counting monitor went down on exactly its fifth consecutive failure,
    // across the folder that died holding its count.
    let decided: Value = db
        .query_one(
            "SELECT data FROM events WHERE aggregate_id = $1 AND type = 'status_changed' AND data->>'to' = 'down'",
            &[&counting_id],
        )
        .await
        .unwrap()
        .get(0);
    let results: Vec<(Uuid, bool)> = db
        .query(
            "SELECT job_id, up FROM probe_results WHERE monitor_id = $1 ORDER BY scheduled_at",
            &[&counting_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let first_failure = results.iter().position(|(_, up)| !up).unwrap();
    let fifth = results[first_failure + 4];
    assert!(
        results[first_failure..=first_failure + 4]
            .iter()
            .all(|(_, up)| !up)
    );
    assert_eq!(decided["job_id"], fifth.0.to_string());
}
