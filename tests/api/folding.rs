//! The folder's transaction on a real PostgreSQL, batch by batch: health kept
//! in memory between batches, and what happens when a folder stops, the API
//! changes a monitor, or another folder folds the same monitor.

use serde_json::{Value, json};
use upwatch::domain::ProbeResult;
use upwatch::domain::folding::HealthCache;
use upwatch::store::Pool;
use upwatch::store::batches::{self, BatchOutcome};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app, status_changes};
use crate::results::{result, stored_count};

async fn monitor(app: &TestApp, failure_threshold: u8) -> (Uuid, Pool) {
    let body = app
        .create_monitor(json!({
            "name": "folded", "url": "http://127.0.0.1:9/", "interval_seconds": 86_400,
            "failure_threshold": failure_threshold
        }))
        .await;
    let id = Uuid::parse_str(body["id"].as_str().unwrap()).unwrap();
    (
        id,
        upwatch::store::database::pool(&app.settings.database, 2).unwrap(),
    )
}

async fn fold(pool: &Pool, cache: &mut HealthCache, batch: &[ProbeResult]) -> BatchOutcome {
    batches::record_batch(pool, batch, cache).await.unwrap()
}

async fn transitions(app: &TestApp, id: Uuid) -> Vec<(String, String)> {
    let (_, events) = app.get_json(&format!("/api/v1/monitors/{id}/events")).await;
    status_changes(&events)
        .iter()
        .map(|e: &Value| {
            let data = &e["data"];
            (data["from"].to_string(), data["to"].to_string())
        })
        .collect()
}

#[actix_web::test]
async fn counts_a_stopped_folder_held_only_in_memory_are_rebuilt_from_stored_results() {
    let app = spawn_app().await;
    let (id, pool) = monitor(&app, 3).await;
    let mut stopped = HealthCache::default();
    fold(&pool, &mut stopped, &[result(id, 0, false)]).await;
    fold(&pool, &mut stopped, &[result(id, 1, false)]).await;
    drop(stopped);

    // Two failures are stored; the third makes three for the next folder.
    let mut next = HealthCache::default();
    let outcome = fold(&pool, &mut next, &[result(id, 2, false)]).await;
    assert_eq!(outcome.transitions.len(), 1, "{outcome:?}");
    let (_, view) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(view["status"], "down", "{view}");
    assert_eq!(
        view["last_checked_at"], "2026-11-23T10:02:00.015Z",
        "{view}"
    );
}

#[actix_web::test]
async fn a_threshold_changed_through_the_api_applies_to_the_next_result() {
    let app = spawn_app().await;
    let (id, pool) = monitor(&app, 5).await;
    let mut cache = HealthCache::default();
    fold(&pool, &mut cache, &[result(id, 0, false)]).await;
    fold(&pool, &mut cache, &[result(id, 1, false)]).await;
    let response = app
        .patch_monitor(&id.to_string(), &json!({"failure_threshold": 3}), None)
        .await;
    assert_eq!(response.status(), 200);

    let outcome = fold(&pool, &mut cache, &[result(id, 2, false)]).await;
    assert_eq!(
        outcome.transitions.len(),
        1,
        "third failure of three: {outcome:?}"
    );
    assert_eq!(
        transitions(&app, id).await,
        vec![("\"unknown\"".to_owned(), "\"down\"".to_owned())]
    );
}

#[actix_web::test]
async fn a_transition_another_folder_recorded_is_not_recorded_again() {
    let app = spawn_app().await;
    let (id, pool) = monitor(&app, 1).await;
    let mut first = HealthCache::default();
    fold(&pool, &mut first, &[result(id, 0, true)]).await;
    // A lease changed hands: another folder folds the monitor meanwhile.
    let mut second = HealthCache::default();
    fold(&pool, &mut second, &[result(id, 1, false)]).await;

    let outcome = fold(&pool, &mut first, &[result(id, 2, false)]).await;
    assert!(outcome.transitions.is_empty(), "{outcome:?}");
    assert_eq!(
        transitions(&app, id).await,
        vec![
            ("\"unknown\"".to_owned(), "\"up\"".to_owned()),
            ("\"up\"".to_owned(), "\"down\"".to_owned()),
        ]
    );
}

#[actix_web::test]
async fn a_result_another_folder_stored_meanwhile_is_stored_and_folded_once() {
    let app = spawn_app().await;
    let (id, pool) = monitor(&app, 3).await;
    let mut first = HealthCache::default();
    fold(&pool, &mut first, &[result(id, 0, true)]).await;
    let mut second = HealthCache::default();
    fold(&pool, &mut second, &[result(id, 1, false)]).await;

    // The first folder takes minute 1 for new: it is newer than all it folded.
    let outcome = fold(
        &pool,
        &mut first,
        &[result(id, 1, false), result(id, 2, false)],
    )
    .await;
    assert_eq!(outcome.stored, 1, "{outcome:?}");
    assert_eq!(stored_count(&app).await, 3);
    let outcome = fold(&pool, &mut first, &[result(id, 3, false)]).await;
    assert_eq!(
        outcome.transitions.len(),
        1,
        "the third failure: {outcome:?}"
    );
}
