//! The benchmark scenarios: scale, ceiling, latency, resources, smoke.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use upwatch::domain::check::{Check, HttpCheck};
use upwatch::domain::probe::ProbeSpec;
use upwatch::domain::{HttpMethod, IntervalSeconds, MonitorUrl, TimeoutMs};
use upwatch::probe::Prober;

use crate::fleet::{Common, Fleet};
use crate::measure::{self, pause, percentile, probe_stats, report, scheduled_ticks};

/// Targets are spread over this many paths.
const PATHS: usize = 1000;

/// What the ceiling's monitors check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// GET, status only (no body kept).
    Http,
    /// A TCP connect to the target's port.
    Tcp,
    /// GET of a JSON document, `[BODY] contains UP`: the body read as text.
    Body,
    /// The same document, `[STATUS] == 200` and `[BODY].status == UP`: parsed as JSON.
    Json,
}

/// The i-th monitor of `workload`, at `interval` with `timeout_ms`.
fn workload_monitor(
    fleet: &Fleet,
    workload: Workload,
    i: usize,
    interval: u32,
    timeout_ms: u32,
) -> Value {
    let mut body = monitor(fleet, i, interval, timeout_ms);
    match workload {
        Workload::Http => {}
        Workload::Tcp => body["url"] = json!(fleet.target.replace("http://", "tcp://")),
        Workload::Body => {
            body["url"] = json!(format!("{}/t/json{}", fleet.target, i % PATHS));
            body["conditions"] = json!(["[BODY] contains UP"]);
        }
        Workload::Json => {
            body["url"] = json!(format!("{}/t/json{}", fleet.target, i % PATHS));
            body["conditions"] = json!(["[STATUS] == 200", "[BODY].status == UP"]);
        }
    }
    body
}

fn monitor(fleet: &Fleet, i: usize, interval: u32, timeout_ms: u32) -> Value {
    json!({
        "name": format!("bench-{i}"),
        "url": format!("{}/t/p{}", fleet.target, i % PATHS),
        "interval_seconds": interval,
        "timeout_ms": timeout_ms,
    })
}

/// A steady-state window: what was scheduled, what was done, how late.
struct Steady {
    fields: Map<String, Value>,
    ratio: f64,
    lag_p99_ms: f64,
}

impl Steady {
    fn number(&self, key: &str) -> f64 {
        self.fields.get(key).and_then(Value::as_f64).unwrap_or(0.0)
    }

    /// The window in one line: done, skipped, lost, lag.
    fn summary(&self) -> String {
        format!(
            "{:.0} probes/s done, {:.2}% of scheduled, skipped {:.0}, lost {:.0}, lag p99 {:.0} ms",
            self.number("done_per_second"),
            self.ratio * 100.0,
            self.number("skipped_probes"),
            self.number("lost_probes"),
            self.lag_p99_ms,
        )
    }
}

async fn steady_state(
    fleet: &Fleet,
    ids: &[String],
    interval: u32,
    warm_up: Duration,
    window: Duration,
) -> anyhow::Result<Steady> {
    pause(warm_up).await;
    let from = OffsetDateTime::now_utc();
    let cpu_before = fleet.cpu_seconds();
    let skipped_before = fleet.ticks_skipped().await?;
    pause(window).await;
    let to = OffsetDateTime::now_utc();
    let cpu = fleet.cpu_seconds() - cpu_before;
    // Results of the window's last ticks are still being probed and folded.
    pause(Duration::from_secs(5)).await;
    // Counted when they are skipped, not by tick: a tick at the window's
    // edge may fall on either side, so `lost` is exact only to a few.
    let skipped = (fleet.ticks_skipped().await? - skipped_before).max(0.0) as i64;
    let stats = probe_stats(&fleet.db, from, to).await?;
    let interval = IntervalSeconds::parse(i64::from(interval)).context("interval")?;
    let expected = scheduled_ticks(ids, interval, from, to);
    let seconds = (to - from).as_seconds_f64();
    let ratio = if expected == 0 {
        0.0
    } else {
        stats.count as f64 / expected as f64
    };
    let (_, rss_peak) = fleet.rss_kib();
    let mut fields = Map::new();
    fields.insert("monitors".into(), json!(ids.len()));
    fields.insert("window_seconds".into(), json!(seconds));
    fields.insert("scheduled_probes".into(), json!(expected));
    fields.insert("done_probes".into(), json!(stats.count));
    fields.insert("done_ratio".into(), json!(ratio));
    fields.insert("skipped_probes".into(), json!(skipped));
    fields.insert(
        "lost_probes".into(),
        json!((expected as i64 - stats.count - skipped).max(0)),
    );
    fields.insert(
        "scheduled_per_second".into(),
        json!(expected as f64 / seconds),
    );
    fields.insert(
        "done_per_second".into(),
        json!(stats.count as f64 / seconds),
    );
    fields.insert("lag_p50_ms".into(), json!(stats.lag_p50_ms));
    fields.insert("lag_p99_ms".into(), json!(stats.lag_p99_ms));
    fields.insert("lag_max_ms".into(), json!(stats.lag_max_ms));
    fields.insert(
        "upwatch_cpu_percent_of_one_core".into(),
        json!(100.0 * cpu / seconds),
    );
    fields.insert(
        "upwatch_rss_peak_mib".into(),
        json!(rss_peak as f64 / 1024.0),
    );
    fields.insert(
        "pg_bytes_per_result".into(),
        json!(measure::bytes_per_result(&fleet.db).await?),
    );
    fields.insert(
        "redis_keys_memory_mib".into(),
        json!(fleet.redis_memory().await? as f64 / 1_048_576.0),
    );
    Ok(Steady {
        fields,
        ratio,
        lag_p99_ms: stats.lag_p99_ms,
    })
}

pub async fn scale(
    common: &Common,
    monitors: usize,
    interval: u32,
    window: u64,
) -> anyhow::Result<()> {
    let fleet = Fleet::start(common, &[]).await?;
    let started = Instant::now();
    let ids = fleet
        .register(monitors, |i| monitor(&fleet, i, interval, 2000))
        .await?;
    let registration = started.elapsed();
    // One whole interval, so every monitor has started ticking.
    let warm_up = Duration::from_secs(u64::from(interval) + 5);
    let mut steady =
        steady_state(&fleet, &ids, interval, warm_up, Duration::from_secs(window)).await?;
    steady
        .fields
        .insert("interval_seconds".into(), json!(interval));
    steady.fields.insert(
        "registration_seconds".into(),
        json!(registration.as_secs_f64()),
    );
    fleet.finish().await?;
    report(&common.out, "scale", steady.fields)
}

/// Registers `monitors` monitors at `interval` (ticking as soon as they are
/// in, as they would for a user), timed from the first request to the last
/// answer.
pub async fn register(common: &Common, monitors: usize, interval: u32) -> anyhow::Result<()> {
    let fleet = Fleet::start(common, &[]).await?;
    let started = Instant::now();
    let ids = fleet
        .register(monitors, |i| monitor(&fleet, i, interval, 2000))
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        ids.len() == monitors,
        "{} of {monitors} registered",
        ids.len()
    );
    let (rss_kib, peak_kib) = fleet.rss_kib();
    let mut fields = Map::new();
    for (name, value) in [
        ("monitors", json!(monitors)),
        ("interval_seconds", json!(interval)),
        ("registration_seconds", json!(seconds)),
        ("registered_per_second", json!(monitors as f64 / seconds)),
        ("upwatch_rss_mib", json!(rss_kib / 1024)),
        ("upwatch_peak_rss_mib", json!(peak_kib / 1024)),
    ] {
        fields.insert(name.into(), value);
    }
    println!("registered {monitors} monitors in {seconds:.1} s");
    fleet.finish().await?;
    report(&common.out, "register", fields)
}

/// The most probes/s a tight loop of the same prober reaches on its own,
/// `concurrency` probes at once on a runtime of `threads` threads.
fn raw_ceiling(
    target: &str,
    seconds: u64,
    concurrency: usize,
    threads: usize,
) -> anyhow::Result<f64> {
    let prober = Prober::new()?;
    let spec = ProbeSpec {
        check: Check::Http(HttpCheck {
            url: MonitorUrl::parse(&format!("{target}/t/p0")).context("url")?,
            method: HttpMethod::Get,
            expected_status: None,
            headers: Default::default(),
            body: None,
            conditions: Default::default(),
            expected_version: None,
            version_source: None,
        }),
        timeout: TimeoutMs::parse(1000).context("timeout")?,
    };
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (prober, spec, done) = (prober.clone(), spec.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < deadline {
                    if prober.probe(&spec).await.up {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    Ok(done.load(Ordering::Relaxed) as f64 / seconds as f64)
}

/// The raw ceiling on one thread and on one thread per CPU (as upwatch's
/// worker runs by default); the ceiling is the higher of the two.
async fn raw_ceilings(target: &str) -> anyhow::Result<(f64, f64)> {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let target = target.to_owned();
    tokio::task::spawn_blocking(move || {
        let one = raw_ceiling(&target, 10, 256, 1)?;
        let all = raw_ceiling(&target, 10, 256, cpus)?;
        Ok((one, all))
    })
    .await?
}

/// The raw ceilings against a target of their own (upwatch idle beside it).
async fn raw_ceilings_on_fresh_target(common: &Common) -> anyhow::Result<(f64, f64)> {
    let fleet = Fleet::start(common, &[]).await?;
    let ceilings = raw_ceilings(&fleet.target).await?;
    fleet.finish().await?;
    Ok(ceilings)
}

pub async fn ceiling(
    common: &Common,
    rates: &[usize],
    window: u64,
    warm_up: u64,
    workload: Workload,
) -> anyhow::Result<()> {
    let (one_thread, every_cpu) = raw_ceilings_on_fresh_target(common).await?;
    let raw_before = one_thread.max(every_cpu);
    println!(
        "raw ceiling: {raw_before:.0} probes/s (one thread {one_thread:.0}, one per CPU {every_cpu:.0})"
    );
    let mut fields = Map::new();
    fields.insert("raw_one_thread_per_second".into(), json!(one_thread));
    fields.insert("raw_thread_per_cpu_per_second".into(), json!(every_cpu));
    fields.insert("warm_up_seconds".into(), json!(warm_up));
    fields.insert(
        "workload".into(),
        json!(format!("{workload:?}").to_lowercase()),
    );
    let mut best = 0.0;
    let mut steps = Vec::new();
    for &rate in rates {
        let fleet = Fleet::start(common, &[]).await?;
        let ids = fleet
            .register(rate, |i| workload_monitor(&fleet, workload, i, 1, 1000))
            .await?;
        let steady = steady_state(
            &fleet,
            &ids,
            1,
            Duration::from_secs(warm_up),
            Duration::from_secs(window),
        )
        .await?;
        fleet.finish().await?;
        let sustained = steady.ratio >= 0.99 && steady.lag_p99_ms < 1000.0;
        let done = steady.number("done_per_second");
        println!(
            "  {rate} monitors at 1 s: {}{}",
            steady.summary(),
            if sustained { "" } else { "  (not sustained)" }
        );
        if sustained && done > best {
            best = done;
        }
        steps.push(Value::Object(steady.fields));
    }
    // Measured again: this machine's speed moves within minutes, and a ratio
    // to a ceiling measured in a slow moment would flatter the pipeline.
    let (one_after, every_cpu_after) = raw_ceilings_on_fresh_target(common).await?;
    let raw_after = one_after.max(every_cpu_after);
    let raw = raw_before.max(raw_after);
    println!("raw ceiling again after the steps: {raw_after:.0} probes/s; the higher counts");
    if (raw_after - raw_before).abs() > 0.1 * raw_before {
        println!(
            "  warning: the raw ceiling moved by more than 10 % during the run; the machine's speed changed, compare with care"
        );
    }
    fields.insert("raw_ceiling_before_per_second".into(), json!(raw_before));
    fields.insert("raw_ceiling_after_per_second".into(), json!(raw_after));
    fields.insert("raw_ceiling_per_second".into(), json!(raw));
    fields.insert("pipeline_sustained_per_second".into(), json!(best));
    fields.insert(
        "pipeline_to_raw_ratio".into(),
        json!(if raw > 0.0 { best / raw } else { 0.0 }),
    );
    fields.insert("steps".into(), Value::Array(steps));
    report(&common.out, "ceiling", fields)
}

/// Twice (or any multiple of) the sustainable rate, then the load drops:
/// what is probed, skipped and lost while overloaded, and whether the
/// pipeline is back to every tick on time once `keep` of the monitors remain.
pub async fn overload(
    common: &Common,
    monitors: usize,
    keep: f64,
    window: u64,
    warm_up: u64,
) -> anyhow::Result<()> {
    let fleet = Fleet::start(common, &[]).await?;
    let ids = fleet
        .register(monitors, |i| {
            workload_monitor(&fleet, Workload::Http, i, 1, 1000)
        })
        .await?;
    let overloaded = steady_state(
        &fleet,
        &ids,
        1,
        Duration::from_secs(warm_up),
        Duration::from_secs(window),
    )
    .await?;
    let kept = ((monitors as f64 * keep).round() as usize).min(monitors);
    let remaining = &ids[..kept];
    let dropped_at = Instant::now();
    let paused = (kept..monitors)
        .map(|i| workload_monitor(&fleet, Workload::Http, i, 1, 1000))
        .collect();
    fleet.pause_all(paused).await?;
    let pausing = dropped_at.elapsed();
    // Each window starts `warm_up` after the load dropped: how long the
    // pipeline may take to be back on time.
    let after = steady_state(
        &fleet,
        remaining,
        1,
        Duration::from_secs(warm_up).saturating_sub(pausing),
        Duration::from_secs(window),
    )
    .await?;
    fleet.finish().await?;
    println!("  {monitors} monitors at 1 s: {}", overloaded.summary());
    println!(
        "  {kept} left, from {}s after the drop: {}",
        warm_up.max(pausing.as_secs()),
        after.summary()
    );
    let mut fields = Map::new();
    fields.insert("monitors".into(), json!(monitors));
    fields.insert("kept_after_drop".into(), json!(kept));
    fields.insert("pausing_seconds".into(), json!(pausing.as_secs_f64()));
    fields.insert("overloaded".into(), Value::Object(overloaded.fields));
    fields.insert("after_drop".into(), Value::Object(after.fields));
    report(&common.out, "overload", fields)
}

/// `load` monitors at 1 s as background load, and `flips` monitors tagged
/// `flip` (target paths `flip{i}`) that go down at the first failure.
pub async fn register_load_and_flips(
    fleet: &Fleet,
    load: usize,
    flips: usize,
) -> anyhow::Result<()> {
    fleet.register(load, |i| monitor(fleet, i, 1, 1000)).await?;
    fleet
        .register(flips, |i| {
            json!({
                "name": format!("flip-{i}"), "url": format!("{}/t/flip{i}", fleet.target),
                "interval_seconds": 1, "timeout_ms": 1000, "failure_threshold": 1,
                "recovery_threshold": 1, "tags": ["flip"],
            })
        })
        .await?;
    Ok(())
}

pub async fn latency(common: &Common, load: usize, flips: usize) -> anyhow::Result<()> {
    let fleet = Fleet::start(common, &[]).await?;
    register_load_and_flips(&fleet, load, flips).await?;
    let ws_url = format!("{}/ws?tag=flip", fleet.api.replace("http://", "ws://"));
    let (_, mut socket) = awc::Client::new()
        .ws(ws_url)
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the live feed: {e}"))?;
    pause(Duration::from_secs(5)).await;
    // Drain what the warm-up produced (every monitor's first `up`).
    let mut received: HashMap<i64, OffsetDateTime> = HashMap::new();
    let collect = async |socket: &mut _,
                         wanted: usize,
                         received: &mut HashMap<i64, OffsetDateTime>|
           -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let start = received.len();
        while received.len() < start + wanted {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = tokio::time::timeout(left, StreamExt::next(socket)).await;
            let Ok(Some(Ok(awc::ws::Frame::Text(text)))) = frame else {
                if frame.is_err() {
                    bail!("transitions did not arrive within 60 s");
                }
                continue;
            };
            let message: Value = serde_json::from_slice(&text)?;
            if message["type"] == "transition" {
                received.insert(
                    message["seq"].as_i64().unwrap_or(0),
                    OffsetDateTime::now_utc(),
                );
            }
        }
        Ok(())
    };
    collect(&mut socket, flips, &mut received).await?;
    received.clear();
    for round in [503, 200] {
        for i in 0..flips {
            fleet.flip(&format!("flip{i}"), round).await?;
        }
        collect(&mut socket, flips, &mut received).await?;
    }
    let arrivals: Vec<(i64, OffsetDateTime)> = received.into_iter().collect();
    let latencies = measure::ms_since_recorded(&fleet.db, &arrivals).await?;
    let mut fields = Map::new();
    fields.insert("load_monitors_at_1s".into(), json!(load));
    fields.insert("transitions_measured".into(), json!(latencies.len()));
    fields.insert(
        "delivery_p50_ms".into(),
        json!(percentile(&latencies, 50.0)),
    );
    fields.insert(
        "delivery_p99_ms".into(),
        json!(percentile(&latencies, 99.0)),
    );
    fields.insert(
        "delivery_max_ms".into(),
        json!(percentile(&latencies, 100.0)),
    );
    fleet.finish().await?;
    report(&common.out, "latency", fields)
}

pub async fn resources(common: &Common, monitors: usize) -> anyhow::Result<()> {
    let fleet = Fleet::start(common, &[]).await?;
    pause(Duration::from_secs(3)).await;
    let (idle, _) = fleet.rss_kib();
    // A day's interval: the actors exist and wait; nothing is probed.
    fleet
        .register(monitors, |i| monitor(&fleet, i, 86_400, 2000))
        .await?;
    pause(Duration::from_secs(10)).await;
    let (loaded, peak) = fleet.rss_kib();
    fleet.finish().await?;
    let mut fields = Map::new();
    fields.insert("monitors".into(), json!(monitors));
    fields.insert(
        "rss_without_monitors_mib".into(),
        json!(idle as f64 / 1024.0),
    );
    fields.insert(
        "rss_with_monitors_mib".into(),
        json!(loaded as f64 / 1024.0),
    );
    fields.insert("rss_peak_mib".into(), json!(peak as f64 / 1024.0));
    fields.insert(
        "bytes_per_idle_monitor".into(),
        json!((loaded.saturating_sub(idle) * 1024) as f64 / monitors.max(1) as f64),
    );
    report(&common.out, "resources", fields)
}

/// A few hundred monitors for a few seconds: proves the harness works end to
/// end (CI runs it), says nothing about speed.
pub async fn smoke(common: &Common) -> anyhow::Result<()> {
    let fleet = Fleet::start(common, &[]).await?;
    let ids = fleet.register(500, |i| monitor(&fleet, i, 1, 1000)).await?;
    let steady = steady_state(
        &fleet,
        &ids,
        1,
        Duration::from_secs(3),
        Duration::from_secs(5),
    )
    .await?;
    fleet.finish().await?;
    let done = steady
        .fields
        .get("done_probes")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    report(&common.out, "smoke", steady.fields)?;
    if done == 0 {
        bail!("no probe result was stored");
    }
    Ok(())
}
