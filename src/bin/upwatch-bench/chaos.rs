//! The `chaos` scenario: monitors at 1 s on a deployment with several
//! processes per role and its own Redis (append-only file) and PostgreSQL,
//! while a random process is SIGKILLed and restarted every few seconds,
//! Redis is killed and restarted, PostgreSQL stops for a minute and one
//! worker is cut off from Redis. Afterwards it counts, against the schedule,
//! what a user relies on: every tick has one result or is counted skipped,
//! nothing is stored twice, every transition is recorded once and every
//! notification delivered once per channel.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use upwatch::domain::IntervalSeconds;
use upwatch::domain::schedule::offset_ms;

use crate::fleet::{Process, free_port};
use crate::measure::{percentile, report, scheduled_ticks};
use crate::proxy::Proxy;
use crate::throwaway::{ThrowawayPostgres, ThrowawayRedis};
use crate::webhooks::{Arrival, Arrivals, start_receiver};

/// Monitors whose target flips between 200 and 503; they carry the tag the
/// channels match, so each of their transitions is a notification.
const FLIPPED: usize = 20;
const FLIP_EVERY_S: u64 = 30;
const CHANNELS: [&str; 2] = ["a", "b"];
const PREFIX: &str = "chaos";
/// A killed worker's jobs are taken over after this long (the default,
/// 65 s, suits probe timeouts up to a minute; these time out after 800 ms).
const RECLAIM_AFTER_MS: u64 = 5000;
const PATIENCE: Duration = Duration::from_secs(120);

pub struct Plan {
    pub monitors: usize,
    pub duration_s: u64,
    pub kill_every_s: u64,
    pub restart_after_s: u64,
    pub seed: u64,
}

/// One `upwatch serve` process of the deployment.
struct Member {
    roles: &'static str,
    redis_url: String,
    port: u16,
    child: Option<Child>,
}

/// What happens at a moment of the run.
#[derive(Debug, Clone)]
enum Action {
    Kill(String),
    Restart(String),
    KillRedis,
    StartRedis,
    StopPostgres,
    StartPostgres,
    CutWorker,
    RestoreWorker,
    Flip(u16),
}

/// The deployment: its stores, the target, the webhook receiver and the
/// processes, which a supervisor loop restarts when they exit on their own.
struct Deployment {
    upwatch: PathBuf,
    postgres: ThrowawayPostgres,
    redis: ThrowawayRedis,
    proxy: Proxy,
    members: BTreeMap<String, Member>,
    target: String,
    _target: Process,
    /// Processes that exited without being killed, and when.
    unplanned_exits: Vec<String>,
    /// Each process's log (info level), appended across restarts.
    logs: PathBuf,
}

/// Longer than the PostgreSQL stop (at most 60 s): a process restarted
/// during it waits for the database, as a deployment expecting such outages
/// would be set up, instead of exiting for its supervisor to restart it —
/// so a process that exits by itself here is a crash.
const STARTUP_TIMEOUT_S: u64 = 120;

/// The worker that reaches Redis through the proxy.
const CUT_WORKER: &str = "worker-3";

impl Deployment {
    async fn start(upwatch: PathBuf, logs: PathBuf) -> anyhow::Result<Self> {
        if logs.exists() {
            std::fs::remove_dir_all(&logs)?;
        }
        std::fs::create_dir_all(&logs)?;
        let postgres = ThrowawayPostgres::start().await?;
        let redis = ThrowawayRedis::start().await?;
        let proxy = Proxy::start(redis.port()).await?;
        let target_port = free_port()?;
        let target_process = Process(
            Command::new(std::env::current_exe()?)
                .args(["target", "--port", &target_port.to_string()])
                .stdout(Stdio::null())
                .spawn()
                .context("starting the target process")?,
        );
        let direct = redis.url();
        let proxied = format!("redis://127.0.0.1:{}", proxy.port());
        let mut members = BTreeMap::new();
        for (name, roles, redis_url) in [
            ("api-1", "api", &direct),
            ("api-2", "api", &direct),
            ("sched-1", "scheduler,folder", &direct),
            ("sched-2", "scheduler,folder", &direct),
            ("sched-3", "scheduler,folder", &direct),
            ("worker-1", "worker", &direct),
            ("worker-2", "worker", &direct),
            (CUT_WORKER, "worker", &proxied),
            ("notifier-1", "notifier", &direct),
            ("notifier-2", "notifier", &direct),
        ] {
            let member = Member {
                roles,
                redis_url: redis_url.clone(),
                port: free_port()?,
                child: None,
            };
            members.insert(name.to_owned(), member);
        }
        let mut deployment = Self {
            upwatch,
            postgres,
            redis,
            proxy,
            members,
            target: format!("http://127.0.0.1:{target_port}"),
            _target: target_process,
            unplanned_exits: Vec::new(),
            logs,
        };
        // The first process creates the database; the rest start after it.
        deployment.spawn("api-1")?;
        deployment.wait_ready("api-1").await?;
        let rest: Vec<String> = deployment
            .members
            .keys()
            .filter(|name| *name != "api-1")
            .cloned()
            .collect();
        for name in rest {
            deployment.spawn(&name)?;
        }
        Ok(deployment)
    }

    fn database_url(&self) -> String {
        format!("{}/upwatch", self.postgres.url())
    }

    fn api(&self, name: &str) -> anyhow::Result<String> {
        let member = self.members.get(name).context("no such member")?;
        Ok(format!("http://127.0.0.1:{}", member.port))
    }

    fn spawn(&mut self, name: &str) -> anyhow::Result<()> {
        let database_url = self.database_url();
        let member = self
            .members
            .get_mut(name)
            .with_context(|| format!("no member {name}"))?;
        let mut command = Command::new(&self.upwatch);
        for (variable, _) in std::env::vars().filter(|(n, _)| n.starts_with("UPWATCH_")) {
            command.env_remove(variable);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{name}.log")))?;
        let child = command
            .args(["serve", "--roles", member.roles])
            .env("UPWATCH_DATABASE_URL", database_url)
            .env("UPWATCH_REDIS_URL", &member.redis_url)
            .env("UPWATCH_KEY_PREFIX", PREFIX)
            .env("UPWATCH_INSTANCE", name)
            .env("UPWATCH_BIND", format!("127.0.0.1:{}", member.port))
            .env("UPWATCH_RECLAIM_AFTER_MS", RECLAIM_AFTER_MS.to_string())
            .env(
                "UPWATCH_STARTUP_TIMEOUT_SECONDS",
                STARTUP_TIMEOUT_S.to_string(),
            )
            .env("RUST_LOG", "info")
            .stdout(log)
            .spawn()
            .with_context(|| format!("starting {}", self.upwatch.display()))?;
        member.child = Some(child);
        Ok(())
    }

    fn kill(&mut self, name: &str) {
        if let Some(mut child) = self.members.get_mut(name).and_then(|m| m.child.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A supervisor's job: a process that exited by itself is noted and
    /// started again.
    fn restart_exited(&mut self, at_s: u64) -> anyhow::Result<()> {
        let exited: Vec<String> = self
            .members
            .iter_mut()
            .filter_map(|(name, member)| {
                let child = member.child.as_mut()?;
                matches!(child.try_wait(), Ok(Some(_))).then(|| name.clone())
            })
            .collect();
        for name in exited {
            println!("[{at_s:>4} s] {name} exited by itself; restarting it");
            self.unplanned_exits.push(format!("{name} at {at_s} s"));
            self.spawn(&name)?;
        }
        Ok(())
    }

    async fn wait_ready(&self, name: &str) -> anyhow::Result<()> {
        let url = format!("{}/readyz", self.api(name)?);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if http
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{name} was not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn perform(&mut self, action: &Action) -> anyhow::Result<()> {
        match action {
            Action::Kill(name) => self.kill(name),
            Action::Restart(name) => self.spawn(name)?,
            Action::KillRedis => self.redis.kill(),
            Action::StartRedis => self.redis.restart().await?,
            Action::StopPostgres => self.postgres.stop_server().await?,
            Action::StartPostgres => self.postgres.start_server().await?,
            Action::CutWorker => self.proxy.cut(),
            Action::RestoreWorker => self.proxy.restore(),
            Action::Flip(status) => {
                let http = reqwest::Client::new();
                for i in 0..FLIPPED {
                    http.put(format!("{}/flip/flip{i}/{status}", self.target))
                        .send()
                        .await?
                        .error_for_status()?;
                }
            }
        }
        Ok(())
    }

    async fn database(&self) -> anyhow::Result<tokio_postgres::Client> {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url(), tokio_postgres::NoTls)
                .await
                .context("connecting to the throwaway PostgreSQL")?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Each monitor's count of ticks skipped on purpose, as Redis holds it.
    async fn skipped(&self) -> anyhow::Result<HashMap<Uuid, u64>> {
        let client = redis::Client::open(self.redis.url())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let counts: HashMap<String, u64> = redis::cmd("HGETALL")
            .arg(format!("{PREFIX}:skipped"))
            .query_async(&mut connection)
            .await?;
        Ok(counts
            .into_iter()
            .filter_map(|(id, count)| Some((Uuid::parse_str(&id).ok()?, count)))
            .collect())
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let names: Vec<String> = self.members.keys().cloned().collect();
        for name in names {
            self.kill(&name);
        }
    }
}

/// The run's schedule of faults and flips, in order of time (seconds from
/// the start of the window); the victims of the kills come from `seed`.
fn timeline(plan: &Plan, names: &[String]) -> Vec<(u64, Action)> {
    let d = plan.duration_s;
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let mut actions = Vec::new();
    let mut at = plan.kill_every_s;
    while plan.kill_every_s > 0 && at + plan.restart_after_s < d && !names.is_empty() {
        let victim = names[rng.usize(..names.len())].clone();
        actions.push((at, Action::Kill(victim.clone())));
        actions.push((at + plan.restart_after_s, Action::Restart(victim)));
        at += plan.kill_every_s;
    }
    let redis_at = d * 23 / 100;
    actions.push((redis_at, Action::KillRedis));
    actions.push((redis_at + 3, Action::StartRedis));
    let postgres_at = d * 43 / 100;
    actions.push((postgres_at, Action::StopPostgres));
    actions.push((postgres_at + (d / 5).min(60), Action::StartPostgres));
    let cut_at = d * 77 / 100;
    actions.push((cut_at, Action::CutWorker));
    actions.push((cut_at + (d / 10).min(30), Action::RestoreWorker));
    let mut flip_at = FLIP_EVERY_S / 2;
    let mut status = 503;
    while flip_at + FLIP_EVERY_S / 2 <= d {
        actions.push((flip_at, Action::Flip(status)));
        status = if status == 503 { 200 } else { 503 };
        flip_at += FLIP_EVERY_S;
    }
    actions.sort_by_key(|(at, _)| *at);
    actions
}

fn describe(action: &Action) -> String {
    match action {
        Action::Kill(name) => format!("SIGKILL {name}"),
        Action::Restart(name) => format!("restart {name}"),
        Action::KillRedis => "SIGKILL Redis".into(),
        Action::StartRedis => "Redis restarted from its append-only file".into(),
        Action::StopPostgres => "PostgreSQL stopped (immediate)".into(),
        Action::StartPostgres => "PostgreSQL started".into(),
        Action::CutWorker => format!("{CUT_WORKER} cut off from Redis"),
        Action::RestoreWorker => format!("{CUT_WORKER} reconnected"),
        Action::Flip(status) => format!("{FLIPPED} targets now answer {status}"),
    }
}

fn monitor_body(target: &str, i: usize) -> Value {
    if i < FLIPPED {
        json!({"name": format!("flip-{i}"), "url": format!("{target}/t/flip{i}"),
            "interval_seconds": 1, "timeout_ms": 800, "failure_threshold": 2,
            "recovery_threshold": 2, "tags": ["flip"]})
    } else {
        json!({"name": format!("steady-{i}"), "url": format!("{target}/t/p{}", i % 50),
            "interval_seconds": 1, "timeout_ms": 800, "failure_threshold": 3})
    }
}

async fn post(http: &reqwest::Client, url: String, body: &Value) -> anyhow::Result<Value> {
    let response = http
        .post(&url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body)?)
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("POST {url}: {status} {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// Registers the channels and monitors through `api-1`; the monitors' ids.
async fn register(
    deployment: &Deployment,
    monitors: usize,
    hooks: &str,
) -> anyhow::Result<Vec<Uuid>> {
    let http = reqwest::Client::new();
    let api = format!("{}/api/v1", deployment.api("api-1")?);
    for channel in CHANNELS {
        let body = json!({"name": channel, "kind": "webhook", "url": format!("{hooks}/{channel}"),
            "match_tags": ["flip"]});
        post(&http, format!("{api}/channels"), &body).await?;
    }
    let mut ids = Vec::with_capacity(monitors);
    let indexes: Vec<usize> = (0..monitors).collect();
    for chunk in indexes.chunks(250) {
        let bodies: Vec<Value> = chunk
            .iter()
            .map(|&i| monitor_body(&deployment.target, i))
            .collect();
        let created = post(
            &http,
            format!("{api}/monitors/bulk"),
            &json!({ "monitors": bodies }),
        )
        .await?;
        for item in created["items"].as_array().into_iter().flatten() {
            ids.push(Uuid::parse_str(item["id"].as_str().unwrap_or_default())?);
        }
    }
    Ok(ids)
}

/// Polls `check` every 200 ms until it is true, for at most `PATIENCE`.
async fn wait_until<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if check().await? {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{what} did not happen within {} s", PATIENCE.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn count(db: &tokio_postgres::Client, sql: &str, at: OffsetDateTime) -> anyhow::Result<i64> {
    Ok(db.query_one(sql, &[&at]).await?.get(0))
}

pub async fn chaos(upwatch: PathBuf, out: &std::path::Path, plan: Plan) -> anyhow::Result<()> {
    let (hooks, arrivals) = start_receiver()?;
    let logs = out.join("chaos-logs");
    println!("each process logs to {}", logs.display());
    let mut deployment = Deployment::start(upwatch, logs).await?;
    let ids = register(&deployment, plan.monitors, &hooks).await?;
    let db = deployment.database().await?;
    let expected_up = i64::try_from(ids.len())?;
    wait_until("every monitor up", || async {
        let up: i64 = db
            .query_one("SELECT count(*) FROM monitors WHERE status = 'up'", &[])
            .await?
            .get(0);
        Ok(up == expected_up)
    })
    .await?;
    drop(db);

    let names: Vec<String> = deployment.members.keys().cloned().collect();
    let actions = timeline(&plan, &names);
    let flips = actions
        .iter()
        .filter(|(_, action)| matches!(action, Action::Flip(_)))
        .count() as u64;
    let skipped_before = deployment.skipped().await?;
    let window_from = whole_ms(OffsetDateTime::now_utc());
    let started = Instant::now();
    let mut log = Vec::new();
    let mut pending = actions.into_iter().peekable();
    while started.elapsed() < Duration::from_secs(plan.duration_s) {
        let now_s = started.elapsed().as_secs();
        while let Some((at, action)) = pending.next_if(|(at, _)| *at <= now_s) {
            let line = format!("[{at:>4} s] {}", describe(&action));
            println!("{line}");
            log.push(line);
            deployment
                .perform(&action)
                .await
                .with_context(|| describe(&action))?;
        }
        deployment.restart_exited(now_s)?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let window_to = whole_ms(OffsetDateTime::now_utc());
    deployment.restart_exited(plan.duration_s)?;

    let db = deployment.database().await?;
    let monitors = i64::try_from(ids.len())?;
    let after = window_to + time::Duration::seconds(5);
    wait_until("a result after the window for every monitor", || async {
        let fresh = count(
            &db,
            "SELECT count(DISTINCT monitor_id) FROM probe_results WHERE scheduled_at >= $1",
            after,
        )
        .await?;
        Ok(fresh == monitors)
    })
    .await?;
    // Jobs a killed worker held are reclaimed a few seconds late; their
    // results land last. Settled: no change over a reclaim period.
    let deadline = Instant::now() + PATIENCE;
    let mut stored = -1;
    loop {
        let now = count(
            &db,
            "SELECT count(*) FROM probe_results WHERE scheduled_at < $1",
            window_to,
        )
        .await?;
        if now == stored {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the window's results still arrive after {} s",
                PATIENCE.as_secs()
            );
        }
        stored = now;
        tokio::time::sleep(Duration::from_millis(RECLAIM_AFTER_MS)).await;
    }
    wait_until("every delivery sent", || async {
        let owed: i64 = db
            .query_one(
                "SELECT count(*) FROM deliveries WHERE status = 'pending'",
                &[],
            )
            .await?
            .get(0);
        Ok(owed == 0)
    })
    .await?;
    let skipped_after = deployment.skipped().await?;

    let mut fields = Map::new();
    fields.insert("monitors_at_1s".into(), json!(ids.len()));
    fields.insert("seconds".into(), json!(plan.duration_s));
    fields.insert("seed".into(), json!(plan.seed));
    fields.insert("processes".into(), json!(deployment.members.len()));
    let ticks = tick_counts(
        &db,
        &ids,
        window_from,
        window_to,
        &skipped_before,
        &skipped_after,
    )
    .await?;
    let transitions = transition_counts(&db, &ids, window_from, flips).await?;
    let deliveries = delivery_counts(&arrivals, &transitions.notifying);
    let broken = ticks.lost
        + ticks.stored_twice
        + ticks.off_grid
        + transitions.recorded_twice
        + transitions.flips_missing
        + deliveries.missing
        + deliveries.doubled;
    ticks.insert_into(&mut fields);
    transitions.insert_into(&mut fields);
    deliveries.insert_into(&mut fields);
    fields.insert(
        "unplanned_exits".into(),
        json!(deployment.unplanned_exits.clone()),
    );
    fields.insert("timeline".into(), json!(log));
    report(out, "chaos", fields)?;
    if broken > 0 || !deployment.unplanned_exits.is_empty() {
        bail!("an invariant does not hold: see the report");
    }
    Ok(())
}

/// The schedule against what was stored and counted skipped.
#[derive(Default)]
struct TickCounts {
    scheduled: u64,
    with_one_result: u64,
    stored_twice: u64,
    skipped: u64,
    lost: u64,
    /// Ticks counted skipped that have a result all the same.
    skipped_and_stored: u64,
    off_grid: u64,
    /// Ticks without a result (skipped or lost), by 10 s of the window: which
    /// fault they fall under.
    unstored_by_10s: Vec<u64>,
    worst_gaps_s: Vec<f64>,
    worst_gap_monitor: Option<Uuid>,
}

impl TickCounts {
    fn insert_into(&self, fields: &mut Map<String, Value>) {
        let worst = percentile(&self.worst_gaps_s, 100.0);
        fields.insert("ticks_scheduled".into(), json!(self.scheduled));
        fields.insert("ticks_with_one_result".into(), json!(self.with_one_result));
        fields.insert("results_stored_twice".into(), json!(self.stored_twice));
        fields.insert("ticks_counted_skipped".into(), json!(self.skipped));
        fields.insert("ticks_lost".into(), json!(self.lost));
        fields.insert("ticks_unstored_by_10s".into(), json!(self.unstored_by_10s));
        fields.insert(
            "ticks_skipped_and_stored".into(),
            json!(self.skipped_and_stored),
        );
        fields.insert("results_off_the_schedule".into(), json!(self.off_grid));
        fields.insert("worst_gap_max_s".into(), json!(worst));
        fields.insert(
            "worst_gap_p99_s".into(),
            json!(percentile(&self.worst_gaps_s, 99.0)),
        );
        fields.insert(
            "worst_gap_p50_s".into(),
            json!(percentile(&self.worst_gaps_s, 50.0)),
        );
        fields.insert(
            "worst_gap_monitor".into(),
            json!(self.worst_gap_monitor.map(|id| id.to_string())),
        );
    }
}

/// `t` cut to its millisecond, as ticks are: the grid count and the
/// query for stored results then agree on a tick at the window's edge.
fn whole_ms(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(u32::from(t.millisecond()) * 1_000_000)
        .unwrap_or(t)
}

fn unix_ms(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

async fn tick_counts(
    db: &tokio_postgres::Client,
    ids: &[Uuid],
    from: OffsetDateTime,
    to: OffsetDateTime,
    skipped_before: &HashMap<Uuid, u64>,
    skipped_after: &HashMap<Uuid, u64>,
) -> anyhow::Result<TickCounts> {
    let rows = db
        .query(
            "SELECT monitor_id, scheduled_at FROM probe_results
             WHERE scheduled_at >= $1 AND scheduled_at < $2",
            &[&from, &to],
        )
        .await?;
    let mut stored: HashMap<Uuid, Vec<u64>> = HashMap::new();
    for row in rows {
        stored
            .entry(row.get(0))
            .or_default()
            .push(unix_ms(row.get(1)));
    }
    let second = IntervalSeconds::parse(1).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut counts = TickCounts::default();
    let mut worst = (0.0, None);
    for id in ids {
        let scheduled = scheduled_ticks(&[id.to_string()], second, from, to);
        let mut ticks = stored.remove(id).unwrap_or_default();
        ticks.sort_unstable();
        let all = ticks.len() as u64;
        ticks.dedup();
        let offset = offset_ms(*id, second);
        let (on_grid, off): (Vec<u64>, Vec<u64>) = ticks
            .iter()
            .partition(|&&t| t >= offset && (t - offset).is_multiple_of(second.as_millis()));
        let distinct = on_grid.len() as u64;
        let step = second.as_millis();
        let (start, end) = (unix_ms(from), unix_ms(to));
        let mut tick = start + (offset + step - start % step) % step;
        while tick < end {
            if on_grid.binary_search(&tick).is_err() {
                let bucket = usize::try_from((tick - start) / 10_000).unwrap_or(0);
                if counts.unstored_by_10s.len() <= bucket {
                    counts.unstored_by_10s.resize(bucket + 1, 0);
                }
                counts.unstored_by_10s[bucket] += 1;
            }
            tick += step;
        }
        let count_in = |counts: &HashMap<Uuid, u64>| counts.get(id).copied().unwrap_or(0);
        let skipped = count_in(skipped_after).saturating_sub(count_in(skipped_before));
        counts.scheduled += scheduled;
        counts.with_one_result += distinct;
        counts.stored_twice += all - ticks.len() as u64;
        counts.off_grid += off.len() as u64;
        counts.skipped += skipped;
        counts.lost += scheduled.saturating_sub(distinct + skipped);
        counts.skipped_and_stored += (distinct + skipped).saturating_sub(scheduled);
        // The longest stretch without a result, window edges included.
        let edges = std::iter::once(unix_ms(from))
            .chain(on_grid.iter().copied())
            .chain(std::iter::once(unix_ms(to)));
        let times: Vec<u64> = edges.collect();
        let gap_s = times
            .windows(2)
            .map(|w| w[1].saturating_sub(w[0]))
            .max()
            .unwrap_or(0) as f64
            / 1000.0;
        if gap_s > worst.0 {
            worst = (gap_s, Some(*id));
        }
        counts.worst_gaps_s.push(gap_s);
    }
    counts.worst_gaps_s.sort_by(f64::total_cmp);
    counts.worst_gap_monitor = worst.1;
    Ok(counts)
}

/// Status changes in the log since the window opened.
struct TransitionCounts {
    recorded: u64,
    /// The same change twice in a row, or two changes from one result.
    recorded_twice: u64,
    flips_expected: u64,
    flips_recorded: u64,
    flips_missing: u64,
    /// Changes of monitors whose target never flipped: probes that failed
    /// because of a fault rather than the target.
    unexpected: u64,
    /// The seqs of the changes the channels must deliver.
    notifying: HashSet<i64>,
}

impl TransitionCounts {
    fn insert_into(&self, fields: &mut Map<String, Value>) {
        fields.insert("transitions_recorded".into(), json!(self.recorded));
        fields.insert(
            "transitions_recorded_twice".into(),
            json!(self.recorded_twice),
        );
        fields.insert(
            "flip_transitions_expected".into(),
            json!(self.flips_expected),
        );
        fields.insert(
            "flip_transitions_recorded".into(),
            json!(self.flips_recorded),
        );
        fields.insert("flip_transitions_missing".into(), json!(self.flips_missing));
        fields.insert(
            "transitions_of_steady_monitors".into(),
            json!(self.unexpected),
        );
    }
}

async fn transition_counts(
    db: &tokio_postgres::Client,
    ids: &[Uuid],
    from: OffsetDateTime,
    flips: u64,
) -> anyhow::Result<TransitionCounts> {
    let rows = db
        .query(
            "SELECT seq, aggregate_id, data->>'from', data->>'to', data->>'job_id', recorded_at
             FROM events WHERE type = 'status_changed' ORDER BY seq",
            &[],
        )
        .await?;
    let flipped: HashSet<Uuid> = ids.iter().take(FLIPPED).copied().collect();
    let mut last_to: HashMap<Uuid, String> = HashMap::new();
    let mut decided_by: HashSet<(Uuid, String)> = HashSet::new();
    let mut counts = TransitionCounts {
        recorded: 0,
        recorded_twice: 0,
        flips_expected: flips * FLIPPED as u64,
        flips_recorded: 0,
        flips_missing: 0,
        unexpected: 0,
        notifying: HashSet::new(),
    };
    for row in rows {
        let seq: i64 = row.get(0);
        let monitor: Uuid = row.get(1);
        let from_status: Option<String> = row.get(2);
        let to_status: Option<String> = row.get(3);
        let job: Option<String> = row.get(4);
        let recorded_at: OffsetDateTime = row.get(5);
        let (Some(from_status), Some(to_status)) = (from_status, to_status) else {
            continue;
        };
        let twice = last_to.get(&monitor) == Some(&to_status)
            || job.is_some_and(|job| !decided_by.insert((monitor, job)));
        last_to.insert(monitor, to_status.clone());
        if recorded_at < from {
            continue;
        }
        counts.recorded += 1;
        counts.recorded_twice += u64::from(twice);
        if flipped.contains(&monitor) {
            counts.flips_recorded += 1;
            if to_status == "down" || from_status == "down" {
                counts.notifying.insert(seq);
            }
        } else {
            counts.unexpected += 1;
        }
    }
    counts.flips_missing = counts.flips_expected.saturating_sub(counts.flips_recorded);
    Ok(counts)
}

/// What the channels received against what they were owed.
struct DeliveryCounts {
    per_channel_expected: u64,
    delivered_once: u64,
    missing: u64,
    /// The same delivery (same `X-Upwatch-Delivery`) received again: a
    /// retry after a lost answer, which receivers drop by that id.
    resent: u64,
    /// One event delivered to one channel under two delivery ids.
    doubled: u64,
}

impl DeliveryCounts {
    fn insert_into(&self, fields: &mut Map<String, Value>) {
        fields.insert("channels".into(), json!(CHANNELS.len()));
        fields.insert(
            "deliveries_owed_per_channel".into(),
            json!(self.per_channel_expected),
        );
        fields.insert("delivered_once".into(), json!(self.delivered_once));
        fields.insert("deliveries_missing".into(), json!(self.missing));
        fields.insert("deliveries_resent_same_id".into(), json!(self.resent));
        fields.insert("deliveries_doubled".into(), json!(self.doubled));
    }
}

fn delivery_counts(arrivals: &Arrivals, notifying: &HashSet<i64>) -> DeliveryCounts {
    let received: Vec<Arrival> = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut counts = DeliveryCounts {
        per_channel_expected: notifying.len() as u64,
        delivered_once: 0,
        missing: 0,
        resent: 0,
        doubled: 0,
    };
    for channel in CHANNELS {
        let path = format!("/{channel}");
        let mut by_event: HashMap<i64, HashMap<&str, u64>> = HashMap::new();
        for arrival in received.iter().filter(|a| a.path == path) {
            if let Some(seq) = arrival.seq {
                *by_event
                    .entry(seq)
                    .or_default()
                    .entry(arrival.delivery.as_str())
                    .or_default() += 1;
            }
        }
        for seq in notifying {
            match by_event.get(seq) {
                None => counts.missing += 1,
                Some(deliveries) => {
                    counts.delivered_once += 1;
                    counts.doubled += deliveries.len() as u64 - 1;
                    counts.resent += deliveries.values().map(|n| n - 1).sum::<u64>();
                }
            }
        }
    }
    counts
}
