use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

fn valid() -> Value {
    json!({"name": "api", "url": "http://a.example/health"})
}

fn with(field: &str, value: Value) -> Value {
    let mut body = valid();
    body[field] = value;
    body
}

/// A bad value of each writable field, and the field the 422 must name.
fn bad_bodies() -> Vec<(Value, &'static str)> {
    let long_url = format!("http://a.example/{}", "a".repeat(2040));
    let many_tags: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    vec![
        (with("name", json!("")), "name"),
        (with("name", json!("   ")), "name"),
        (with("name", json!("x".repeat(101))), "name"),
        (with("name", json!(5)), "name"),
        (with("name", Value::Null), "name"),
        (with("url", json!("not a url")), "url"),
        (with("url", json!("ftp://a.example")), "url"),
        (with("url", json!("/relative")), "url"),
        (with("url", json!("http://")), "url"),
        (with("url", json!(long_url)), "url"),
        (with("method", json!("PUT")), "method"),
        (with("method", json!("get")), "method"),
        (with("interval_seconds", json!(0)), "interval_seconds"),
        (with("interval_seconds", json!(86_401)), "interval_seconds"),
        (with("interval_seconds", json!(-5)), "interval_seconds"),
        (with("interval_seconds", json!("60")), "interval_seconds"),
        (with("interval_seconds", json!(1.5)), "interval_seconds"),
        (with("interval_seconds", json!(1e20)), "interval_seconds"),
        (with("timeout_ms", json!(99)), "timeout_ms"),
        (with("timeout_ms", json!(60_001)), "timeout_ms"),
        (
            json!({"name": "api", "url": "http://a.example", "interval_seconds": 1, "timeout_ms": 1001}),
            "timeout_ms",
        ),
        (with("expected_status", json!([99])), "expected_status"),
        (with("expected_status", json!([600])), "expected_status"),
        (with("expected_status", json!([])), "expected_status"),
        (with("expected_status", json!("200")), "expected_status"),
        (
            with("expected_status", json!([200, "201"])),
            "expected_status",
        ),
        (with("failure_threshold", json!(0)), "failure_threshold"),
        (with("failure_threshold", json!(101)), "failure_threshold"),
        (with("recovery_threshold", json!(0)), "recovery_threshold"),
        (with("recovery_threshold", json!(101)), "recovery_threshold"),
        (with("tags", json!(["Prod"])), "tags"),
        (with("tags", json!([""])), "tags"),
        (with("tags", json!(["a".repeat(65)])), "tags"),
        (with("tags", json!(many_tags)), "tags"),
        (with("tags", json!("prod")), "tags"),
        (with("colour", json!("red")), "colour"),
        (with("status", json!("up")), "status"),
        (json!({"url": "http://a.example"}), "name"),
        (json!({"name": "api"}), "url"),
    ]
}

#[actix_web::test]
async fn each_bad_field_on_create_is_a_422_naming_it() {
    let app = spawn_app().await;
    for (body, field) in bad_bodies() {
        let response = app.post_monitor(&body).await;
        let error = assert_error(response, 422, "validation_failed").await;
        assert_eq!(error["error"]["field"], field, "{body}");
    }
    let (_, list) = app.get_json("/api/v1/monitors").await;
    assert_eq!(list["items"], json!([]), "nothing invalid was stored");
}

#[actix_web::test]
async fn each_bad_field_on_patch_is_a_422_naming_it_and_changes_nothing() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap();
    for (body, field) in bad_bodies() {
        // PATCH takes any subset, so a body missing name or url is fine there.
        if field == "name" && body.get("name").is_none()
            || field == "url" && body.get("url").is_none()
        {
            continue;
        }
        let mut patch = body.clone();
        let object = patch.as_object_mut().unwrap();
        object.retain(|k, _| k == field || (field == "timeout_ms" && k == "interval_seconds"));
        let response = app.patch_monitor(id, &patch, None).await;
        let error = assert_error(response, 422, "validation_failed").await;
        assert_eq!(error["error"]["field"], field, "{patch}");
    }
    let (_, current) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(current, monitor);
}

#[actix_web::test]
async fn bodies_that_are_not_json_objects_get_their_own_codes() {
    let app = spawn_app().await;
    let raw = |body: &'static str, content_type: Option<&'static str>| {
        let mut request = app.http.post(app.url("/api/v1/monitors")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        request.send()
    };
    assert_error(
        raw("{\"name\":", Some("application/json")).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_error(
        raw("", Some("application/json")).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_error(
        raw("{'a': 1}", Some("application/json")).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    let array = assert_error(
        raw("[1, 2]", Some("application/json")).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(array["error"]["field"], "body");
    assert_error(
        raw("{}", None).await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        raw("{}", Some("text/plain")).await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let ok = raw(
        "{\"name\": \"x\", \"url\": \"http://a.example\"}",
        Some("application/json; charset=utf-8"),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 201);
}

#[actix_web::test]
async fn bodies_over_64_kib_are_413() {
    let app = spawn_app().await;
    let huge = json!({"name": "x", "url": "http://a.example", "pad": "a".repeat(70 * 1024)});
    assert_error(app.post_monitor(&huge).await, 413, "payload_too_large").await;

    // Without a Content-Length the limit holds too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..80).map(|_| Ok(vec![b' '; 1024])).collect();
    let streamed = app
        .http
        .post(app.url("/api/v1/monitors"))
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_error(streamed, 413, "payload_too_large").await;
}

#[actix_web::test]
async fn bad_query_parameters_are_422_naming_them() {
    let app = spawn_app().await;
    let cases = [
        ("/api/v1/monitors?limit=0", "limit"),
        ("/api/v1/monitors?limit=1001", "limit"),
        ("/api/v1/monitors?limit=ten", "limit"),
        ("/api/v1/monitors?status=sideways", "status"),
        ("/api/v1/monitors?paused=maybe", "paused"),
        ("/api/v1/monitors?tag=Not%20A%20Tag", "tag"),
        ("/api/v1/monitors?cursor=garbage", "cursor"),
        ("/api/v1/events?after_seq=-1", "after_seq"),
        ("/api/v1/events?after_seq=x", "after_seq"),
        ("/api/v1/events?limit=5000", "limit"),
        ("/api/v1/events?cursor=%%%", "cursor"),
    ];
    for (path, field) in cases {
        let response = app.request(Method::GET, path, None).await;
        let error = assert_error(response, 422, "validation_failed").await;
        assert_eq!(error["error"]["field"], field, "{path}");
    }
}

#[actix_web::test]
async fn unknown_routes_and_methods_get_the_error_body() {
    let app = spawn_app().await;
    assert_error(
        app.request(Method::GET, "/api/v1/nothing", None).await,
        404,
        "not_found",
    )
    .await;
    let put = app.request(Method::PUT, "/api/v1/monitors", None).await;
    assert_eq!(put.headers()["allow"], "GET, POST");
    assert_error(put, 405, "method_not_allowed").await;
    let id = uuid::Uuid::now_v7();
    let get_pause = app
        .request(Method::GET, &format!("/api/v1/monitors/{id}/pause"), None)
        .await;
    assert_eq!(get_pause.headers()["allow"], "POST");
    assert_error(get_pause, 405, "method_not_allowed").await;
}

#[actix_web::test]
async fn no_client_input_produces_a_server_error() {
    let app = spawn_app().await;
    let monitor = app.create_named("api").await;
    let id = monitor["id"].as_str().unwrap().to_owned();
    let bodies = [
        "null",
        "true",
        "42",
        "\"str\"",
        "[]",
        "{}",
        "{\"name\": {}}",
        "{\"url\": []}",
        "{\"interval_seconds\": 9223372036854775808}",
        "{\"timeout_ms\": -1e400}",
        "{\"tags\": [null]}",
        "{\"expected_status\": [1e3]}",
        "{\"name\": \"\\u0000\"}",
        "{\"name\": \"\\ud800\"}",
        "\u{feff}{}",
        "{\"name\":\"a\",\"name\":\"b\"}",
        "{\"url\": \"http://[::1]:99999\"}",
        "{\"url\": \"http://exa mple.com\"}",
    ];
    let paths = [
        (Method::POST, "/api/v1/monitors".to_owned()),
        (Method::PATCH, format!("/api/v1/monitors/{id}")),
        (Method::PATCH, "/api/v1/monitors/%00".to_owned()),
        (Method::POST, format!("/api/v1/monitors/{id}/pause")),
    ];
    for (method, path) in &paths {
        for body in bodies {
            let response = app
                .http
                .request(method.clone(), app.url(path))
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert!(
                status.is_success() || status.is_client_error(),
                "{method} {path} {body}: {status}"
            );
        }
    }
    for path in [
        "/api/v1/monitors?limit=%FF",
        "/api/v1/monitors?cursor=bTpub3QtYS11dWlk",
        "/api/v1/monitors/..%2F..%2Fetc/events",
        "/api/v1/events?after_seq=99999999999999999999",
    ] {
        let status = app.request(Method::GET, path, None).await.status();
        assert!(
            status.is_client_error() || status.is_success(),
            "{path}: {status}"
        );
    }
}
