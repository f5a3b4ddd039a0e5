use serde_json::json;
use upwatch::domain::Monitor;
use upwatch::store::event_log;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn the_database_rejects_update_delete_and_truncate_on_events() {
    let app = spawn_app().await;
    app.create_named("api").await;
    let db = app.db().await;
    for statement in [
        "UPDATE events SET type = 'forged'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let error = db.batch_execute(statement).await.unwrap_err();
        let message = error
            .as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(message.contains("append-only"), "{statement}: {error}");
    }
    let count: i64 = db
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[actix_web::test]
async fn every_change_is_an_event_with_its_data() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap();
    app.patch_monitor(id, &json!({"interval_seconds": 10, "tags": ["prod"]}), None)
        .await;
    app.post_empty(&format!("/api/v1/monitors/{id}/pause"))
        .await;
    app.post_empty(&format!("/api/v1/monitors/{id}/resume"))
        .await;

    let (status, page) = app.get_json(&format!("/api/v1/monitors/{id}/events")).await;
    assert_eq!(status, 200);
    let events = page["items"].as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "monitor_registered",
            "monitor_updated",
            "monitor_paused",
            "monitor_resumed"
        ]
    );
    assert_eq!(events[0]["data"]["config"]["name"], "api");
    assert_eq!(
        events[1]["data"]["changed"],
        json!(["interval_seconds", "tags"])
    );
    assert_eq!(events[1]["data"]["config"]["interval_seconds"], 10);
    assert_eq!(events[2]["data"], json!({}));
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["monitor_id"], monitor["id"]);
        assert_eq!(event["monitor_seq"], i as i64 + 1);
        assert!(event["recorded_at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(events[0]["recorded_at"], monitor["created_at"]);
}

#[actix_web::test]
async fn events_of_an_unknown_monitor_are_404() {
    let app = spawn_app().await;
    let (status, body) = app
        .get_json(&format!("/api/v1/monitors/{}/events", Uuid::now_v7()))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
}

#[actix_web::test]
async fn the_projection_equals_a_replay_of_the_log() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap();
    app.patch_monitor(
        id,
        &json!({"url": "https://b.example/x", "recovery_threshold": 3}),
        None,
    )
    .await;
    app.post_empty(&format!("/api/v1/monitors/{id}/pause"))
        .await;
    let (_, shown) = app.get_json(&format!("/api/v1/monitors/{id}")).await;

    let pool = upwatch::store::database::pool(&app.settings.database, 2).unwrap();
    let client = pool.get().await.unwrap();
    let history = event_log::history(&client, Uuid::parse_str(id).unwrap())
        .await
        .unwrap();
    let replayed = Monitor::replay(&history).unwrap().unwrap();
    assert_eq!(replayed.version, shown["version"].as_i64().unwrap());
    assert_eq!(replayed.paused, shown["paused"].as_bool().unwrap());
    assert_eq!(
        replayed.config.check.url().as_ref(),
        shown["url"].as_str().unwrap()
    );
    assert_eq!(
        i64::from(replayed.config.recovery_threshold.get()),
        shown["recovery_threshold"].as_i64().unwrap()
    );
    let stored = upwatch::store::monitors::find(&client, replayed.id, false)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.monitor, replayed);
}
