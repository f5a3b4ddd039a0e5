//! One benchmark run's moving parts: the target process, the upwatch process
//! under test (release-built, its own database and key prefix), and the
//! measurements taken from outside it (/proc, PostgreSQL, Redis).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use uuid::Uuid;

/// Where upwatch and its stores are.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The upwatch binary to measure (default: next to this one).
    #[arg(long)]
    pub upwatch: Option<PathBuf>,
    /// PostgreSQL server URL, without a database name.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub redis: String,
    /// Where the JSON reports go.
    #[arg(long, default_value = "bench-results")]
    pub out: PathBuf,
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process, killed when dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Fleet {
    pub http: reqwest::Client,
    pub api: String,
    pub target: String,
    pub db: tokio_postgres::Client,
    pub db_name: String,
    pub prefix: String,
    common: Common,
    upwatch: Process,
    _target: Process,
}

impl Fleet {
    /// Starts a target process and upwatch (every role) on a fresh database
    /// and prefix; `env` adds settings.
    pub async fn start(common: &Common, env: &[(&str, String)]) -> anyhow::Result<Self> {
        let me = std::env::current_exe()?;
        let upwatch_bin = match &common.upwatch {
            Some(path) => path.clone(),
            None => me.with_file_name("upwatch"),
        };
        let target_port = free_port()?;
        let target_process = Process(
            Command::new(&me)
                .args(["target", "--port", &target_port.to_string()])
                .stdout(Stdio::null())
                .spawn()
                .context("starting the target process")?,
        );
        let db_name = format!("upwatch_bench_{}", Uuid::new_v4().simple());
        let prefix = format!("upwatch-bench-{}", Uuid::new_v4().simple());
        remember_run_data(RunData {
            common: common.clone(),
            db_name: db_name.clone(),
            prefix: prefix.clone(),
        });
        let api_port = free_port()?;
        let mut command = Command::new(&upwatch_bin);
        command
            .arg("serve")
            .env(
                "UPWATCH_DATABASE_URL",
                format!("{}/{db_name}", common.postgres),
            )
            .env("UPWATCH_REDIS_URL", &common.redis)
            .env("UPWATCH_KEY_PREFIX", &prefix)
            .env("UPWATCH_BIND", format!("127.0.0.1:{api_port}"))
            .env("UPWATCH_INSTANCE", "bench")
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            );
        // UPWATCH_BENCH_LOG=FILE keeps upwatch's log lines for a look afterwards.
        match std::env::var("UPWATCH_BENCH_LOG") {
            Ok(path) => command.stdout(std::fs::File::create(path)?),
            Err(_) => command.stdout(Stdio::null()),
        };
        for (name, value) in env {
            command.env(name, value);
        }
        let upwatch = Process(
            command
                .spawn()
                .with_context(|| format!("starting {}", upwatch_bin.display()))?,
        );
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let api = format!("http://127.0.0.1:{api_port}/api/v1");
        let target = format!("http://127.0.0.1:{target_port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = http
                .get(format!("http://127.0.0.1:{api_port}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            let target_up = http.get(format!("{target}/t/probe")).send().await.is_ok();
            if ready && target_up {
                break;
            }
            if Instant::now() > deadline {
                bail!("upwatch or the target did not start within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (db, connection) = tokio_postgres::connect(
            &format!("{}/{db_name}", common.postgres),
            tokio_postgres::NoTls,
        )
        .await?;
        tokio::spawn(connection);
        Ok(Self {
            http,
            api,
            target,
            db,
            db_name,
            prefix,
            common: common.clone(),
            upwatch,
            _target: target_process,
        })
    }

    /// Registers monitors in bulk requests; `body(i)` is the i-th monitor.
    pub async fn register(
        &self,
        count: usize,
        body: impl Fn(usize) -> Value,
    ) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(count);
        let indexes: Vec<usize> = (0..count).collect();
        for chunk in indexes.chunks(250) {
            let monitors: Vec<Value> = chunk.iter().map(|&i| body(i)).collect();
            let created = self
                .post_monitors("/monitors/bulk", monitors, "bulk registration")
                .await?;
            for item in created["items"].as_array().into_iter().flatten() {
                ids.push(item["id"].as_str().unwrap_or_default().to_owned());
            }
        }
        Ok(ids)
    }

    /// Pauses monitors through `POST /apply`: `bodies` as registered, with
    /// `paused: true`, 2 500 to a request (one transaction each). Far quicker
    /// than a request per monitor while the pipeline is overloaded.
    pub async fn pause_all(&self, bodies: Vec<Value>) -> anyhow::Result<()> {
        for chunk in bodies.chunks(2500) {
            let monitors: Vec<Value> = chunk
                .iter()
                .cloned()
                .map(|mut body| {
                    body["paused"] = json!(true);
                    body
                })
                .collect();
            self.post_monitors("/apply", monitors, "pausing").await?;
        }
        Ok(())
    }

    /// Posts `{"monitors": monitors}` to `path` under the API; its answer.
    async fn post_monitors(
        &self,
        path: &str,
        monitors: Vec<Value>,
        what: &str,
    ) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.api))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&json!({ "monitors": monitors }))?)
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        if !status.is_success() {
            bail!("{what} failed: {}", String::from_utf8_lossy(&body));
        }
        Ok(serde_json::from_slice(&body)?)
    }

    pub async fn flip(&self, name: &str, status: u16) -> anyhow::Result<()> {
        self.http
            .put(format!("{}/flip/{name}/{status}", self.target))
            .send()
            .await?;
        Ok(())
    }

    fn proc_status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.upwatch.0.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse().ok())
            .unwrap_or(0)
    }

    /// Resident memory now and at its peak, in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        (self.proc_status("VmRSS:"), self.proc_status("VmHWM:"))
    }

    /// CPU time upwatch has used so far, in seconds (user + system).
    pub fn cpu_seconds(&self) -> f64 {
        crate::measure::cpu_of(&[self.upwatch.0.id()])
    }

    /// `upwatch_ticks_skipped_total` as upwatch's /metrics says now.
    pub async fn ticks_skipped(&self) -> anyhow::Result<f64> {
        let base = self.api.trim_end_matches("/api/v1");
        let text = self
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|line| line.strip_prefix("upwatch_ticks_skipped_total "))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0.0))
    }

    /// Memory this run's Redis keys use (`MEMORY USAGE` of each), in bytes.
    pub async fn redis_memory(&self) -> anyhow::Result<u64> {
        let client = redis::Client::open(self.common.redis.as_str())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut connection)
            .await?;
        let mut total = 0;
        for key in keys {
            let used: Option<u64> = redis::cmd("MEMORY")
                .arg("USAGE")
                .arg(&key)
                .query_async(&mut connection)
                .await?;
            total += used.unwrap_or(0);
        }
        Ok(total)
    }

    /// Stops upwatch and removes its database and keys.
    pub async fn finish(self) -> anyhow::Result<()> {
        let Self {
            upwatch,
            db_name,
            prefix,
            common,
            db,
            ..
        } = self;
        drop(db);
        drop(upwatch);
        let run = RunData {
            common,
            db_name,
            prefix,
        };
        run.remove().await?;
        forget_run_data(&run.db_name);
        Ok(())
    }
}

/// A run's database and keys: removed when the run finishes, and by
/// `remove_leftovers` when it was interrupted or failed half-way.
struct RunData {
    common: Common,
    db_name: String,
    prefix: String,
}

/// The runs started and not finished yet.
static UNFINISHED_RUNS: Mutex<Vec<RunData>> = Mutex::new(Vec::new());

fn remember_run_data(run: RunData) {
    if let Ok(mut runs) = UNFINISHED_RUNS.lock() {
        runs.push(run);
    }
}

fn forget_run_data(db_name: &str) {
    if let Ok(mut runs) = UNFINISHED_RUNS.lock() {
        runs.retain(|run| run.db_name != db_name);
    }
}

/// Removes the databases and keys of runs that did not finish (upwatch and
/// the target must be stopped first: dropping a scenario's fleet does that).
pub async fn remove_leftovers() {
    let runs = match UNFINISHED_RUNS.lock() {
        Ok(mut runs) => std::mem::take(&mut *runs),
        Err(_) => return,
    };
    for run in runs {
        if let Err(error) = run.remove().await {
            eprintln!(
                "upwatch-bench: could not remove {} and the {}:* keys: {error:#}",
                run.db_name, run.prefix
            );
        }
    }
}

impl RunData {
    async fn remove(&self) -> anyhow::Result<()> {
        let (admin, connection) = tokio_postgres::connect(
            &format!("{}/postgres", self.common.postgres),
            tokio_postgres::NoTls,
        )
        .await?;
        tokio::spawn(connection);
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.db_name
            ))
            .await?;
        let client = redis::Client::open(self.common.redis.as_str())?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.prefix))
            .query_async(&mut connection)
            .await?;
        if !keys.is_empty() {
            redis::cmd("DEL")
                .arg(keys)
                .query_async::<()>(&mut connection)
                .await?;
        }
        Ok(())
    }
}
