use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_error, event_types, spawn_app};

#[actix_web::test]
async fn registering_returns_201_with_location_etag_and_the_contract_defaults() {
    let app = spawn_app().await;
    let response = app
        .post_monitor(&json!({"name": "  checkout  ", "url": "https://shop.example/health"}))
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let monitor: Value = response.json().await.unwrap();
    let id = monitor["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/monitors/{id}"));
    assert_eq!(etag, "\"1\"");
    assert_eq!(monitor["name"], "checkout");
    assert_eq!(monitor["method"], "GET");
    assert_eq!(monitor["interval_seconds"], 60);
    assert_eq!(monitor["timeout_ms"], 5000);
    assert_eq!(monitor["expected_status"], Value::Null);
    assert_eq!(monitor["failure_threshold"], 3);
    assert_eq!(monitor["recovery_threshold"], 1);
    assert_eq!(monitor["tags"], json!([]));
    assert_eq!(monitor["paused"], false);
    assert_eq!(monitor["status"], "unknown");
    assert_eq!(monitor["status_since"], Value::Null);
    assert_eq!(monitor["last_checked_at"], Value::Null);
    assert_eq!(monitor["last_latency_ms"], Value::Null);
    assert_eq!(monitor["version"], 1);
    assert_eq!(monitor["created_at"], monitor["updated_at"]);
    let created = time::OffsetDateTime::parse(
        monitor["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(created.offset(), time::UtcOffset::UTC);

    let (status, fetched) = app.get_json(&location).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, monitor);
}

#[actix_web::test]
async fn every_writable_field_is_stored_as_given() {
    let app = spawn_app().await;
    let body = json!({
        "name": "edge",
        "url": "http://127.0.0.1:8081/ping",
        "method": "HEAD",
        "interval_seconds": 5,
        "timeout_ms": 250,
        "expected_status": [204, 200],
        "failure_threshold": 2,
        "recovery_threshold": 4,
        "tags": ["prod", "team:edge"]
    });
    let monitor = app.create_monitor(body).await;
    assert_eq!(monitor["method"], "HEAD");
    assert_eq!(monitor["interval_seconds"], 5);
    assert_eq!(monitor["timeout_ms"], 250);
    assert_eq!(monitor["expected_status"], json!([200, 204]));
    assert_eq!(monitor["failure_threshold"], 2);
    assert_eq!(monitor["recovery_threshold"], 4);
    assert_eq!(monitor["tags"], json!(["prod", "team:edge"]));
}

#[actix_web::test]
async fn the_default_timeout_is_capped_to_a_short_interval() {
    let app = spawn_app().await;
    let monitor = app
        .create_monitor(json!({"name": "fast", "url": "http://a.example", "interval_seconds": 2}))
        .await;
    assert_eq!(monitor["timeout_ms"], 2000);
}

#[actix_web::test]
async fn unknown_and_malformed_ids_are_404() {
    let app = spawn_app().await;
    let unknown = uuid::Uuid::now_v7();
    for path in [
        format!("/api/v1/monitors/{unknown}"),
        "/api/v1/monitors/not-a-uuid".to_owned(),
    ] {
        let response = app.request(Method::GET, &path, None).await;
        assert_error(response, 404, "not_found").await;
    }
    let patch = app
        .patch_monitor(&unknown.to_string(), &json!({"name": "x"}), None)
        .await;
    assert_error(patch, 404, "not_found").await;
    for action in ["pause", "resume"] {
        let response = app
            .post_empty(&format!("/api/v1/monitors/{unknown}/{action}"))
            .await;
        assert_error(response, 404, "not_found").await;
    }
    let delete = app
        .request(Method::DELETE, &format!("/api/v1/monitors/{unknown}"), None)
        .await;
    assert_error(delete, 404, "not_found").await;
}

#[actix_web::test]
async fn names_are_unique_case_insensitively_until_deleted() {
    let app = spawn_app().await;
    let first = app.create_named("Payments API").await;
    let clash = app
        .post_monitor(&json!({"name": "payments api", "url": "http://b.example"}))
        .await;
    let body = assert_error(clash, 409, "conflict").await;
    assert_eq!(body["error"]["field"], "name");

    let other = app.create_named("other").await;
    let rename = app
        .patch_monitor(
            other["id"].as_str().unwrap(),
            &json!({"name": "PAYMENTS API"}),
            None,
        )
        .await;
    assert_error(rename, 409, "conflict").await;

    let id = first["id"].as_str().unwrap();
    let deleted = app
        .request(Method::DELETE, &format!("/api/v1/monitors/{id}"), None)
        .await;
    assert_eq!(deleted.status(), 204);
    app.create_named("Payments API").await;
}

#[actix_web::test]
async fn patch_changes_only_the_given_fields_and_bumps_the_version() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap();
    let response = app
        .patch_monitor(
            id,
            &json!({"interval_seconds": 30, "tags": ["prod"], "expected_status": [200]}),
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["etag"], "\"2\"");
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["interval_seconds"], 30);
    assert_eq!(updated["tags"], json!(["prod"]));
    assert_eq!(updated["expected_status"], json!([200]));
    assert_eq!(updated["name"], "api");
    assert_eq!(updated["url"], monitor["url"]);
    assert_eq!(updated["version"], 2);
    assert_eq!(updated["created_at"], monitor["created_at"]);
    assert_ne!(updated["updated_at"], monitor["updated_at"]);

    let cleared: Value = app
        .patch_monitor(id, &json!({"expected_status": null}), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["expected_status"], Value::Null);
    assert_eq!(cleared["version"], 3);
    assert_eq!(
        app.get_json(&format!("/api/v1/monitors/{id}")).await.1,
        cleared
    );
}

#[actix_web::test]
async fn a_patch_that_changes_nothing_records_no_event() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap();
    for body in [json!({}), json!({"name": "api", "interval_seconds": 60})] {
        let response = app.patch_monitor(id, &body, None).await;
        assert_eq!(response.status(), 200);
        let same: Value = response.json().await.unwrap();
        assert_eq!(same["version"], 1);
    }
    let (_, events) = app.get_json(&format!("/api/v1/monitors/{id}/events")).await;
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
}

#[actix_web::test]
async fn if_match_guards_against_stale_writes() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap();
    let fresh = app
        .patch_monitor(id, &json!({"failure_threshold": 5}), Some("\"1\""))
        .await;
    assert_eq!(fresh.status(), 200);
    let stale = app
        .patch_monitor(id, &json!({"failure_threshold": 7}), Some("1"))
        .await;
    assert_error(stale, 412, "precondition_failed").await;
    let garbage = app
        .patch_monitor(id, &json!({"failure_threshold": 7}), Some("yesterday"))
        .await;
    assert_error(garbage, 412, "precondition_failed").await;
    let (_, current) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(current["failure_threshold"], 5);
    assert_eq!(current["version"], 2);

    let stale_delete = app
        .http
        .delete(app.url(&format!("/api/v1/monitors/{id}")))
        .header("If-Match", "1")
        .send()
        .await
        .unwrap();
    assert_error(stale_delete, 412, "precondition_failed").await;
}

#[actix_web::test]
async fn delete_stops_showing_the_monitor_but_keeps_its_history() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap();
    let path = format!("/api/v1/monitors/{id}");
    let deleted = app.request(Method::DELETE, &path, None).await;
    assert_eq!(deleted.status(), 204);
    assert!(deleted.bytes().await.unwrap().is_empty());

    assert_error(
        app.request(Method::GET, &path, None).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.request(Method::DELETE, &path, None).await,
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.post_empty(&format!("{path}/pause")).await,
        404,
        "not_found",
    )
    .await;
    let (_, list) = app.get_json("/api/v1/monitors").await;
    assert_eq!(list["items"], json!([]));

    let (status, events) = app.get_json(&format!("{path}/events")).await;
    assert_eq!(status, 200);
    let types = event_types(&events);
    assert_eq!(types, ["monitor_registered", "monitor_deleted"]);
}

#[actix_web::test]
async fn pause_and_resume_are_idempotent() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap();
    for _ in 0..2 {
        let response = app
            .post_empty(&format!("/api/v1/monitors/{id}/pause"))
            .await;
        assert_eq!(response.status(), 200);
        let paused: Value = response.json().await.unwrap();
        assert_eq!(paused["paused"], true);
        assert_eq!(paused["version"], 2);
    }
    for _ in 0..2 {
        let resumed: Value = app
            .post_empty(&format!("/api/v1/monitors/{id}/resume"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(resumed["paused"], false);
        assert_eq!(resumed["version"], 3);
    }
    let (_, events) = app.get_json(&format!("/api/v1/monitors/{id}/events")).await;
    let types = event_types(&events);
    assert_eq!(
        types,
        ["monitor_registered", "monitor_paused", "monitor_resumed"]
    );
}

#[actix_web::test]
async fn the_list_filters_by_tag_paused_and_status() {
    let app = spawn_app().await;
    let prod = app
        .create_monitor(json!({"name": "a", "url": "http://a.example", "tags": ["prod", "eu"]}))
        .await;
    let staging = app
        .create_monitor(json!({"name": "b", "url": "http://b.example", "tags": ["staging", "eu"]}))
        .await;
    let untagged = app.create_named("c").await;
    let staging_id = staging["id"].as_str().unwrap();
    app.post_empty(&format!("/api/v1/monitors/{staging_id}/pause"))
        .await;

    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let cases = [
        ("", vec!["a", "b", "c"]),
        ("?tag=eu", vec!["a", "b"]),
        ("?tag=eu&tag=prod", vec!["a"]),
        ("?tag=none", vec![]),
        ("?paused=true", vec!["b"]),
        ("?paused=false", vec!["a", "c"]),
        ("?status=unknown", vec!["a", "b", "c"]),
        ("?status=down", vec![]),
        ("?tag=eu&paused=false", vec!["a"]),
    ];
    for (query, expected) in cases {
        let (status, page) = app.get_json(&format!("/api/v1/monitors{query}")).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(names(&page), expected, "{query}");
    }
    assert_eq!(prod["tags"], json!(["prod", "eu"]));
    assert_eq!(untagged["tags"], json!([]));
}

#[actix_web::test]
async fn bulk_registration_is_all_or_nothing_and_names_the_bad_item() {
    let app = spawn_app().await;
    let bulk = |monitors: Value| {
        let body = json!({ "monitors": monitors });
        let app = &app;
        async move {
            app.request(Method::POST, "/api/v1/monitors/bulk", Some(&body))
                .await
        }
    };
    let response = bulk(json!([
        {"name": "a", "url": "http://127.0.0.1:9/a"},
        {"name": "b", "url": "http://127.0.0.1:9/b", "tags": ["x"]}
    ]))
    .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    let names: Vec<&str> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(body["items"][1]["version"], 1);

    let bad = bulk(
        json!([{"name": "c", "url": "http://127.0.0.1:9/c"}, {"name": "d", "url": "ftp://x"}]),
    )
    .await;
    let error = assert_error(bad, 422, "validation_failed").await;
    assert_eq!(error["error"]["field"], "monitors[1].url");
    let taken = bulk(json!([{"name": "e", "url": "http://127.0.0.1:9/e"}, {"name": "A", "url": "http://127.0.0.1:9/a2"}])).await;
    let error = assert_error(taken, 409, "conflict").await;
    assert!(
        error["error"]["message"].as_str().unwrap().contains("`A`"),
        "the conflict names the monitor: {error}"
    );
    let twice = bulk(json!([
        {"name": "f", "url": "http://127.0.0.1:9/f"},
        {"name": "g", "url": "http://127.0.0.1:9/g"},
        {"name": "G", "url": "http://127.0.0.1:9/g2"}
    ]))
    .await;
    let error = assert_error(twice, 409, "conflict").await;
    assert!(
        error["error"]["message"].as_str().unwrap().contains("`G`"),
        "a name twice in one batch is a conflict naming it: {error}"
    );
    let empty = bulk(json!([])).await;
    assert_error(empty, 422, "validation_failed").await;

    let (_, listed) = app.get_json("/api/v1/monitors").await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"], "a refused batch registers nothing");
}
