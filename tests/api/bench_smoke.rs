//! The benchmark harness's smoke scenario: it starts its own target process
//! and upwatch, registers 500 monitors, and reports. Only that it works end
//! to end is checked here; speed is measured by running the harness itself.

use std::process::Command;

use crate::helpers::{postgres_base_url, redis_url};

/// Runs the harness with `args` (and `--out` a fresh directory), asserts it
/// succeeded, and returns the report it wrote.
fn run_harness(args: &[&str]) -> serde_json::Value {
    let out = std::env::temp_dir().join(format!("upwatch-bench-{}", uuid::Uuid::new_v4().simple()));
    let output = Command::new(env!("CARGO_BIN_EXE_upwatch-bench"))
        .args(args)
        .args(["--upwatch", env!("CARGO_BIN_EXE_upwatch")])
        .arg("--out")
        .arg(&out)
        .output()
        .expect("the harness runs");
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let reports: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = serde_json::from_slice(&std::fs::read(&reports[0]).unwrap()).unwrap();
    let _ = std::fs::remove_dir_all(&out);
    report
}

#[test]
fn the_benchmark_harness_runs_end_to_end() {
    let report = run_harness(&[
        "smoke",
        "--postgres",
        &postgres_base_url(),
        "--redis",
        &redis_url(),
    ]);
    assert_eq!(report["scenario"], "smoke");
    assert_eq!(report["monitors"], 500);
    assert!(report["done_probes"].as_i64().unwrap() > 0, "{report}");
}

/// A short chaos run without process kills: its own Redis killed and
/// restarted, its own PostgreSQL stopped, a worker cut off — and every tick,
/// transition and delivery still accounted for. The harness exits 1 when an
/// invariant breaks; the report says which.
#[test]
fn a_short_chaos_run_loses_nothing() {
    let report = run_harness(&[
        "chaos",
        "--monitors",
        "100",
        "--seconds",
        "40",
        "--kill-every",
        "0",
    ]);
    assert!(
        report["ticks_scheduled"].as_u64().unwrap() >= 100 * 39,
        "{report}"
    );
    for invariant in [
        "ticks_lost",
        "results_stored_twice",
        "transitions_recorded_twice",
        "flip_transitions_missing",
        "deliveries_missing",
        "deliveries_doubled",
    ] {
        assert_eq!(report[invariant], 0, "{invariant}: {report}");
    }
    assert_eq!(report["flip_transitions_recorded"], 20, "{report}");
}
