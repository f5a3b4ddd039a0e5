//! The benchmark harness's smoke scenario: it starts its own target process
//! and upwatch, registers 500 monitors, and reports. Only that it works end
//! to end is checked here; speed is measured by running the harness itself.

use std::process::Command;

use crate::helpers::{postgres_base_url, redis_url};

#[test]
fn the_benchmark_harness_runs_end_to_end() {
    let out = std::env::temp_dir().join(format!("upwatch-bench-{}", uuid::Uuid::new_v4().simple()));
    let output = Command::new(env!("CARGO_BIN_EXE_upwatch-bench"))
        .args(["smoke", "--upwatch", env!("CARGO_BIN_EXE_upwatch")])
        .args(["--postgres", &postgres_base_url(), "--redis", &redis_url()])
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
    let reports: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(reports.len(), 1);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports[0].as_ref().unwrap().path()).unwrap())
            .unwrap();
    assert_eq!(report["scenario"], "smoke");
    assert_eq!(report["monitors"], 500);
    assert!(report["done_probes"].as_i64().unwrap() > 0, "{report}");
    let _ = std::fs::remove_dir_all(&out);
}
