//! `upwatch-bench kuma`: the everyday workload Uptime Kuma users run — N
//! HTTP monitors every I seconds against Debian's nginx on 127.0.0.1 — and
//! what a check costs there: CPU of upwatch + PostgreSQL + Redis from /proc,
//! idle and loaded, schedule lag, and how long a transition takes to record.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Map, json};
use time::OffsetDateTime;

use upwatch::domain::IntervalSeconds;

use crate::fleet::{Common, Fleet, free_port};
use crate::measure::{cpu_of, pause, percentile, probe_stats, report, scheduled_ticks};

const NGINX: &str = "/usr/sbin/nginx";
/// Monitors against the bench target that are flipped down once to time
/// how long their transition takes to be recorded.
const FLIPS: usize = 10;

/// nginx answering 200 on every path, in a directory of its own.
struct Nginx {
    master: Child,
    dir: PathBuf,
    url: String,
}

impl Drop for Nginx {
    /// A fast shutdown through the master (SIGTERM), which stops its workers
    /// too; a killed master would leave them running.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.master.id().to_string()])
            .status();
        let _ = self.master.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Installs Debian's nginx if it is missing (the scenario runs as root on
/// the bench machine, as `.ci/run` does).
fn ensure_nginx() -> anyhow::Result<()> {
    if Path::new(NGINX).exists() {
        return Ok(());
    }
    println!("nginx is missing: installing Debian's nginx-light");
    let apt_get = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("running apt-get")
    };
    let install = ["install", "-y", "-q", "nginx-light"];
    let mut status = apt_get(&install)?;
    if !status.success() {
        // A fresh machine has no package lists yet.
        apt_get(&["update", "-q"])?;
        status = apt_get(&install)?;
    }
    if !status.success() || !Path::new(NGINX).exists() {
        bail!("could not install nginx-light ({status}); install it and run again");
    }
    Ok(())
}

async fn start_nginx(http: &reqwest::Client) -> anyhow::Result<Nginx> {
    ensure_nginx()?;
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("upwatch-bench-nginx-{port}"));
    std::fs::create_dir_all(dir.join("logs"))?;
    // One worker, no logs: a target as cheap as it gets, like Kuma's runs.
    let config = format!(
        "worker_processes 1;\nerror_log stderr error;\npid {dir}/nginx.pid;\n\
         events {{ worker_connections 4096; }}\n\
         http {{ access_log off; keepalive_requests 100000;\n\
           client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;\n\
           fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;\n\
           server {{ listen 127.0.0.1:{port}; location / {{ return 200 \"ok\\n\"; }} }} }}\n",
        dir = dir.display()
    );
    let config_path = dir.join("nginx.conf");
    std::fs::write(&config_path, config)?;
    let master = Command::new(NGINX)
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&config_path)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nginx")?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while http.get(format!("{url}/")).send().await.is_err() {
        if Instant::now() > deadline {
            bail!("nginx did not answer on port {port} within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Nginx { master, dir, url })
}

/// The pids of processes whose command name is `name`.
fn pids_named(name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .collect()
}

/// CPU seconds of upwatch, PostgreSQL (every backend) and Redis so far.
/// PostgreSQL backends come and go, so they are listed at each reading; one
/// that exits between readings takes its time with it (a pooled upwatch
/// keeps its connections).
#[derive(Debug, Clone, Copy)]
struct Cpu {
    upwatch: f64,
    postgres: f64,
    redis: f64,
}

impl Cpu {
    fn now(fleet: &Fleet) -> Self {
        Self {
            upwatch: fleet.cpu_seconds(),
            postgres: cpu_of(&pids_named("postgres")),
            redis: cpu_of(&pids_named("redis-server")),
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            upwatch: self.upwatch - before.upwatch,
            postgres: self.postgres - before.postgres,
            redis: self.redis - before.redis,
        }
    }

    fn total(self) -> f64 {
        self.upwatch + self.postgres + self.redis
    }
}

fn percent_of_a_core(fields: &mut Map<String, serde_json::Value>, key: &str, cpu: Cpu, s: f64) {
    fields.insert(format!("{key}_cpu_percent"), json!(100.0 * cpu.total() / s));
    fields.insert(
        format!("{key}_upwatch_cpu_percent"),
        json!(100.0 * cpu.upwatch / s),
    );
    fields.insert(
        format!("{key}_postgres_cpu_percent"),
        json!(100.0 * cpu.postgres / s),
    );
    fields.insert(
        format!("{key}_redis_cpu_percent"),
        json!(100.0 * cpu.redis / s),
    );
}

/// Flips the `FLIPS` monitors down and waits for their transitions; the
/// milliseconds from each deciding probe's end to the event's record.
async fn transition_delays(fleet: &Fleet, interval: u32) -> anyhow::Result<Vec<f64>> {
    let since = OffsetDateTime::now_utc();
    for i in 0..FLIPS {
        fleet.flip(&format!("flip{i}"), 503).await?;
    }
    let deadline = Instant::now() + Duration::from_secs(u64::from(interval) * 2 + 10);
    loop {
        let rows = fleet
            .db
            .query(
                "SELECT extract(epoch FROM recorded_at - (data->>'checked_at')::timestamptz)::float8 * 1000
                 FROM events WHERE type = 'status_changed' AND data->>'to' = 'down'
                   AND recorded_at >= $1",
                &[&since],
            )
            .await?;
        if rows.len() >= FLIPS {
            let mut delays: Vec<f64> = rows.iter().map(|row| row.get(0)).collect();
            delays.sort_by(f64::total_cmp);
            return Ok(delays);
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {FLIPS} flipped monitors went down in time",
                rows.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn kuma(
    common: &Common,
    monitors: usize,
    interval: u32,
    window: u64,
    idle: u64,
) -> anyhow::Result<()> {
    let fleet = Fleet::start(common, &[]).await?;
    let nginx = start_nginx(&fleet.http).await?;
    let mut fields = Map::new();
    fields.insert("monitors".into(), json!(monitors));
    fields.insert("interval_seconds".into(), json!(interval));

    // Idle: upwatch up, nothing registered.
    pause(Duration::from_secs(3)).await;
    let before = Cpu::now(&fleet);
    pause(Duration::from_secs(idle)).await;
    percent_of_a_core(
        &mut fields,
        "idle",
        Cpu::now(&fleet).since(before),
        idle as f64,
    );

    let started = Instant::now();
    let mut ids = fleet
        .register(monitors, |i| {
            json!({
                "name": format!("kuma-{i}"),
                "url": format!("{}/p{}", nginx.url, i % 1000),
                "interval_seconds": interval,
                "timeout_ms": 5000,
            })
        })
        .await?;
    fields.insert(
        "registration_seconds".into(),
        json!(started.elapsed().as_secs_f64()),
    );
    let flips = fleet
        .register(FLIPS, |i| {
            json!({
                "name": format!("flip-{i}"), "url": format!("{}/t/flip{i}", fleet.target),
                "interval_seconds": interval, "timeout_ms": 1000, "failure_threshold": 1,
            })
        })
        .await?;
    ids.extend(flips);

    // One whole interval, so every monitor ticks, and some more for the first results.
    pause(Duration::from_secs(u64::from(interval) + 10)).await;
    let from = OffsetDateTime::now_utc();
    let before = Cpu::now(&fleet);
    pause(Duration::from_secs(window)).await;
    let to = OffsetDateTime::now_utc();
    let cpu = Cpu::now(&fleet).since(before);
    let seconds = (to - from).as_seconds_f64();
    let (rss, _) = fleet.rss_kib();
    // The window's last ticks are still being probed and folded.
    pause(Duration::from_secs(5)).await;
    let stats = probe_stats(&fleet.db, from, to).await?;
    let interval_parsed = IntervalSeconds::parse(i64::from(interval)).context("interval")?;
    let expected = scheduled_ticks(&ids, interval_parsed, from, to);
    let delays = transition_delays(&fleet, interval).await?;

    fields.insert("window_seconds".into(), json!(seconds));
    fields.insert("scheduled_checks".into(), json!(expected));
    fields.insert("done_checks".into(), json!(stats.count));
    fields.insert(
        "checks_per_second_scheduled".into(),
        json!(expected as f64 / seconds),
    );
    fields.insert(
        "checks_per_second_done".into(),
        json!(stats.count as f64 / seconds),
    );
    percent_of_a_core(&mut fields, "loaded", cpu, seconds);
    fields.insert(
        "cpu_ms_per_check".into(),
        json!(1000.0 * cpu.total() / (stats.count.max(1) as f64)),
    );
    fields.insert("lag_p50_ms".into(), json!(stats.lag_p50_ms));
    fields.insert("lag_p99_ms".into(), json!(stats.lag_p99_ms));
    fields.insert("lag_max_ms".into(), json!(stats.lag_max_ms));
    fields.insert("upwatch_rss_mib".into(), json!(rss as f64 / 1024.0));
    fields.insert(
        "transition_delay_p50_ms".into(),
        json!(percentile(&delays, 50.0)),
    );
    fields.insert(
        "transition_delay_max_ms".into(),
        json!(percentile(&delays, 100.0)),
    );
    drop(nginx);
    fleet.finish().await?;
    report(&common.out, "kuma", fields)
}
