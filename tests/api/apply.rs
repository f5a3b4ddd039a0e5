//! Monitors as code: plans (dry run, create, unchanged, update, prune), all
//! or nothing, the seeds' services format, the CLI in every file format, the
//! export that applies back unchanged, and the file applied at start.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};

async fn apply(app: &TestApp, query: &str, file: &Value) -> (u16, Value) {
    let response = app
        .request(Method::POST, &format!("/api/v1/apply{query}"), Some(file))
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The plan as `(action, kind, name)`.
fn plan(answer: &Value) -> Vec<(String, String, String)> {
    answer["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["action"].as_str().unwrap().to_owned(),
                line["kind"].as_str().unwrap().to_owned(),
                line["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn line(action: &str, kind: &str, name: &str) -> (String, String, String) {
    (action.into(), kind.into(), name.into())
}

async fn names(app: &TestApp) -> Vec<String> {
    let (_, page) = app.get_json("/api/v1/monitors?limit=1000").await;
    let mut names: Vec<String> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn event_count(app: &TestApp) -> usize {
    let (_, page) = app.get_json("/api/v1/events?limit=1000").await;
    page["items"].as_array().unwrap().len()
}

fn fleet() -> Value {
    json!({
        "monitors": [
            {"name": "checkout", "url": "https://shop.example/health", "interval_seconds": 30, "tags": ["prod"]},
            {"name": "orders", "url": "tcp://db.example:5432"},
        ],
        "channels": [
            {"name": "ops", "kind": "slack", "url": "https://hooks.example/ops", "match_tags": ["prod"]},
        ]
    })
}

#[actix_web::test]
async fn a_file_is_planned_created_then_left_alone() {
    let app = spawn_app().await;
    let (status, dry) = apply(&app, "?dry_run=true", &fleet()).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(
        plan(&dry),
        [
            line("+", "monitor", "checkout"),
            line("+", "monitor", "orders"),
            line("+", "channel", "ops")
        ]
    );
    assert!(names(&app).await.is_empty(), "a dry run changes nothing");
    assert_eq!(event_count(&app).await, 0);

    let (status, created) = apply(&app, "", &fleet()).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["summary"]["create"], 3);
    assert_eq!(names(&app).await, ["checkout", "orders"]);
    let (_, channels) = app.get_json("/api/v1/channels").await;
    assert_eq!(channels["items"][0]["name"], "ops");
    let recorded = event_count(&app).await;
    assert_eq!(recorded, 3);

    let (_, again) = apply(&app, "", &fleet()).await;
    assert_eq!(
        plan(&again),
        [
            line("=", "monitor", "checkout"),
            line("=", "monitor", "orders"),
            line("=", "channel", "ops")
        ]
    );
    assert_eq!(
        event_count(&app).await,
        recorded,
        "the second apply records nothing"
    );
}

#[actix_web::test]
async fn changes_are_updates_and_pruning_deletes_what_is_gone() {
    let app = spawn_app().await;
    apply(&app, "", &fleet()).await;
    let kept_by_hand = app.create_named("by-hand").await;

    let mut file = fleet();
    file["monitors"][0]["interval_seconds"] = json!(60);
    file["monitors"][1]["paused"] = json!(true);
    file["channels"][0]["on"] = json!(["down"]);
    let (_, changed) = apply(&app, "", &file).await;
    let lines = changed["plan"].as_array().unwrap();
    assert_eq!(lines[0]["action"], "~");
    assert_eq!(lines[0]["changed"], json!(["interval_seconds"]));
    assert_eq!(lines[1]["changed"], json!(["paused"]));
    assert_eq!(lines[2]["changed"], json!(["on"]));
    assert_eq!(changed["summary"]["update"], 3);
    let (_, page) = app.get_json("/api/v1/monitors?paused=true").await;
    assert_eq!(page["items"][0]["name"], "orders");

    // A field left out takes its default: the file is the whole monitor.
    file["monitors"][0]
        .as_object_mut()
        .unwrap()
        .remove("interval_seconds");
    let (_, defaulted) = apply(&app, "", &file).await;
    assert_eq!(defaulted["plan"][0]["action"], "=", "60 is the default");

    file["monitors"].as_array_mut().unwrap().remove(1);
    file["channels"] = json!([]);
    let (_, kept) = apply(&app, "", &file).await;
    assert_eq!(
        kept["summary"]["delete"], 0,
        "without prune nothing is deleted"
    );
    let (_, pruned) = apply(&app, "?prune=true", &file).await;
    let mut deleted: Vec<_> = plan(&pruned)
        .into_iter()
        .filter(|(action, _, _)| action == "-")
        .collect();
    deleted.sort();
    assert_eq!(
        deleted,
        [
            line("-", "channel", "ops"),
            line("-", "monitor", "by-hand"),
            line("-", "monitor", "orders")
        ]
    );
    assert_eq!(names(&app).await, ["checkout"]);
    let id = kept_by_hand["id"].as_str().unwrap();
    let (status, _) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(status, 404);
}

#[actix_web::test]
async fn a_bad_entry_applies_nothing_and_names_itself() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"monitors": [{"name": "fine", "url": "https://a.example/"}, {"name": "bad", "url": "ftp://x"}]}),
            "monitors[1].url",
        ),
        (
            json!({"monitors": [{"name": "fine", "url": "https://a.example/", "colour": "red"}]}),
            "monitors[0].colour",
        ),
        (
            json!({"monitors": [{"name": "twin", "url": "https://a.example/"}, {"name": "TWIN", "url": "https://b.example/"}]}),
            "monitors[1].name",
        ),
        (
            json!({"monitors": [{"name": "fine", "url": "https://a.example/"}], "channels": [{"name": "pd", "kind": "pagerduty"}]}),
            "channels[0].routing_key",
        ),
        (
            json!({"monitors": [{"name": "fine", "url": "https://a.example/", "paused": "yes"}]}),
            "monitors[0].paused",
        ),
        (json!({"monitor": []}), "monitor"),
    ];
    for (file, field) in cases {
        let response = app
            .request(Method::POST, "/api/v1/apply", Some(&file))
            .await;
        let error = assert_error(response, 422, "validation_failed").await;
        assert_eq!(error["error"]["field"], field, "{file}");
    }
    assert!(
        names(&app).await.is_empty(),
        "nothing of a refused file is applied"
    );
    assert_eq!(event_count(&app).await, 0);
}

#[actix_web::test]
async fn the_seeds_services_format_is_read() {
    let app = spawn_app().await;
    let services = json!({"services": [
        {"id": "svc-1", "name": "billing", "url": "https://billing.example/health",
         "expectedVersion": "2.4.1", "environment": "Production", "enabled": true},
        {"id": "svc-2", "name": "legacy", "url": "http://legacy.example/ping",
         "environment": "staging", "enabled": false, "owner": "team-x"},
    ]});
    let (status, answer) = apply(&app, "", &services).await;
    assert_eq!(status, 200, "{answer}");
    let (_, page) = app.get_json("/api/v1/monitors").await;
    let items = page["items"].as_array().unwrap();
    let billing = items.iter().find(|m| m["name"] == "billing").unwrap();
    assert_eq!(billing["expected_version"], "2.4.1");
    assert_eq!(billing["tags"], json!(["production"]));
    assert_eq!(billing["paused"], false);
    let legacy = items.iter().find(|m| m["name"] == "legacy").unwrap();
    assert_eq!(legacy["paused"], true);
    assert_eq!(legacy["tags"], json!(["staging"]));
    let (_, again) = apply(&app, "", &services).await;
    assert_eq!(again["summary"]["unchanged"], 2);
}

async fn upwatch(args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_upwatch"));
    command.args(args);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("UPWATCH_")) {
        command.env_remove(name);
    }
    command.output().await.expect("the binary runs")
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("upwatch-apply-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[actix_web::test]
async fn the_command_line_applies_every_format_and_exports_what_applies_back() {
    let app = spawn_app().await;
    let yaml = "monitors:\n  - name: checkout\n    url: https://shop.example/health\n    tags: [prod]\n    conditions: ['[STATUS] == 200']\nchannels:\n  - name: ops\n    kind: webhook\n    url: https://hooks.example/x\n    secret: a-secret-of-sixteen-or-more\n";
    let file = scratch("fleet.yaml", yaml);
    let path = file.to_str().unwrap();
    let dry = upwatch(&["apply", path, "--dry-run", "--server", &app.address]).await;
    assert!(dry.status.success(), "{dry:?}");
    let printed = String::from_utf8(dry.stdout).unwrap();
    assert!(
        printed.contains("+ monitor checkout\n+ channel ops\n"),
        "{printed}"
    );
    assert!(printed.contains("(dry run: nothing changed)"), "{printed}");
    assert!(names(&app).await.is_empty());
    let applied = upwatch(&["apply", path, "--server", &app.address]).await;
    assert!(applied.status.success(), "{applied:?}");
    assert_eq!(names(&app).await, ["checkout"]);

    for format in ["yaml", "json", "toml"] {
        let exported = upwatch(&["export", "--format", format, "--server", &app.address]).await;
        assert!(exported.status.success(), "{exported:?}");
        let text = String::from_utf8(exported.stdout).unwrap();
        assert!(
            !text.contains("a-secret-of-sixteen"),
            "an export never shows a secret"
        );
        let again = scratch(&format!("exported.{format}"), &text);
        let reapplied =
            upwatch(&["apply", again.to_str().unwrap(), "--server", &app.address]).await;
        assert!(reapplied.status.success(), "{reapplied:?}");
        let printed = String::from_utf8(reapplied.stdout).unwrap();
        assert!(
            printed.contains("0 to create, 0 to update, 0 to delete, 2 unchanged"),
            "{format}:\n{text}\n{printed}"
        );
    }
    let (_, channels) = app.get_json("/api/v1/channels").await;
    assert_eq!(
        channels["items"][0]["has_secret"], true,
        "the secret was kept"
    );

    let broken = scratch(
        "broken.json",
        r#"{"monitors": [{"name": "x", "url": "nope"}]}"#,
    );
    let refused = upwatch(&["apply", broken.to_str().unwrap(), "--server", &app.address]).await;
    assert_eq!(refused.status.code(), Some(1));
    let message = String::from_utf8(refused.stderr).unwrap();
    assert!(message.contains("monitors[0].url"), "{message}");
    let unreadable = upwatch(&["apply", "/nonexistent/x.txt", "--server", &app.address]).await;
    assert_eq!(unreadable.status.code(), Some(2));
}

#[actix_web::test]
async fn the_monitors_file_setting_applies_at_start() {
    let file = scratch(
        "monitors.toml",
        "[[monitors]]\nname = \"from-file\"\nurl = \"https://f.example/\"\ninterval_seconds = 120\n",
    );
    let app = spawn_app_with(&[("UPWATCH_MONITORS_FILE", file.to_str().unwrap().to_owned())]).await;
    let (_, page) = app.get_json("/api/v1/monitors").await;
    assert_eq!(page["items"][0]["name"], "from-file");
    assert_eq!(page["items"][0]["interval_seconds"], 120);
    let id = page["items"][0]["id"].as_str().unwrap();
    let (_, events) = app.get_json(&format!("/api/v1/monitors/{id}/events")).await;
    assert_eq!(events["items"][0]["actor"], "system");
}
