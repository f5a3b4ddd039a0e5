//! Stored probe results and `GET /monitors/{id}/results`.

use time::OffsetDateTime;
use time::macros::datetime;
use upwatch::domain::ProbeResult;
use upwatch::store::results;
use uuid::Uuid;

use crate::helpers::{TestApp, assert_error, spawn_app};

/// A result of `monitor_id`'s tick `minute` minutes into a fixed day.
pub(crate) fn result(monitor_id: Uuid, minute: i64, up: bool) -> ProbeResult {
    let scheduled_at: OffsetDateTime =
        datetime!(2026-11-23 10:00 UTC) + time::Duration::minutes(minute);
    ProbeResult {
        job_id: upwatch::domain::schedule::job_id(monitor_id, u64::try_from(minute).unwrap()),
        monitor_id,
        scheduled_at,
        started_at: scheduled_at + time::Duration::milliseconds(3),
        checked_at: scheduled_at + time::Duration::milliseconds(15),
        up,
        http_status: if up { Some(200) } else { Some(503) },
        latency_ms: 12,
        error: (!up).then(|| "status 503".to_owned()),
        worker: "test-worker".to_owned(),
        certificate_expires_at: None,
        observed_version: None,
    }
}

async fn store(app: &TestApp, batch: &[ProbeResult]) -> Vec<Uuid> {
    let pool = upwatch::store::database::pool(&app.settings.database, 1).unwrap();
    results::insert_batch(&pool.get().await.unwrap(), batch)
        .await
        .unwrap()
}

/// How many results the test's database holds.
pub(crate) async fn stored_count(app: &TestApp) -> i64 {
    app.db()
        .await
        .query_one("SELECT count(*) FROM probe_results", &[])
        .await
        .unwrap()
        .get(0)
}

async fn registered(app: &TestApp) -> Uuid {
    let monitor = app.create_named("api").await;
    Uuid::parse_str(monitor["id"].as_str().unwrap()).unwrap()
}

#[actix_web::test]
async fn a_duplicate_job_id_is_stored_once_and_reported_as_not_new() {
    let app = spawn_app().await;
    let id = registered(&app).await;
    let first = vec![result(id, 0, true), result(id, 1, false)];
    assert_eq!(
        store(&app, &first).await,
        vec![first[0].job_id, first[1].job_id]
    );
    let again = vec![result(id, 1, false), result(id, 2, true)];
    assert_eq!(
        store(&app, &again).await,
        vec![again[1].job_id],
        "only the new one"
    );
    assert_eq!(stored_count(&app).await, 3);
    let update = app
        .db()
        .await
        .batch_execute("UPDATE probe_results SET up = NOT up")
        .await;
    assert!(update.is_err(), "results are append-only");
}

#[actix_web::test]
async fn results_are_listed_newest_first_in_the_contract_shape() {
    let app = spawn_app().await;
    let id = registered(&app).await;
    store(&app, &[result(id, 0, true), result(id, 1, false)]).await;
    let (status, page) = app
        .get_json(&format!("/api/v1/monitors/{id}/results"))
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["scheduled_at"], "2026-11-23T10:01:00Z");
    assert_eq!(items[0]["status"], "down");
    assert_eq!(items[0]["http_status"], 503);
    assert_eq!(items[0]["error"], "status 503");
    assert_eq!(items[0]["checked_at"], "2026-11-23T10:01:00.015Z");
    assert_eq!(items[0]["latency_ms"], 12);
    assert_eq!(items[0]["monitor_id"], id.to_string());
    assert_eq!(items[1]["status"], "up");
    assert_eq!(items[1]["error"], serde_json::Value::Null);
    assert_eq!(page["next_cursor"], serde_json::Value::Null);
}

#[actix_web::test]
async fn results_page_and_filter_by_time() {
    let app = spawn_app().await;
    let id = registered(&app).await;
    let batch: Vec<ProbeResult> = (0..7).map(|m| result(id, m, m % 2 == 0)).collect();
    store(&app, &batch).await;
    let other = app.create_named("other").await;
    let other_id = Uuid::parse_str(other["id"].as_str().unwrap()).unwrap();
    store(&app, &[result(other_id, 3, true)]).await;

    let (items, pages) = app
        .collect_pages(&format!("/api/v1/monitors/{id}/results?limit=3"))
        .await;
    assert_eq!(pages, 3);
    let times: Vec<&str> = items
        .iter()
        .map(|r| r["scheduled_at"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (0..7)
        .rev()
        .map(|m| format!("2026-11-23T10:0{m}:00Z"))
        .collect();
    assert_eq!(times, expected);

    let (_, window) = app
        .get_json(&format!(
            "/api/v1/monitors/{id}/results?since=2026-11-23T10:02:00Z&until=2026-11-23T10:05:00Z"
        ))
        .await;
    let times: Vec<&str> = window["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["scheduled_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        times,
        [
            "2026-11-23T10:04:00Z",
            "2026-11-23T10:03:00Z",
            "2026-11-23T10:02:00Z"
        ]
    );
}

#[actix_web::test]
async fn bad_result_queries_are_rejected_and_unknown_monitors_are_404() {
    let app = spawn_app().await;
    let id = registered(&app).await;
    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        ("limit=0", "limit"),
        ("cursor=nope", "cursor"),
    ] {
        let response = app
            .request(
                reqwest::Method::GET,
                &format!("/api/v1/monitors/{id}/results?{query}"),
                None,
            )
            .await;
        let body = assert_error(response, 422, "validation_failed").await;
        assert_eq!(body["error"]["field"], field, "{query}");
    }
    let (status, empty) = app
        .get_json(&format!("/api/v1/monitors/{id}/results"))
        .await;
    assert_eq!((status, empty["items"].as_array().unwrap().len()), (200, 0));
    let unknown = app
        .request(
            reqwest::Method::GET,
            &format!("/api/v1/monitors/{}/results", Uuid::now_v7()),
            None,
        )
        .await;
    assert_error(unknown, 404, "not_found").await;
}

#[actix_web::test]
async fn housekeeping_keeps_daily_partitions_and_drops_expired_days() {
    let app = spawn_app().await;
    let id = Uuid::now_v7();
    let today = time::OffsetDateTime::now_utc().date();
    let at = |days_ago: i64| {
        (today - time::Duration::days(days_ago))
            .with_hms(12, 0, 0)
            .unwrap()
            .assume_utc()
    };
    let stored_result = |days_ago: i64| ProbeResult {
        job_id: Uuid::new_v4(),
        monitor_id: id,
        scheduled_at: at(days_ago),
        started_at: at(days_ago),
        checked_at: at(days_ago),
        up: true,
        http_status: Some(200),
        latency_ms: 1,
        error: None,
        worker: "test".into(),
        certificate_expires_at: None,
        observed_version: None,
    };
    let pool = upwatch::store::database::pool(&app.settings.database, 2).unwrap();
    let batch: Vec<ProbeResult> = [0, 1, 29, 31, 45].into_iter().map(stored_result).collect();
    let client = pool.get().await.unwrap();
    assert_eq!(
        results::insert_batch(&client, &batch).await.unwrap().len(),
        5
    );
    drop(client);

    let done = upwatch::store::retention::maintain(&pool, today, 30)
        .await
        .unwrap();
    assert!(done.dropped.is_empty(), "{done:?}");
    let again = upwatch::store::retention::maintain(&pool, today, 30)
        .await
        .unwrap();
    assert!(
        again.created.is_empty(),
        "partitions are created once: {again:?}"
    );

    let db = app.db().await;
    let kept: Vec<time::OffsetDateTime> = db
        .query(
            "SELECT scheduled_at FROM probe_results WHERE monitor_id = $1 ORDER BY scheduled_at DESC",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        kept,
        [at(0), at(1), at(29)],
        "days older than the retention are gone"
    );
    // Today's result sits in today's partition, not in the catch-all one.
    let in_default: i64 = db
        .query_one(
            "SELECT count(*) FROM probe_results_default WHERE scheduled_at >= $1",
            &[&at(1)],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(in_default, 0);
    let partitions = upwatch::store::retention::partitions(&pool.get().await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        partitions.len(),
        4,
        "yesterday to two days ahead: {partitions:?}"
    );

    // A day later, its oldest partition falls out of a one-day retention.
    let later = upwatch::store::retention::maintain(&pool, today + time::Duration::days(2), 1)
        .await
        .unwrap();
    assert!(!later.dropped.is_empty(), "{later:?}");
    let left: i64 = db
        .query_one(
            "SELECT count(*) FROM probe_results WHERE monitor_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}
