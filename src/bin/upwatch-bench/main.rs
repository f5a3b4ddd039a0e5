//! `upwatch-bench`: measures upwatch from the outside. See BENCHMARKS.md.

mod chaos;
mod fleet;
mod kuma;
mod measure;
mod notify;
mod proxy;
mod scenarios;
mod target;
mod throwaway;
mod webhooks;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fleet::Common;

// The same allocator as upwatch, so the raw ceiling is measured like for like.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(about = "Benchmarks upwatch: scale, throughput ceiling, transition latency, memory")]
struct Cli {
    #[command(subcommand)]
    command: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Serve the HTTP targets (started by the other scenarios).
    Target {
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 1)]
        workers: usize,
    },
    /// N monitors at interval I: done vs scheduled, schedule lag, CPU, memory, storage.
    Scale {
        #[arg(long, default_value_t = 100_000)]
        monitors: usize,
        #[arg(long, default_value_t = 60)]
        interval: u32,
        /// Seconds measured after one interval of warm-up.
        #[arg(long, default_value_t = 120)]
        window: u64,
        #[command(flatten)]
        common: Common,
    },
    /// How long registering N monitors at interval I takes, 250 to a bulk request.
    Register {
        #[arg(long, default_value_t = 100_000)]
        monitors: usize,
        #[arg(long, default_value_t = 60)]
        interval: u32,
        #[command(flatten)]
        common: Common,
    },
    /// The raw probe ceiling, then the most probes/s the pipeline sustains.
    Ceiling {
        /// Monitors at 1 s to try, in order.
        #[arg(long, value_delimiter = ',', default_values_t = vec![1000, 2000, 4000, 6000, 8000])]
        rates: Vec<usize>,
        #[arg(long, default_value_t = 15)]
        window: u64,
        /// Seconds between the end of registration and the window: the
        /// backlog registration leaves (it competes for the same cores) must
        /// drain first, or a rate the pipeline keeps up with still shows its lag.
        #[arg(long, default_value_t = 20)]
        warm_up: u64,
        /// What the monitors check.
        #[arg(long, value_enum, default_value_t = scenarios::Workload::Http)]
        workload: scenarios::Workload,
        #[command(flatten)]
        common: Common,
    },
    /// Overload, then the load drops: N monitors at 1 s (twice the ceiling,
    /// say), then all but a share paused.
    Overload {
        #[arg(long, default_value_t = 50_000)]
        monitors: usize,
        /// The share of monitors left once the load drops.
        #[arg(long, default_value_t = 0.25)]
        keep: f64,
        #[arg(long, default_value_t = 15)]
        window: u64,
        /// Seconds from registration (and from the drop) to each window.
        #[arg(long, default_value_t = 20)]
        warm_up: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Uptime Kuma's everyday workload: N HTTP monitors at I s against
    /// nginx; CPU per check of upwatch + PostgreSQL + Redis, idle and loaded.
    Kuma {
        #[arg(long, default_value_t = 2000)]
        monitors: usize,
        #[arg(long, default_value_t = 20)]
        interval: u32,
        /// Seconds measured after one interval of warm-up.
        #[arg(long, default_value_t = 60)]
        window: u64,
        /// Seconds measured idle, before the monitors are registered.
        #[arg(long, default_value_t = 20)]
        idle: u64,
        #[command(flatten)]
        common: Common,
    },
    /// Faults while N monitors at 1 s run on ten processes with their own
    /// Redis and PostgreSQL: SIGKILLs, a Redis restart, a PostgreSQL stop,
    /// a worker cut off; then every invariant counted against the schedule.
    Chaos {
        #[arg(long, default_value_t = 500)]
        monitors: usize,
        /// Seconds of faults; the Redis, PostgreSQL and network faults sit
        /// at fixed fractions of it.
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Seconds between SIGKILLs of a random process (0: none).
        #[arg(long, default_value_t = 20)]
        kill_every: u64,
        /// Seconds a killed process stays down.
        #[arg(long, default_value_t = 2)]
        restart_after: u64,
        /// Picks the victims; the same seed kills the same processes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The upwatch binary (default: next to this one).
        #[arg(long)]
        upwatch: Option<std::path::PathBuf>,
        #[arg(long, default_value = "bench-results")]
        out: std::path::PathBuf,
    },
    /// Commit → WebSocket delivery of transitions under load.
    Latency {
        /// Monitors at 1 s as background load.
        #[arg(long, default_value_t = 2000)]
        load: usize,
        /// Monitors flipped down and back up.
        #[arg(long, default_value_t = 50)]
        flips: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Transition recorded → webhook received under load; deliveries/s.
    Notify {
        /// Monitors at 1 s as background load.
        #[arg(long, default_value_t = 5000)]
        load: usize,
        /// Monitors flipped down and back up (one webhook each way).
        #[arg(long, default_value_t = 50)]
        flips: usize,
        /// Deliveries owed at once to measure one notifier's rate.
        #[arg(long, default_value_t = 5000)]
        burst: usize,
        #[command(flatten)]
        common: Common,
    },
    /// Memory per idle monitor.
    Resources {
        #[arg(long, default_value_t = 100_000)]
        monitors: usize,
        #[command(flatten)]
        common: Common,
    },
    /// The dashboard with N monitors in Debian's Chromium: first rows, DOM
    /// size, bytes, transition → page (scripts/bench-dashboard.py).
    Dashboard {
        #[arg(long, default_value_t = 10_000)]
        monitors: usize,
        /// A Python with Playwright installed (`.ci/run` makes one).
        #[arg(long, default_value = "python3")]
        python: String,
        /// The upwatch binary to measure.
        #[arg(long, default_value = "target/release/upwatch")]
        binary: String,
    },
    /// 500 monitors for a few seconds: the harness works end to end.
    Smoke {
        #[command(flatten)]
        common: Common,
    },
}

/// Runs the browser measurement, which prints one JSON line.
async fn dashboard(python: &str, binary: &str, monitors: usize) -> anyhow::Result<()> {
    let status = tokio::process::Command::new(python)
        .arg("scripts/bench-dashboard.py")
        .args(["--monitors", &monitors.to_string(), "--binary", binary])
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| anyhow::anyhow!("cannot run {python}: {e}"))?;
    anyhow::ensure!(
        status.success(),
        "the dashboard measurement failed: {status}"
    );
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn interrupted() {
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = actix_web::rt::System::new().block_on(async move {
        let scenario = async move {
            match cli.command {
                Scenario::Target { port, workers } => {
                    target::serve(port, workers).await.map_err(Into::into)
                }
                Scenario::Scale {
                    monitors,
                    interval,
                    window,
                    common,
                } => scenarios::scale(&common, monitors, interval, window).await,
                Scenario::Register {
                    monitors,
                    interval,
                    common,
                } => scenarios::register(&common, monitors, interval).await,
                Scenario::Ceiling {
                    rates,
                    window,
                    warm_up,
                    workload,
                    common,
                } => scenarios::ceiling(&common, &rates, window, warm_up, workload).await,
                Scenario::Overload {
                    monitors,
                    keep,
                    window,
                    warm_up,
                    common,
                } => scenarios::overload(&common, monitors, keep, window, warm_up).await,
                Scenario::Kuma {
                    monitors,
                    interval,
                    window,
                    idle,
                    common,
                } => kuma::kuma(&common, monitors, interval, window, idle).await,
                Scenario::Chaos {
                    monitors,
                    seconds,
                    kill_every,
                    restart_after,
                    seed,
                    upwatch,
                    out,
                } => {
                    let upwatch = match upwatch {
                        Some(path) => path,
                        None => std::env::current_exe()?.with_file_name("upwatch"),
                    };
                    let plan = chaos::Plan {
                        monitors,
                        duration_s: seconds,
                        kill_every_s: kill_every,
                        restart_after_s: restart_after,
                        seed,
                    };
                    chaos::chaos(upwatch, &out, plan).await
                }
                Scenario::Latency {
                    load,
                    flips,
                    common,
                } => scenarios::latency(&common, load, flips).await,
                Scenario::Notify {
                    load,
                    flips,
                    burst,
                    common,
                } => notify::notify(&common, load, flips, burst).await,
                Scenario::Resources { monitors, common } => {
                    scenarios::resources(&common, monitors).await
                }
                Scenario::Smoke { common } => scenarios::smoke(&common).await,
                Scenario::Dashboard {
                    monitors,
                    python,
                    binary,
                } => dashboard(&python, &binary, monitors).await,
            }
        };
        // Dropping the scenario drops its fleet, which kills upwatch and the target.
        let outcome = tokio::select! {
            outcome = scenario => outcome,
            () = interrupted() => Err(anyhow::anyhow!("interrupted")),
        };
        fleet::remove_leftovers().await;
        outcome
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("upwatch-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}
