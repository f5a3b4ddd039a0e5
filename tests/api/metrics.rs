//! `/metrics`: the Prometheus text format, every metric the contract names,
//! and counters that move as probes run. The recorder is per process, and
//! the tests of this binary share one, so counts are compared before and after.

use prometheus_parse::{Scrape, Value as Sample};
use serde_json::json;

use crate::helpers::{spawn_pipeline, spawn_roles};
use crate::target::Target;

const CONTRACT: [&str; 10] = [
    "upwatch_probes_total",
    "upwatch_probe_duration_seconds",
    "upwatch_schedule_lag_seconds",
    "upwatch_transitions_total",
    "upwatch_monitors",
    "upwatch_ticks_skipped_total",
    "upwatch_stream_pending",
    "upwatch_notifications_total",
    "upwatch_partitions_owned",
    "upwatch_http_requests_total",
];

async fn scrape(base: &str) -> Scrape {
    let response = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("the Prometheus text format")
}

/// The value of `metric` whose labels include every one of `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            Sample::Counter(v) | Sample::Gauge(v) | Sample::Untyped(v) => Some(v),
            _ => None,
        })
}

fn histogram_count(scrape: &Scrape, metric: &str) -> u64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .find_map(|s| match &s.value {
            Sample::Histogram(buckets) => buckets.last().map(|b| b.count as u64),
            _ => None,
        })
        .unwrap_or(0)
}

fn names(scrape: &Scrape) -> Vec<String> {
    let mut names: Vec<String> = scrape.samples.iter().map(|s| s.metric.clone()).collect();
    names.extend(scrape.docs.keys().cloned());
    names
}

#[actix_web::test]
async fn metrics_name_the_contract_and_move_with_probes() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let before = scrape(&app.address).await;
    let up_before = value(&before, "upwatch_probes_total", &[("result", "up")]).unwrap_or(0.0);
    let down_before = value(&before, "upwatch_transitions_total", &[("to", "down")]).unwrap_or(0.0);
    let lag_before = histogram_count(&before, "upwatch_schedule_lag_seconds");

    let monitor = app
        .create_monitor(json!({
            "name": "metered", "url": target.url("/health"), "interval_seconds": 1,
            "timeout_ms": 500, "failure_threshold": 1
        }))
        .await;
    let id = monitor["id"].as_str().unwrap().to_owned();
    crate::pipeline::wait_for_status(&app, &id, "up").await;
    let results = crate::pipeline::results(&app, &id).await.len() as f64;
    let after = scrape(&app.address).await;
    let up_after = value(&after, "upwatch_probes_total", &[("result", "up")]).unwrap();
    assert!(
        up_after >= up_before + results,
        "{up_before} + {results} > {up_after}"
    );
    assert!(histogram_count(&after, "upwatch_schedule_lag_seconds") > lag_before);
    assert!(histogram_count(&after, "upwatch_probe_duration_seconds") > 0);
    assert!(value(&after, "upwatch_monitors", &[("status", "up")]).unwrap() >= 1.0);
    assert!(value(&after, "upwatch_partitions_owned", &[("role", "folder")]).unwrap() >= 1.0);
    assert!(value(&after, "upwatch_stream_pending", &[("stream", "jobs")]).is_some());
    let created = value(
        &after,
        "upwatch_http_requests_total",
        &[
            ("method", "POST"),
            ("route", "/api/v1/monitors"),
            ("status", "201"),
        ],
    );
    assert!(created.unwrap() >= 1.0);
    let by_id = value(
        &after,
        "upwatch_http_requests_total",
        &[("route", "/api/v1/monitors/:id"), ("status", "200")],
    );
    assert!(
        by_id.unwrap() >= 1.0,
        "routes are labelled by pattern, not by id"
    );

    target.answer(503);
    crate::pipeline::wait_for_status(&app, &id, "down").await;
    let channel = app
        .request(
            reqwest::Method::POST,
            "/api/v1/channels",
            Some(&json!({"name": "hook", "kind": "webhook", "url": target.url("/status/204")})),
        )
        .await;
    assert_eq!(channel.status(), 201);
    let channel: serde_json::Value = channel.json().await.unwrap();
    let test = format!("/api/v1/channels/{}/test", channel["id"].as_str().unwrap());
    assert!(app.post_empty(&test).await.status().is_success());
    let down = scrape(&app.address).await;
    let sent = value(
        &down,
        "upwatch_notifications_total",
        &[
            ("kind", "test"),
            ("channel", "webhook"),
            ("outcome", "delivered"),
        ],
    );
    assert!(sent.unwrap() >= 1.0);
    let down_after = value(&down, "upwatch_transitions_total", &[("to", "down")]).unwrap();
    assert!(down_after > down_before);
    let present = names(&down);
    for metric in CONTRACT {
        assert!(
            present.iter().any(|n| n == metric),
            "{metric} missing from /metrics"
        );
    }
}

#[actix_web::test]
async fn a_process_without_the_api_serves_metrics_on_its_own_address() {
    let app = spawn_roles("worker", &[("UPWATCH_METRICS_BIND", "127.0.0.1:0".into())]).await;
    let scrape = scrape(&app.address).await;
    assert!(names(&scrape).iter().any(|n| n == "upwatch_probes_total"));
    let health = reqwest::get(format!("{}/healthz", app.address))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // A worker alone never creates the database; another process does.
    upwatch::store::database::prepare_database(
        &app.settings.database,
        std::time::Duration::from_secs(10),
    )
    .await
    .unwrap();
    let ready = reqwest::get(format!("{}/readyz", app.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let api = reqwest::get(format!("{}/api/v1/monitors", app.address))
        .await
        .unwrap();
    assert_eq!(api.status(), 404, "only the operations routes are served");
}
