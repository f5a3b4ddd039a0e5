//! Tokens and scopes: who may do what, the actor each change is recorded
//! under, revocation across processes, and secrets kept out of the logs.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    TestApp, assert_error, connect, postgres_base_url, spawn_app_with, test_settings, wait_for,
};
use crate::startup::upwatch;

/// The bootstrap (admin) token every test here starts with.
const ADMIN: &str = "uw_test-bootstrap-token-0123456789abcdef";

async fn spawn_with_auth() -> TestApp {
    spawn_app_with(&[
        ("UPWATCH_AUTH", "tokens".into()),
        ("UPWATCH_BOOTSTRAP_TOKEN", ADMIN.into()),
    ])
    .await
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Response {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.expect("request sent")
}

/// Creates a token through the API (as admin) and returns its secret.
async fn create_token(app: &TestApp, name: &str, scope: &str) -> String {
    let body = json!({"name": name, "scope": scope});
    let response = send(
        app,
        Method::POST,
        "/api/v1/tokens",
        Some(ADMIN),
        Some(&body),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], name);
    assert_eq!(created["scope"], scope);
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "32 random bytes at least: {secret}");
    secret
}

#[actix_web::test]
async fn every_route_needs_its_scope() {
    let app = spawn_with_auth().await;
    let read = create_token(&app, "reader", "read").await;
    let write = create_token(&app, "writer", "write").await;
    let nobody = Uuid::new_v4();
    let monitor = format!("/api/v1/monitors/{nobody}");
    let channel = format!("/api/v1/channels/{nobody}");
    let empty = json!({});
    // Every route, with a request that passes authentication and then
    // fails or succeeds harmlessly (422, 404, 426 ...).
    let routes: Vec<(Method, String, Option<&Value>, &str)> = vec![
        (Method::GET, "/api/v1/monitors".into(), None, "read"),
        (
            Method::POST,
            "/api/v1/monitors".into(),
            Some(&empty),
            "write",
        ),
        (
            Method::POST,
            "/api/v1/monitors/bulk".into(),
            Some(&empty),
            "write",
        ),
        (Method::GET, monitor.clone(), None, "read"),
        (Method::PATCH, monitor.clone(), Some(&empty), "write"),
        (Method::DELETE, monitor.clone(), None, "write"),
        (Method::POST, format!("{monitor}/pause"), None, "write"),
        (Method::POST, format!("{monitor}/resume"), None, "write"),
        (Method::GET, format!("{monitor}/events"), None, "read"),
        (Method::GET, format!("{monitor}/results"), None, "read"),
        (Method::GET, format!("{monitor}/state"), None, "read"),
        (Method::GET, format!("{monitor}/deliveries"), None, "read"),
        (Method::GET, "/api/v1/channels".into(), None, "read"),
        (
            Method::POST,
            "/api/v1/channels".into(),
            Some(&empty),
            "write",
        ),
        (Method::GET, channel.clone(), None, "read"),
        (Method::PATCH, channel.clone(), Some(&empty), "write"),
        (Method::DELETE, channel.clone(), None, "write"),
        (Method::POST, format!("{channel}/test"), None, "write"),
        (Method::GET, format!("{channel}/deliveries"), None, "read"),
        (Method::GET, "/api/v1/events".into(), None, "read"),
        (Method::GET, "/api/v1/ws".into(), None, "read"),
        (Method::GET, "/metrics".into(), None, "read"),
        (
            Method::POST,
            "/api/v1/apply?dry_run=true".into(),
            Some(&empty),
            "write",
        ),
        (Method::GET, "/api/v1/export".into(), None, "read"),
        (Method::GET, "/api/v1/summary".into(), None, "read"),
        (Method::GET, "/api/v1/uptime".into(), None, "read"),
        (Method::GET, format!("{monitor}/uptime"), None, "read"),
        (
            Method::GET,
            format!("/badge/{nobody}/status.svg"),
            None,
            "read",
        ),
        (
            Method::GET,
            format!("/badge/{nobody}/uptime.svg"),
            None,
            "read",
        ),
        (Method::GET, "/api/v1/tokens".into(), None, "admin"),
        (Method::POST, "/api/v1/tokens".into(), Some(&empty), "admin"),
        (
            Method::DELETE,
            "/api/v1/tokens/nobody".into(),
            None,
            "admin",
        ),
    ];
    let tokens = [
        ("read", read.as_str()),
        ("write", write.as_str()),
        ("admin", ADMIN),
    ];
    let rank = |scope: &str| ["read", "write", "admin"].iter().position(|s| *s == scope);
    for (method, path, body, needed) in &routes {
        for token in [None, Some("uw_junk"), Some("")] {
            let response = send(&app, method.clone(), path, token, *body).await;
            let challenge = response.headers().get("www-authenticate").cloned();
            assert_error(response, 401, "unauthorized").await;
            let challenge = challenge.expect("a 401 names its scheme");
            assert!(
                challenge.to_str().unwrap().starts_with("Bearer"),
                "{method} {path}"
            );
        }
        for (scope, token) in tokens {
            let response = send(&app, method.clone(), path, Some(token), *body).await;
            let status = response.status().as_u16();
            if rank(scope) >= rank(needed) {
                assert!(
                    status != 401 && status != 403 && status < 500,
                    "{method} {path} with {scope}: {status}"
                );
            } else {
                assert_error(response, 403, "forbidden").await;
            }
        }
    }
    for open in ["/healthz", "/readyz"] {
        let response = send(&app, Method::GET, open, None, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{open}");
    }
}

#[actix_web::test]
async fn each_change_names_the_token_that_made_it() {
    let app = spawn_with_auth().await;
    let write = create_token(&app, "ci-deploy", "write").await;
    let body = json!({"name": "checkout", "url": "http://127.0.0.1:9/"});
    let response = send(
        &app,
        Method::POST,
        "/api/v1/monitors",
        Some(&write),
        Some(&body),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let monitor: Value = response.json().await.unwrap();
    let id = monitor["id"].as_str().unwrap();
    let pause = format!("/api/v1/monitors/{id}/pause");
    let response = send(&app, Method::POST, &pause, Some(ADMIN), None).await;
    assert_eq!(response.status(), StatusCode::OK);

    let events = format!("/api/v1/monitors/{id}/events");
    let response = send(&app, Method::GET, &events, Some(&write), None).await;
    let page: Value = response.json().await.unwrap();
    let actors: Vec<(&str, &str)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actors,
        [
            ("monitor_registered", "ci-deploy"),
            ("monitor_paused", "bootstrap")
        ]
    );

    let state = format!("/api/v1/monitors/{id}/state");
    let response = send(&app, Method::GET, &state, Some(&write), None).await;
    let state: Value = response.json().await.unwrap();
    assert_eq!(state["created_by"], "ci-deploy");
    assert_eq!(state["changed_by"], "bootstrap");

    // Token changes are events too, with the admin as their actor, and
    // never the secret.
    let response = send(&app, Method::GET, "/api/v1/events", Some(ADMIN), None).await;
    let log: Value = response.json().await.unwrap();
    let token_events: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["aggregate_type"] == "token")
        .collect();
    let summary: Vec<(&str, &str, &str)> = token_events
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap(),
                e["data"]["name"].as_str().unwrap(),
                e["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("token_created", "bootstrap", "system"),
            ("token_created", "ci-deploy", "bootstrap")
        ]
    );
    assert!(
        !log.to_string().contains(&write),
        "the log never holds a secret"
    );
}

#[actix_web::test]
async fn without_auth_changes_are_anonymous() {
    let app = spawn_app_with(&[]).await;
    let monitor = app.create_named("open").await;
    let id = monitor["id"].as_str().unwrap();
    let (_, page) = app.get_json(&format!("/api/v1/monitors/{id}/events")).await;
    assert_eq!(page["items"][0]["actor"], "anonymous");
}

#[actix_web::test]
async fn the_live_feed_takes_a_header_or_a_query_token() {
    let app = spawn_with_auth().await;
    let read = create_token(&app, "dashboard", "read").await;
    let ws = app.address.replace("http://", "ws://") + "/api/v1/ws";
    let refused = awc::Client::new().ws(ws.clone()).connect().await;
    assert!(
        matches!(
            refused,
            Err(awc::error::WsClientError::InvalidResponseStatus(s)) if s.as_u16() == 401
        ),
        "a WebSocket without a token must get 401"
    );
    let junk = awc::Client::new()
        .ws(format!("{ws}?access_token=uw_junk"))
        .connect()
        .await;
    assert!(matches!(
        junk,
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) if s.as_u16() == 401
    ));
    for query in [format!("?access_token={read}"), String::new()] {
        let mut request = awc::Client::new().ws(format!("{ws}{query}"));
        if query.is_empty() {
            request = request.bearer_auth(&read);
        }
        let (response, mut socket) = request.connect().await.expect("the feed opens");
        assert_eq!(response.status(), 101);
        let hello = crate::live_feed::message(&mut socket).await;
        assert_eq!(hello["type"], "hello");
    }
}

#[actix_web::test]
async fn a_revoked_token_stops_working_within_a_second_in_every_process() {
    let first = spawn_with_auth().await;
    let doomed = create_token(&first, "doomed", "read").await;
    // A second API process on the same database.
    let second = upwatch::startup::Application::build(first.settings.clone())
        .await
        .expect("a second API starts");
    let port = second.port().expect("it listens");
    actix_web::rt::spawn(second.run_until_stopped());
    let other = format!("http://127.0.0.1:{port}/api/v1/monitors");
    let status = |url: String, token: String| async move {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(status(other.clone(), doomed.clone()).await, StatusCode::OK);

    let revoke = send(
        &first,
        Method::DELETE,
        "/api/v1/tokens/doomed",
        Some(ADMIN),
        None,
    )
    .await;
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    let here = send(&first, Method::GET, "/api/v1/monitors", Some(&doomed), None).await;
    assert_eq!(
        here.status(),
        StatusCode::UNAUTHORIZED,
        "at once where it was revoked"
    );
    wait_for(
        "the other process to refuse the token",
        Duration::from_millis(1500),
        || {
            let (url, token) = (other.clone(), doomed.clone());
            async move { (status(url, token).await == StatusCode::UNAUTHORIZED).then_some(()) }
        },
    )
    .await;

    let listed = send(&first, Method::GET, "/api/v1/tokens", Some(ADMIN), None).await;
    let listed: Value = listed.json().await.unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bootstrap"]);
    assert!(
        !listed.to_string().contains(ADMIN),
        "listing never shows a secret"
    );
    let again = send(
        &first,
        Method::DELETE,
        "/api/v1/tokens/doomed",
        Some(ADMIN),
        None,
    )
    .await;
    assert_error(again, 404, "not_found").await;
}

#[actix_web::test]
async fn bad_token_requests_are_refused_with_the_field() {
    let app = spawn_with_auth().await;
    for (body, field) in [
        (json!({"scope": "read"}), "name"),
        (json!({"name": "system", "scope": "read"}), "name"),
        (json!({"name": "a b", "scope": "read"}), "name"),
        (json!({"name": "ok", "scope": "root"}), "scope"),
        (json!({"name": "ok", "scope": "read", "ttl": 3}), "ttl"),
    ] {
        let response = send(
            &app,
            Method::POST,
            "/api/v1/tokens",
            Some(ADMIN),
            Some(&body),
        )
        .await;
        let error = assert_error(response, 422, "validation_failed").await;
        assert_eq!(error["error"]["field"], field, "{body}");
    }
    create_token(&app, "twice", "read").await;
    let body = json!({"name": "twice", "scope": "write"});
    let response = send(
        &app,
        Method::POST,
        "/api/v1/tokens",
        Some(ADMIN),
        Some(&body),
    )
    .await;
    assert_error(response, 409, "conflict").await;
}

#[test]
fn tokens_made_on_the_command_line_work_and_revoke() {
    let (_, db_name, _) = test_settings(&[]);
    let url = format!("{}/{db_name}", postgres_base_url());
    let _database = crate::helpers::DatabaseGuard(db_name);
    let env = [("UPWATCH_DATABASE_URL", url.as_str())];
    let created = upwatch(&["token", "create", "ops", "--scope", "write"], &env);
    assert!(created.status.success(), "{created:?}");
    let secret = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("uw_") && secret.len() >= 43, "{secret}");
    let listed = upwatch(&["token", "list"], &env);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.starts_with("ops\twrite\t"), "{listed}");
    assert!(!listed.contains(&secret));
    let bad = upwatch(&["token", "create", "x", "--scope", "root"], &env);
    assert!(!bad.status.success());
    let revoked = upwatch(&["token", "revoke", "ops"], &env);
    assert!(revoked.status.success(), "{revoked:?}");
    let listed = upwatch(&["token", "list"], &env);
    assert!(listed.stdout.is_empty());
}

#[test]
fn tokens_mode_without_a_token_refuses_to_start() {
    let (_, db_name, _) = test_settings(&[]);
    let url = format!("{}/{db_name}", postgres_base_url());
    let _database = crate::helpers::DatabaseGuard(db_name);
    for env in [
        vec![("UPWATCH_AUTH", "tokens")],
        // Not loopback: tokens by default.
        vec![("UPWATCH_BIND", "0.0.0.0:0")],
    ] {
        let mut env = env.clone();
        env.push(("UPWATCH_DATABASE_URL", url.as_str()));
        env.push(("UPWATCH_ROLES", "api"));
        let output = upwatch(&["serve"], &env);
        assert_eq!(output.status.code(), Some(2), "{env:?}: {output:?}");
        let message = String::from_utf8_lossy(&output.stderr);
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
        assert!(message.contains("UPWATCH_AUTH"), "{message}");
    }
    let short = upwatch(&["serve"], &[("UPWATCH_BOOTSTRAP_TOKEN", "short")]);
    assert_eq!(short.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&short.stderr).contains("UPWATCH_BOOTSTRAP_TOKEN"));
}

#[actix_web::test]
async fn secrets_never_reach_the_log() {
    let (settings, db_name, key_prefix) = test_settings(&[]);
    let _database = crate::helpers::DatabaseGuard(db_name.clone());
    let _redis = crate::helpers::RedisGuard(key_prefix.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_upwatch"))
        .args(["serve", "--roles", "api"])
        .env(
            "UPWATCH_DATABASE_URL",
            format!("{}/{db_name}", postgres_base_url()),
        )
        .env("UPWATCH_REDIS_URL", settings.redis_url.expose())
        .env("UPWATCH_KEY_PREFIX", &key_prefix)
        .env("UPWATCH_BIND", format!("127.0.0.1:{port}"))
        .env("UPWATCH_AUTH", "tokens")
        .env("UPWATCH_BOOTSTRAP_TOKEN", ADMIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("upwatch starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_for("the API to listen", Duration::from_secs(30), || {
        let request = http.get(format!("{base}/healthz")).send();
        async move { request.await.ok().filter(|r| r.status().is_success()) }
    })
    .await;
    let junk = "uw_junk-secret-that-must-not-be-logged-0000";
    for token in [ADMIN, junk] {
        http.get(format!("{base}/api/v1/monitors"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        http.get(format!("{base}/api/v1/ws?access_token={token}"))
            .send()
            .await
            .unwrap();
        http.post(format!("{base}/api/v1/monitors"))
            .bearer_auth(token)
            .body("{not json")
            .header("content-type", "application/json")
            .send()
            .await
            .unwrap();
    }
    let made: Value = http
        .post(format!("{base}/api/v1/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "fresh", "scope": "read"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fresh = made["token"].as_str().unwrap().to_owned();
    terminate(&mut child);
    let mut log = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    assert!(
        log.contains("\"request\""),
        "the requests were logged: {log}"
    );
    for secret in [ADMIN, junk, fresh.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    let client = connect(&db_name).await;
    let stored: Vec<String> = client
        .query("SELECT encode(hash, 'escape') AS h FROM tokens", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("h"))
        .collect();
    assert!(
        stored.iter().all(|h| !h.contains(ADMIN)),
        "only hashes are stored"
    );
}

/// SIGTERM: the server drains and exits, flushing its log.
fn terminate(child: &mut std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}
