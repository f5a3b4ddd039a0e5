//! The audit side: `GET /monitors/{id}/state?at=` and `upwatch replay`,
//! both rebuilt from the event log alone.

use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, postgres_base_url, spawn_app, spawn_pipeline, wait_for,
};
use crate::pipeline::register;
use crate::target::Target;

const PATIENCE: Duration = Duration::from_secs(30);

async fn state_at(app: &TestApp, id: &str, at: &str) -> (u16, Value) {
    let at = at.replace('+', "%2B");
    app.get_json(&format!("/api/v1/monitors/{id}/state?at={at}"))
        .await
}

fn rfc3339(time: time::OffsetDateTime) -> String {
    time.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[actix_web::test]
async fn state_at_a_time_is_rebuilt_from_the_log() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let before_registration = rfc3339(time::OffsetDateTime::now_utc() - time::Duration::seconds(1));
    let id = register(
        &app,
        "audited",
        &target.url("/health"),
        json!({"failure_threshold": 1}),
    )
    .await;
    wait_for("the monitor to be up", PATIENCE, || async {
        let (_, body) = state_at(&app, &id, &rfc3339(time::OffsetDateTime::now_utc())).await;
        (body["status"] == "up").then_some(())
    })
    .await;
    let while_up = rfc3339(time::OffsetDateTime::now_utc());

    target.answer(503);
    wait_for("the monitor to be down", PATIENCE, || async {
        let (_, body) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
        (body["status"] == "down").then_some(())
    })
    .await;
    let pause = app
        .post_empty(&format!("/api/v1/monitors/{id}/pause"))
        .await;
    assert_eq!(pause.status(), 200);

    let (status, then) = state_at(&app, &id, &while_up).await;
    assert_eq!(status, 200, "{then}");
    assert_eq!(then["status"], "up");
    assert_eq!(then["paused"], false);
    assert_eq!(then["name"], "audited");
    assert_eq!(then["at"], while_up);

    let (status, now) = app.get_json(&format!("/api/v1/monitors/{id}/state")).await;
    assert_eq!(status, 200, "{now}");
    assert_eq!(now["status"], "down");
    assert_eq!(now["paused"], true);
    let (_, projection) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    for field in ["status", "status_since", "version", "url", "paused"] {
        assert_eq!(now[field], projection[field], "{field}");
    }
    assert!(then["version"].as_i64() < now["version"].as_i64());

    let (status, body) = state_at(&app, &id, &before_registration).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");
    let bad = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/monitors/{id}/state?at=yesterday"),
            None,
        )
        .await;
    let body = assert_error(bad, 422, "validation_failed").await;
    assert_eq!(body["error"]["field"], "at");
}

fn replay(app: &TestApp, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_upwatch"));
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("UPWATCH_")) {
        command.env_remove(name);
    }
    command
        .arg("replay")
        .args(args)
        .env(
            "UPWATCH_DATABASE_URL",
            format!("{}/{}", postgres_base_url(), app.db_name),
        )
        .output()
        .expect("the binary runs")
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[actix_web::test]
async fn replay_verify_passes_when_consistent_and_names_a_tampered_monitor() {
    let app = spawn_app().await;
    let kept = app.create_named("kept").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let changed = app.create_named("changed").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patched = app
        .patch_monitor(&changed, &json!({"interval_seconds": 30}), None)
        .await;
    assert_eq!(patched.status(), 200);
    let before_pause = rfc3339(time::OffsetDateTime::now_utc());
    let paused = app
        .post_empty(&format!("/api/v1/monitors/{changed}/pause"))
        .await;
    assert_eq!(paused.status(), 200);
    let gone = app.create_named("gone").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.delete_monitor(&gone).await;

    let output = replay(&app, &["--verify"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let states = lines(&output);
    assert_eq!(states.len(), 3);
    let by_id = |id: &str| states.iter().find(|s| s["id"] == id).unwrap().clone();
    assert_eq!(by_id(&changed)["interval_seconds"], 30);
    assert_eq!(by_id(&changed)["paused"], true);
    assert_eq!(by_id(&changed)["version"], 3);
    assert_eq!(by_id(&gone)["deleted"], true);

    // Only one monitor, as it was before the pause.
    let output = replay(&app, &["--monitor", &changed, "--until", &before_pause]);
    assert_eq!(output.status.code(), Some(0));
    let states = lines(&output);
    assert_eq!(states.len(), 1);
    assert_eq!(states[0]["paused"], false);
    assert_eq!(states[0]["version"], 2);

    // Alter a projection row behind the log's back.
    let db = app.db().await;
    db.execute(
        "UPDATE monitors SET status = 'down', paused = true WHERE id = $1",
        &[&uuid::Uuid::parse_str(&kept).unwrap()],
    )
    .await
    .unwrap();
    let output = replay(&app, &["--verify"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&kept), "{stderr}");
    assert!(
        stderr.contains("status: projection down, log unknown"),
        "{stderr}"
    );
    assert!(stderr.contains("paused"), "{stderr}");
    assert!(
        !stderr.contains(&changed),
        "only the altered monitor is named: {stderr}"
    );

    for bad in [
        &["--monitor", "nope"][..],
        &["--until", "soon"],
        &["--verify", "--until", &before_pause],
    ] {
        assert_eq!(replay(&app, bad).status.code(), Some(2), "{bad:?}");
    }
}
