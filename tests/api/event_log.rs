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

#[actix_web::test]
async fn events_name_their_aggregate_schema_version_and_actor() {
    let app = crate::helpers::spawn_pipeline(&[]).await;
    let target = crate::target::Target::start();
    let monitor = app
        .create_monitor(
            json!({"name": "audited", "url": target.url("/health"), "interval_seconds": 1}),
        )
        .await;
    let id = monitor["id"].as_str().unwrap();
    let events = crate::helpers::wait_for(
        "the monitor's first transition",
        std::time::Duration::from_secs(20),
        || async {
            let (_, page) = app.get_json(&format!("/api/v1/monitors/{id}/events")).await;
            (page["items"].as_array()?.len() >= 2).then_some(page)
        },
    )
    .await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items[0]["type"], "monitor_registered");
    assert_eq!(items[0]["actor"], "anonymous", "an API command, auth off");
    assert_eq!(items[1]["type"], "status_changed");
    assert_eq!(items[1]["actor"], "system", "the pipeline's");
    for event in items {
        assert_eq!(event["aggregate_type"], "monitor", "{event}");
        assert_eq!(event["aggregate_id"], id, "{event}");
        assert_eq!(event["monitor_id"], id, "{event}");
        assert_eq!(event["schema_version"], 1, "{event}");
    }
}

/// The migration that added actors filled in the events recorded before.
#[actix_web::test]
async fn the_actor_migration_fills_existing_events() {
    let db_name = format!("upwatch_test_{}", Uuid::new_v4().simple());
    let _guard = crate::helpers::DatabaseGuard(db_name.clone());
    let maintenance = crate::helpers::connect("postgres").await;
    maintenance
        .batch_execute(&format!("CREATE DATABASE \"{db_name}\""))
        .await
        .unwrap();
    let db = crate::helpers::connect(&db_name).await;
    for migration in [
        include_str!("../../migrations/V1__event_log_and_monitors.sql"),
        include_str!("../../migrations/V2__probe_results.sql"),
        include_str!("../../migrations/V3__monitor_health_state.sql"),
        include_str!("../../migrations/V4__daily_result_partitions.sql"),
        include_str!("../../migrations/V5__results_keyed_by_monitor_tick.sql"),
        include_str!("../../migrations/V6__monitor_check_as_one_value.sql"),
    ] {
        db.batch_execute(migration).await.unwrap();
    }
    let id = Uuid::now_v7();
    db.execute(
        "INSERT INTO events (monitor_id, monitor_seq, type, data) VALUES
            ($1, 1, 'monitor_registered', '{}'), ($1, 2, 'status_changed', '{}')",
        &[&id],
    )
    .await
    .unwrap();

    db.batch_execute(include_str!(
        "../../migrations/V7__events_of_any_aggregate_with_an_actor.sql"
    ))
    .await
    .unwrap();
    let rows = db
        .query(
            "SELECT aggregate_type, aggregate_id, aggregate_seq, schema_version, actor
             FROM events ORDER BY seq",
            &[],
        )
        .await
        .unwrap();
    let read: Vec<(String, Uuid, i64, i16, String)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    assert_eq!(
        read,
        [
            ("monitor".into(), id, 1, 1, "anonymous".into()),
            ("monitor".into(), id, 2, 1, "system".into()),
        ]
    );
    let refused = db.batch_execute("UPDATE events SET actor = 'forged'").await;
    assert!(refused.is_err(), "append-only again after the backfill");
}

#[actix_web::test]
async fn an_append_to_the_log_wakes_those_listening_for_it() {
    let app = spawn_app().await;
    let listener = upwatch::store::listen::Listener::start(
        &app.settings.database.connect_config(),
        event_log::APPENDED,
    )
    .await
    .expect("listening on the test database");
    // The first wait returns at once: whatever came before the LISTEN.
    listener.woken().await;

    app.create_named("notified").await;

    tokio::time::timeout(std::time::Duration::from_secs(10), listener.woken())
        .await
        .expect("registering a monitor appends to the log, which notifies at its commit");
    assert!(!listener.is_lost());
}

/// The scheduler follows the log a page at a time: a full page says more
/// waits (no notification will say it again), and a page's monitors are
/// read in one go, deleted ones included so their actors stop.
#[actix_web::test]
async fn the_log_is_read_in_pages_that_say_when_more_waits() {
    let app = spawn_app().await;
    let ids = create_named(&app, &["first", "second", "third"]).await;
    app.delete_monitor(&ids[2]).await;
    let ids: Vec<Uuid> = ids.iter().map(|id| id.parse().unwrap()).collect();
    let pool = upwatch::store::database::pool(&app.settings.database, 1).unwrap();
    let client = pool.get().await.unwrap();

    let first = event_log::configured_after(&client, 0, 2).await.unwrap();
    assert_eq!(first.monitors, ids[..2]);
    assert!(first.full, "two events read of two asked for");
    let rest = event_log::configured_after(&client, first.read_up_to, 10)
        .await
        .unwrap();
    assert_eq!(rest.monitors, [ids[2]], "registered, then deleted: once");
    assert!(!rest.full, "two events read of ten asked for");
    let after = event_log::configured_after(&client, rest.read_up_to, 10)
        .await
        .unwrap();
    assert_eq!(after.monitors, Vec::<Uuid>::new());
    assert_eq!(after.read_up_to, rest.read_up_to);
    assert!(!after.full);

    let mut found = upwatch::store::monitors::find_many(&client, &ids)
        .await
        .unwrap();
    found.sort_by_key(|view| view.monitor.id);
    let found: Vec<(Uuid, bool)> = found
        .iter()
        .map(|view| (view.monitor.id, view.monitor.is_active()))
        .collect();
    let mut wanted = vec![(ids[0], true), (ids[1], true), (ids[2], false)];
    wanted.sort();
    assert_eq!(found, wanted);
}

/// What a scheduler compares with what it runs: id and version of each
/// monitor that is probed, nothing paused or deleted.
#[actix_web::test]
async fn the_active_monitors_are_listed_with_their_versions() {
    let app = spawn_app().await;
    let ids = create_named(&app, &["changed", "paused", "deleted"]).await;
    let changed = app
        .patch_monitor(&ids[0], &json!({"interval_seconds": 30}), None)
        .await;
    assert_eq!(changed.status(), 200);
    let paused = app
        .post_empty(&format!("/api/v1/monitors/{}/pause", ids[1]))
        .await;
    assert_eq!(paused.status(), 200);
    app.delete_monitor(&ids[2]).await;

    let pool = upwatch::store::database::pool(&app.settings.database, 1).unwrap();
    let client = pool.get().await.unwrap();
    let versions = upwatch::store::monitors::active_versions(&client)
        .await
        .unwrap();
    assert_eq!(versions, [(ids[0].parse::<Uuid>().unwrap(), 2)]);
}

/// Registers a monitor of each name; their ids, in that order.
async fn create_named(app: &crate::helpers::TestApp, names: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for name in names {
        let monitor = app.create_named(name).await;
        ids.push(monitor["id"].as_str().unwrap().to_owned());
    }
    ids
}
