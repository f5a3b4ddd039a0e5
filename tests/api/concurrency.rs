use std::collections::HashSet;

use serde_json::{Value, json};
use upwatch::domain::{Monitor, MonitorEvent};
use upwatch::store::event_log;
use uuid::Uuid;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn twenty_concurrent_patches_lose_no_update() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap().to_owned();

    let patches = (1..=20).map(|threshold| {
        let app = &app;
        let id = id.clone();
        async move {
            app.patch_monitor(
                &id,
                &json!({"failure_threshold": threshold, "tags": [format!("t{threshold}")]}),
                None,
            )
            .await
        }
    });
    let responses = futures_util::future::join_all(patches).await;
    let mut versions = HashSet::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        versions.insert(body["version"].as_i64().unwrap());
    }
    assert_eq!(
        versions,
        (2..=21).collect::<HashSet<i64>>(),
        "each write saw its own version"
    );

    let pool = upwatch::store::database::pool(&app.settings.database, 2).unwrap();
    let client = pool.get().await.unwrap();
    let history = event_log::history(&client, Uuid::parse_str(&id).unwrap())
        .await
        .unwrap();
    let seqs: Vec<i64> = history.iter().map(|e| e.monitor_seq).collect();
    assert_eq!(
        seqs,
        (1..=21).collect::<Vec<i64>>(),
        "gap-free per-monitor sequence"
    );

    let last = history.last().unwrap();
    let MonitorEvent::MonitorUpdated { config, .. } = &last.event else {
        panic!("the last event is an update: {last:?}");
    };
    let (_, shown) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(shown["version"], 21);
    assert_eq!(
        shown["failure_threshold"].as_i64().unwrap(),
        i64::from(config.failure_threshold.get())
    );
    let tag = config.tags.iter().next().unwrap().as_ref().to_owned();
    assert_eq!(shown["tags"], json!([tag]));
    assert_eq!(Monitor::replay(&history).unwrap().unwrap().config, *config);
}

#[actix_web::test]
async fn concurrent_patches_with_the_same_if_match_let_exactly_one_win() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap().to_owned();
    // None of them equals the current threshold (3): a no-op PATCH would
    // succeed at version 1 too, and rightly so.
    let patches = (4..=23).map(|threshold| {
        let app = &app;
        let id = id.clone();
        async move {
            app.patch_monitor(&id, &json!({"failure_threshold": threshold}), Some("\"1\""))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(patches).await;
    assert_eq!(count(&statuses, 200), 1, "{statuses:?}");
    assert_eq!(count(&statuses, 412), 19, "{statuses:?}");
    let (_, shown) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(shown["version"], 2);
}

#[actix_web::test]
async fn concurrent_registrations_of_one_name_create_exactly_one_monitor() {
    let app = spawn_app().await;
    let attempts = (0..10).map(|i| {
        let app = &app;
        async move {
            let name = if i % 2 == 0 { "Same" } else { "same" };
            app.post_monitor(&json!({"name": name, "url": "http://a.example"}))
                .await
                .status()
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert_eq!(count(&statuses, 201), 1, "{statuses:?}");
    assert_eq!(count(&statuses, 409), 9, "{statuses:?}");
}

/// How many of `statuses` equal `status`.
fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}
