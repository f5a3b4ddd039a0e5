//! The whole probe pipeline in one process — monitor actors, jobs stream,
//! workers, folder — against targets the tests control.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_pipeline, status_changes, wait_for};
use crate::target::{Target, closed_port};

const PATIENCE: Duration = Duration::from_secs(30);

async fn monitor(app: &TestApp, id: &str) -> Value {
    let (status, body) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

pub(crate) async fn results(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app
        .get_json(&format!("/api/v1/monitors/{id}/results?limit=1000"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().unwrap().clone()
}

async fn transitions(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, body) = app
        .get_json(&format!("/api/v1/monitors/{id}/events?limit=1000"))
        .await;
    assert_eq!(status, 200, "{body}");
    status_changes(&body)
}

pub(crate) async fn wait_for_status(app: &TestApp, id: &str, wanted: &str) -> Value {
    wait_for(
        &format!("monitor {id} to be {wanted}"),
        PATIENCE,
        || async {
            let body = monitor(app, id).await;
            (body["status"] == wanted).then_some(body)
        },
    )
    .await
}

/// Waits until the monitor has at least `n` results; returns them, newest first.
pub(crate) async fn wait_for_results(app: &TestApp, id: &str, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} results for {id}"), PATIENCE, || async {
        let found = results(app, id).await;
        (found.len() >= n).then_some(found)
    })
    .await
}

pub(crate) async fn register(app: &TestApp, name: &str, url: &str, extra: Value) -> String {
    let mut body = json!({"name": name, "url": url, "interval_seconds": 1, "timeout_ms": 500});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    app.create_monitor(body).await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[actix_web::test]
async fn a_target_that_fails_and_recovers_yields_one_transition_each_way() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let thresholds = json!({"failure_threshold": 2, "recovery_threshold": 2});
    let id = register(&app, "flappy", &target.url("/health"), thresholds).await;

    let up = wait_for_status(&app, &id, "up").await;
    assert!(up["status_since"].is_string(), "{up}");
    assert!(up["last_checked_at"].is_string(), "{up}");
    assert!(up["last_latency_ms"].is_number(), "{up}");

    target.answer(503);
    let down = wait_for_status(&app, &id, "down").await;
    target.answer(200);
    let back_up = wait_for_status(&app, &id, "up").await;

    // Two more results after recovery change nothing.
    let so_far = results(&app, &id).await.len();
    wait_for_results(&app, &id, so_far + 2).await;
    let changes = transitions(&app, &id).await;
    let moves: Vec<(&str, &str)> = changes
        .iter()
        .map(|e| {
            (
                e["data"]["from"].as_str().unwrap(),
                e["data"]["to"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [("unknown", "up"), ("up", "down"), ("down", "up")],
        "{changes:#?}"
    );

    let went_down = &changes[1]["data"];
    assert_eq!(went_down["reason"], "2 consecutive failed checks");
    assert_eq!(went_down["http_status"], 503);
    assert_eq!(went_down["error"], "status 503");
    assert_eq!(
        changes[2]["data"]["reason"],
        "2 consecutive successful checks"
    );
    assert_eq!(down["status_since"], went_down["checked_at"]);
    assert_eq!(back_up["status_since"], changes[2]["data"]["checked_at"]);

    // The transition's result is in the results, as a failure.
    let stored = results(&app, &id).await;
    let deciding = stored
        .iter()
        .find(|r| r["job_id"] == went_down["job_id"])
        .expect("the deciding result is stored");
    assert_eq!(deciding["status"], "down");
    assert_eq!(deciding["http_status"], 503);

    // The version is the latest event's sequence number.
    let latest = monitor(&app, &id).await;
    let (_, events) = app
        .get_json(&format!("/api/v1/monitors/{id}/events?limit=1000"))
        .await;
    let last_seq = events["items"].as_array().unwrap().last().unwrap()["monitor_seq"].clone();
    assert_eq!(latest["version"], last_seq);
}

#[actix_web::test]
async fn workers_classify_what_the_targets_answer() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    // Name, URL, extra settings; expected status, HTTP status, error.
    let cases = [
        (
            "ok",
            target.url("/status/204"),
            json!({}),
            "up",
            json!(204),
            json!(null),
        ),
        (
            "expected",
            target.url("/status/503"),
            json!({"expected_status": [503]}),
            "up",
            json!(503),
            json!(null),
        ),
        (
            "failing",
            target.url("/status/500"),
            json!({}),
            "down",
            json!(500),
            json!("status 500"),
        ),
        (
            "slow",
            target.url("/slow/3000"),
            json!({"timeout_ms": 300}),
            "down",
            json!(null),
            json!("timeout"),
        ),
        (
            "refused",
            refused,
            json!({}),
            "down",
            json!(null),
            json!("connection refused"),
        ),
    ];
    let mut ids = Vec::new();
    for (name, url, extra, ..) in &cases {
        ids.push(register(&app, name, url, extra.clone()).await);
    }
    for ((name, _, _, status, http_status, error), id) in cases.iter().zip(&ids) {
        let result = wait_for_results(&app, id, 1).await.remove(0);
        assert_eq!(result["status"], *status, "{name}: {result}");
        assert_eq!(result["http_status"], *http_status, "{name}: {result}");
        assert_eq!(result["error"], *error, "{name}: {result}");
    }
}

/// The newest `scheduled_at` among a monitor's results.
async fn newest_tick(app: &TestApp, id: &str) -> Option<time::OffsetDateTime> {
    results(app, id).await.first().map(|r| {
        time::OffsetDateTime::parse(
            r["scheduled_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    })
}

/// Waits until a still-probed monitor has `n` more results: proof that the
/// pipeline kept ticking meanwhile.
async fn let_the_pipeline_run(app: &TestApp, control: &str, n: usize) {
    let before = results(app, control).await.len();
    wait_for_results(app, control, before + n).await;
}

/// Asserts that `stopped` is no longer probed: once `settle` more results of
/// `control` came (a tick under way when it stopped may still report), three
/// more come and `stopped` has none. Its result count then.
async fn assert_no_longer_probed(
    app: &TestApp,
    control: &str,
    stopped: &str,
    settle: usize,
    why: &str,
) -> usize {
    let_the_pipeline_run(app, control, settle).await;
    let settled = results(app, stopped).await.len();
    let_the_pipeline_run(app, control, 3).await;
    assert_eq!(results(app, stopped).await.len(), settled, "{why}");
    settled
}

#[actix_web::test]
async fn pause_stops_results_and_resume_restarts_them() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let control = register(&app, "control", &target.url("/health"), json!({})).await;
    let paused = register(&app, "paused", &target.url("/health"), json!({})).await;
    wait_for_results(&app, &paused, 1).await;

    let response = app
        .post_empty(&format!("/api/v1/monitors/{paused}/pause"))
        .await;
    assert_eq!(response.status(), 200);
    let paused_at = time::OffsetDateTime::now_utc();
    let settled =
        assert_no_longer_probed(&app, &control, &paused, 1, "a paused monitor was probed").await;
    assert!(newest_tick(&app, &paused).await.unwrap() < paused_at + time::Duration::seconds(2));

    let response = app
        .post_empty(&format!("/api/v1/monitors/{paused}/resume"))
        .await;
    assert_eq!(response.status(), 200);
    wait_for_results(&app, &paused, settled + 2).await;
}

#[actix_web::test]
async fn delete_stops_results() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let control = register(&app, "control", &target.url("/health"), json!({})).await;
    let doomed = register(&app, "doomed", &target.url("/health"), json!({})).await;
    wait_for_results(&app, &doomed, 1).await;

    app.delete_monitor(&doomed).await;
    assert_no_longer_probed(&app, &control, &doomed, 1, "a deleted monitor was probed").await;
}

#[actix_web::test]
async fn an_update_takes_effect_on_the_next_tick() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let id = register(&app, "moving", &target.url("/status/200"), json!({})).await;
    wait_for_results(&app, &id, 1).await;

    let response = app
        .patch_monitor(
            &id,
            &json!({"url": target.url("/status/500"), "failure_threshold": 1}),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    let down = wait_for_status(&app, &id, "down").await;
    assert_eq!(down["url"], target.url("/status/500"));
    let newest = results(&app, &id).await.remove(0);
    assert_eq!(newest["http_status"], 500, "{newest}");
}

/// A change the scheduler never read from the log (written to the
/// projection alone, as if its notification and reads were lost) still
/// takes effect: the reconcile by version stops a monitor paused so and
/// starts it again once resumed so.
#[actix_web::test]
async fn the_reconcile_catches_changes_the_scheduler_missed() {
    let app = spawn_pipeline(&[("UPWATCH_RECONCILE_SECONDS", "1".into())]).await;
    let target = Target::start();
    let control = register(&app, "control", &target.url("/health"), json!({})).await;
    let missed = register(&app, "missed", &target.url("/health"), json!({})).await;
    wait_for_results(&app, &missed, 1).await;
    let id: uuid::Uuid = missed.parse().unwrap();
    let db = app.db().await;
    let set_paused = "UPDATE monitors SET paused = $2, version = version + 1 WHERE id = $1";

    db.execute(set_paused, &[&id, &true]).await.unwrap();
    let paused_at = time::OffsetDateTime::now_utc();
    // The reconcile runs within a second or so: more time to settle.
    let why = "a monitor paused in the projection was still probed";
    let settled = assert_no_longer_probed(&app, &control, &missed, 3, why).await;
    assert!(newest_tick(&app, &missed).await.unwrap() < paused_at + time::Duration::seconds(4));

    db.execute(set_paused, &[&id, &false]).await.unwrap();
    wait_for_results(&app, &missed, settled + 2).await;
}
