//! Checks beyond "HTTP answered 2xx": conditions on what an HTTP target
//! answers, and TCP connects, against real local peers; through the prober,
//! the API, the whole pipeline and `upwatch check`.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use reqwest::Method;
use serde_json::{Value, json};
use upwatch::domain::check::{Check, CheckFields};
use upwatch::domain::condition::Conditions;
use upwatch::domain::probe::ProbeSpec;
use upwatch::domain::{MonitorUrl, TimeoutMs};
use upwatch::probe::Prober;

use crate::helpers::{assert_refused, spawn_pipeline, spawn_roles, wait_for};
use crate::pipeline::register;
use crate::receiver::Receiver;

/// `/json` answers a JSON health document with an `X-Version` header;
/// `/text` a plain body.
fn spawn_json_target() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| {
        App::new()
            .route(
                "/json",
                web::to(|| async {
                    HttpResponse::Ok()
                        .insert_header(("X-Version", "2.1.0"))
                        .json(json!({"status": "UP", "version": "2.1.0",
                            "checks": [{"name": "db", "ok": true, "ms": 4}], "load": 0.25}))
                }),
            )
            .route(
                "/text",
                web::to(|| async { HttpResponse::Ok().body("all systems go") }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}")
}

/// `upwatch check ARGS...`, off the test's thread (which serves the targets).
async fn run(args: Vec<String>) -> std::process::Output {
    actix_web::rt::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_upwatch"))
            .arg("check")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn spec(url: &str, conditions: &[&str]) -> ProbeSpec {
    ProbeSpec {
        check: Check::parse(CheckFields {
            conditions: Conditions::parse(conditions).unwrap(),
            ..CheckFields::of(MonitorUrl::parse(url).unwrap())
        })
        .unwrap(),
        timeout: TimeoutMs::parse(2000).unwrap(),
    }
}

#[actix_web::test]
async fn conditions_on_status_body_headers_and_time_decide_up_or_down() {
    let target = spawn_json_target();
    let prober = Prober::new().unwrap();
    let json = format!("{target}/json");
    let cases: [(&str, &[&str], Option<&str>); 9] = [
        (
            &json,
            &[
                "[STATUS] == 200",
                "[BODY].status == UP",
                "[RESPONSE_TIME] < 2000",
            ],
            None,
        ),
        (
            &json,
            &[
                "[BODY].checks[0].ok == true",
                "[BODY].checks[0].ms <= 4",
                "[BODY].load < 0.5",
            ],
            None,
        ),
        (
            &json,
            &["[HEADER].x-version == 2.1.0", "[BODY] contains \"version\""],
            None,
        ),
        (
            &json,
            &["[BODY].status == DOWN"],
            Some("condition failed: [BODY].status == DOWN (got UP)"),
        ),
        (
            &json,
            &["[BODY].checks[1].ok == true"],
            Some("condition failed: [BODY].checks[1].ok == true (got nothing)"),
        ),
        (
            &json,
            &["[HEADER].x-version != 2.1.0"],
            Some("condition failed: [HEADER].x-version != 2.1.0 (got 2.1.0)"),
        ),
        (
            &json,
            &["[STATUS] == 201"],
            Some("condition failed: [STATUS] == 201 (got 200)"),
        ),
        (
            &format!("{target}/text"),
            &["[BODY] !contains go"],
            Some("condition failed: [BODY] !contains go (got all systems go)"),
        ),
        (
            &format!("{target}/missing"),
            &["[BODY] contains x"],
            Some("status 404"),
        ),
    ];
    for (url, conditions, error) in cases {
        let seen = prober.probe(&spec(url, conditions)).await;
        assert_eq!(seen.up, error.is_none(), "{conditions:?}: {seen:?}");
        assert_eq!(seen.error.as_deref(), error, "{conditions:?}");
    }
}

#[actix_web::test]
async fn a_tcp_check_is_up_while_a_listener_accepts_and_down_once_it_closes() {
    let prober = Prober::new().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let open = prober
        .probe(&spec(
            &url,
            &["[CONNECTED] == true", "[RESPONSE_TIME] < 1s"],
        ))
        .await;
    assert!(open.up, "{open:?}");
    assert_eq!(open.details.http_status, None);
    let not_fast = prober.probe(&spec(&url, &["[RESPONSE_TIME] < 0"])).await;
    assert!(!not_fast.up);
    assert!(
        not_fast
            .error
            .unwrap()
            .starts_with("condition failed: [RESPONSE_TIME] < 0 (got ")
    );
    drop(listener);
    let closed = prober.probe(&spec(&url, &[])).await;
    assert!(!closed.up);
    assert_eq!(closed.error.as_deref(), Some("connection refused"));
}

#[actix_web::test]
async fn the_api_takes_conditions_and_tcp_urls_and_names_what_is_wrong() {
    let app = spawn_roles("api", &[]).await;
    let created = app
        .create_monitor(json!({"name": "health", "url": "http://127.0.0.1:9/json",
            "conditions": ["[STATUS] == 200", "[BODY].status == \"UP\""]}))
        .await;
    assert_eq!(
        created["conditions"],
        json!(["[STATUS] == 200", "[BODY].status == \"UP\""])
    );
    let tcp = app
        .create_monitor(json!({"name": "db", "url": "tcp://127.0.0.1:5432"}))
        .await;
    assert_eq!(tcp["method"], Value::Null);
    assert_eq!(tcp["conditions"], json!([]));
    for (body, field) in [
        (
            json!({"name": "x", "url": "http://h/", "conditions": ["[STATUS] == 200", "[STATUS] = 200"]}),
            "conditions[1]",
        ),
        (
            json!({"name": "x", "url": "http://h/", "conditions": ["[NOPE] == 1"]}),
            "conditions[0]",
        ),
        (
            json!({"name": "x", "url": "http://h/", "conditions": [7]}),
            "conditions[0]",
        ),
        (
            json!({"name": "x", "url": "http://h/", "conditions": "[STATUS] == 200"}),
            "conditions",
        ),
        (
            json!({"name": "x", "url": "http://h/", "conditions": vec!["[STATUS] == 200"; 21]}),
            "conditions",
        ),
        (json!({"name": "x", "url": "tcp://h"}), "url"),
        (json!({"name": "x", "url": "tcp://h:1/path"}), "url"),
        (
            json!({"name": "x", "url": "tcp://h:1", "method": "GET"}),
            "method",
        ),
        (
            json!({"name": "x", "url": "tcp://h:1", "expected_status": [200]}),
            "expected_status",
        ),
    ] {
        assert_refused(&app, &body, field).await;
    }
    let id = created["id"].as_str().unwrap();
    let patched = app
        .patch_monitor(
            id,
            &json!({"conditions": ["[BODY].version == 2.1.0"]}),
            None,
        )
        .await;
    assert_eq!(patched.status(), 200);
    let (_, events) = app.get_json(&format!("/api/v1/monitors/{id}/events")).await;
    let updated = &events["items"][1];
    assert_eq!(updated["data"]["changed"], json!(["conditions"]));
    assert_eq!(
        updated["data"]["config"]["conditions"],
        json!(["[BODY].version == 2.1.0"])
    );
    let (_, listed) = app.get_json("/api/v1/monitors?limit=10").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    let state = app
        .request(Method::GET, &format!("/api/v1/monitors/{id}/state"), None)
        .await;
    assert_eq!(state.status(), 200);
}

#[actix_web::test]
async fn the_pipeline_records_a_failed_condition_and_a_closed_tcp_port_as_down() {
    let app = spawn_pipeline(&[]).await;
    let target = spawn_json_target();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_url = format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let tcp = register(&app, "port", &tcp_url, json!({"failure_threshold": 1})).await;
    let strict = register(
        &app,
        "strict",
        &format!("{target}/json"),
        json!({"failure_threshold": 1, "conditions": ["[BODY].version == 3.0.0"]}),
    )
    .await;
    let status_of = |id: String| {
        let app = &app;
        async move {
            let (_, m) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
            m["status"].as_str().unwrap().to_owned()
        }
    };
    wait_for(
        "the tcp monitor to be up",
        Duration::from_secs(30),
        || async { (status_of(tcp.clone()).await == "up").then_some(()) },
    )
    .await;
    wait_for(
        "the strict monitor to be down",
        Duration::from_secs(30),
        || async { (status_of(strict.clone()).await == "down").then_some(()) },
    )
    .await;
    let (_, results) = app
        .get_json(&format!("/api/v1/monitors/{strict}/results?limit=1"))
        .await;
    assert_eq!(
        results["items"][0]["error"],
        "condition failed: [BODY].version == 3.0.0 (got 2.1.0)"
    );
    assert_eq!(results["items"][0]["http_status"], 200);
    drop(listener);
    wait_for(
        "the tcp monitor to be down",
        Duration::from_secs(30),
        || async { (status_of(tcp.clone()).await == "down").then_some(()) },
    )
    .await;
    let (_, results) = app
        .get_json(&format!("/api/v1/monitors/{tcp}/results?limit=1"))
        .await;
    assert_eq!(results["items"][0]["error"], "connection refused");
}

#[actix_web::test]
async fn upwatch_check_takes_conditions_and_tcp_urls() {
    let target = spawn_json_target();
    let json = format!("{target}/json");
    let up = run(vec![
        json.clone(),
        "--condition".into(),
        "[BODY].status == UP".into(),
    ])
    .await;
    assert_eq!(up.status.code(), Some(0), "{up:?}");
    let down = run(vec![
        json.clone(),
        "--condition".into(),
        "[BODY].status == DOWN".into(),
    ])
    .await;
    assert_eq!(down.status.code(), Some(1));
    let line: Value = serde_json::from_slice(&down.stdout).unwrap();
    assert_eq!(
        line["error"],
        "condition failed: [BODY].status == DOWN (got UP)"
    );
    let junk = run(vec![json, "--condition".into(), "[BODY] ~ x".into()]).await;
    assert_eq!(junk.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&junk.stderr).contains("--condition"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = format!("tcp://127.0.0.1:{}", listener.local_addr().unwrap().port());
    assert_eq!(run(vec![tcp.clone()]).await.status.code(), Some(0));
    drop(listener);
    let refused = run(vec![tcp]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        serde_json::from_slice::<Value>(&refused.stdout).unwrap()["error"],
        "connection refused"
    );
}

#[actix_web::test]
async fn a_post_probe_sends_its_body_and_headers() {
    let receiver = Receiver::start();
    let prober = Prober::new().unwrap();
    let spec = ProbeSpec {
        check: Check::parse(CheckFields {
            method: Some(upwatch::domain::HttpMethod::Post),
            headers: upwatch::domain::check::RequestHeaders::parse(&[
                ("Content-Type", "application/json"),
                ("X-Probe-Token", "t0ken"),
            ])
            .unwrap(),
            body: Some(upwatch::domain::check::RequestBody::parse(r#"{"ping": 1}"#).unwrap()),
            ..CheckFields::of(MonitorUrl::parse(&receiver.url("/rpc")).unwrap())
        })
        .unwrap(),
        timeout: TimeoutMs::parse(2000).unwrap(),
    };
    assert!(prober.probe(&spec).await.up);
    let got = &receiver.received_at("/rpc")[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.body, br#"{"ping": 1}"#);
    assert_eq!(got.header("x-probe-token"), Some("t0ken"));
    assert_eq!(got.header("content-type"), Some("application/json"));

    let app = spawn_roles("api", &[]).await;
    let created = app
        .create_monitor(
            json!({"name": "rpc", "url": receiver.url("/rpc"), "method": "POST",
            "headers": {"X-Probe-Token": "t0ken"}, "body": "{}"}),
        )
        .await;
    assert_eq!(created["headers"], json!({"X-Probe-Token": "t0ken"}));
    assert_eq!(created["body"], "{}");
    for (body, field) in [
        (
            json!({"name": "x", "url": "http://h/", "body": "{}"}),
            "body",
        ),
        (
            json!({"name": "x", "url": "http://h/", "method": "POST", "body": "b".repeat(8193)}),
            "body",
        ),
        (
            json!({"name": "x", "url": "http://h/", "headers": {"X-Bad": "a\r\nInjected: 1"}}),
            "headers",
        ),
        (
            json!({"name": "x", "url": "http://h/", "headers": {"Bad Name": "v"}}),
            "headers",
        ),
        (
            json!({"name": "x", "url": "http://h/", "headers": {"X-Number": 7}}),
            "headers",
        ),
        (
            json!({"name": "x", "url": "http://h/", "headers": ["X-A: b"]}),
            "headers",
        ),
        (
            json!({"name": "x", "url": "tcp://h:1", "headers": {"X-A": "b"}}),
            "headers",
        ),
        (
            json!({"name": "x", "url": "http://h/", "method": "PUT"}),
            "method",
        ),
    ] {
        assert_refused(&app, &body, field).await;
    }
    let id = created["id"].as_str().unwrap();
    let cleared = app
        .patch_monitor(
            id,
            &json!({"body": null, "method": "GET", "headers": null}),
            None,
        )
        .await;
    assert_eq!(cleared.status(), 200);
    let cleared: Value = cleared.json().await.unwrap();
    assert_eq!(
        (&cleared["body"], &cleared["headers"]),
        (&Value::Null, &json!({}))
    );
}

/// A TCP server that answers every connection with `reply` and closes it.
fn raw_server(reply: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(&reply);
        }
    });
    format!("http://127.0.0.1:{port}/")
}

#[actix_web::test]
async fn broken_http_answers_are_short_stable_protocol_errors() {
    let prober = Prober::new().unwrap();
    let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..2000 {
        huge.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(500)).as_bytes());
    }
    huge.extend_from_slice(b"\r\n");
    let cases = [
        (
            b"garbage that is not http\r\n\r\n".to_vec(),
            "protocol: invalid HTTP version",
        ),
        (
            b"HTTP/1.1 2000 OK\r\n\r\n".to_vec(),
            "protocol: invalid status code",
        ),
        (huge, "protocol: response headers too large"),
        (
            b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n".to_vec(),
            "protocol: invalid header",
        ),
        (
            Vec::new(),
            "protocol: connection closed before the response",
        ),
    ];
    for (reply, expected) in cases {
        let url = raw_server(reply);
        let seen = prober.probe(&spec(&url, &[])).await;
        assert!(!seen.up);
        assert_eq!(seen.error.as_deref(), Some(expected), "{url}");
    }
}

#[actix_web::test]
async fn a_grpc_check_follows_the_health_servers_answer_whole_and_per_service() {
    use tonic_health::ServingStatus;
    let (reporter, service) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async {
                    let _ = stopped.await;
                },
            ),
    );
    let prober = Prober::new().unwrap();
    let whole = format!("grpc://127.0.0.1:{port}");
    let named = format!("grpc://127.0.0.1:{port}/orders.v1.Orders");
    let probe = |url: String| {
        let prober = prober.clone();
        async move { prober.probe(&spec(&url, &["[CONNECTED] == true"])).await }
    };
    assert!(probe(whole.clone()).await.up, "the whole server serves");
    let unknown = probe(named.clone()).await;
    assert_eq!(unknown.error.as_deref(), Some("grpc: SERVICE_UNKNOWN"));

    reporter
        .set_service_status("orders.v1.Orders", ServingStatus::Serving)
        .await;
    assert!(probe(named.clone()).await.up);
    reporter
        .set_service_status("orders.v1.Orders", ServingStatus::NotServing)
        .await;
    let not_serving = probe(named.clone()).await;
    assert!(!not_serving.up);
    assert_eq!(not_serving.error.as_deref(), Some("grpc: NOT_SERVING"));
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    assert_eq!(
        probe(whole.clone()).await.error.as_deref(),
        Some("grpc: NOT_SERVING")
    );
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    assert!(probe(whole.clone()).await.up);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let gone = probe(whole).await;
    assert_eq!(gone.error.as_deref(), Some("connection refused"));

    let app = spawn_roles("api", &[]).await;
    let created = app
        .create_monitor(json!({"name": "orders", "url": named}))
        .await;
    assert_eq!(created["url"], named);
    let with_headers = json!({"name": "x", "url": "grpc://h:1", "headers": {"a": "b"}});
    assert_refused(&app, &with_headers, "headers").await;
    assert_refused(&app, &json!({"name": "y", "url": "grpcs://h"}), "url").await;
}

#[actix_web::test]
async fn tls_speaking_checks_verify_against_the_ca_file_and_report_the_expiry() {
    use crate::tls_target::TlsTarget;
    use upwatch::probe::tls::TrustedRoots;
    let target = TlsTarget::start(10).await;
    let roots = TrustedRoots::load(&target.certificates.ca_file).unwrap();
    let trusting = Prober::trusting(&roots).unwrap();
    let port = target.port;
    for url in [
        format!("https://localhost:{port}/health"),
        format!("tls://localhost:{port}"),
        format!("tls://127.0.0.1:{port}"),
    ] {
        let seen = trusting
            .probe(&spec(&url, &["[CERTIFICATE_EXPIRATION] > 9d"]))
            .await;
        assert!(seen.up, "{url}: {seen:?}");
        assert_eq!(
            seen.details.certificate_expires_at,
            Some(target.certificates.not_after),
            "{url}"
        );
        let soon = trusting
            .probe(&spec(&url, &["[CERTIFICATE_EXPIRATION] > 20d"]))
            .await;
        let error = soon.error.unwrap();
        assert!(
            error.starts_with("condition failed: [CERTIFICATE_EXPIRATION] > 20d (got 9d23h"),
            "{url}: {error}"
        );
    }
    let untrusting = Prober::new().unwrap();
    for url in [
        format!("https://localhost:{port}/"),
        format!("tls://localhost:{port}"),
    ] {
        let seen = untrusting.probe(&spec(&url, &[])).await;
        assert!(!seen.up);
        assert!(
            seen.error.as_deref().unwrap().starts_with("tls"),
            "{url}: {seen:?}"
        );
    }
    let wrong_name = untrusting
        .probe(&spec(&format!("tls://127.0.0.2:{port}"), &[]))
        .await;
    assert!(!wrong_name.up);

    // The setting reaches the workers, and the expiry the stored results.
    let app = spawn_pipeline(&[(
        "UPWATCH_TLS_CA_FILE",
        target.certificates.ca_file.display().to_string(),
    )])
    .await;
    for (name, url) in [
        ("tls", format!("tls://localhost:{port}")),
        ("https", format!("https://localhost:{port}/health")),
    ] {
        let id = register(&app, name, &url, json!({})).await;
        let result = wait_for("a result", Duration::from_secs(30), || async {
            let (_, page) = app
                .get_json(&format!("/api/v1/monitors/{id}/results?limit=1"))
                .await;
            page["items"].as_array().unwrap().first().cloned()
        })
        .await;
        assert_eq!(result["status"], "up", "{url}: {result}");
        let expires = time::OffsetDateTime::parse(
            result["certificate_expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(expires, target.certificates.not_after, "{url}");
    }

    // `upwatch check` reads UPWATCH_TLS_CA_FILE too.
    let url = format!("tls://localhost:{port}");
    let ca_file = target.certificates.ca_file.clone();
    let (trusted, untrusted) = actix_web::rt::task::spawn_blocking(move || {
        let run = |ca: Option<&std::path::Path>| {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_upwatch"));
            command
                .args(["check", &url])
                .env_remove("UPWATCH_TLS_CA_FILE");
            if let Some(ca) = ca {
                command.env("UPWATCH_TLS_CA_FILE", ca);
            }
            command.output().unwrap()
        };
        (run(Some(&ca_file)), run(None))
    })
    .await
    .unwrap();
    assert_eq!(trusted.status.code(), Some(0), "{trusted:?}");
    let line: Value = serde_json::from_slice(&trusted.stdout).unwrap();
    assert!(line["certificate_expires_at"].is_string(), "{line}");
    assert_eq!(untrusted.status.code(), Some(1));
    let line: Value = serde_json::from_slice(&untrusted.stdout).unwrap();
    assert!(line["error"].as_str().unwrap().starts_with("tls"), "{line}");
}

#[actix_web::test]
async fn upwatch_check_sends_the_method_headers_and_body_it_is_given() {
    let receiver = Receiver::start();
    let url = receiver.url("/rpc");
    let args = |extra: &[&str]| {
        let mut all = vec![url.clone()];
        all.extend(extra.iter().map(|s| (*s).to_owned()));
        all
    };
    let sent = run(args(&[
        "--method",
        "POST",
        "--header",
        "X-Token: s3",
        "--body",
        "{\"a\":1}",
    ]))
    .await;
    assert_eq!(sent.status.code(), Some(0), "{sent:?}");
    let got = &receiver.received_at("/rpc")[0];
    assert_eq!(
        (got.method.as_str(), got.body.as_slice()),
        ("POST", b"{\"a\":1}".as_slice())
    );
    assert_eq!(got.header("x-token"), Some("s3"));
    for (extra, flag) in [
        (vec!["--body", "{}"], "--body"),
        (vec!["--header", "no colon"], "--header"),
        (vec!["--header", "X-A: a\rb"], "--header"),
        (vec!["--method", "PUT"], "--method"),
    ] {
        let refused = run(args(&extra)).await;
        assert_eq!(refused.status.code(), Some(2), "{extra:?}");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains(flag), "{extra:?}: {stderr}");
    }
}

#[actix_web::test]
async fn a_grpcs_check_trusts_the_ca_file() {
    use crate::tls_target::TestCertificates;
    use tonic::transport::{Identity, ServerTlsConfig};
    use upwatch::probe::tls::TrustedRoots;
    let certificates = TestCertificates::issue(30);
    let (_reporter, service) = tonic_health::server::health_reporter();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let identity = Identity::from_pem(&certificates.leaf_pem, &certificates.key_pem);
    actix_web::rt::spawn(
        tonic::transport::Server::builder()
            .tls_config(ServerTlsConfig::new().identity(identity))
            .unwrap()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let url = format!("grpcs://localhost:{port}");
    let roots = TrustedRoots::load(&certificates.ca_file).unwrap();
    let trusted = Prober::trusting(&roots)
        .unwrap()
        .probe(&spec(&url, &[]))
        .await;
    assert!(trusted.up, "{trusted:?}");
    let untrusted = Prober::new().unwrap().probe(&spec(&url, &[])).await;
    assert!(!untrusted.up);
    assert!(
        untrusted.error.as_deref().unwrap().starts_with("tls"),
        "{untrusted:?}"
    );
}

#[actix_web::test]
async fn probes_read_the_reported_version_where_the_monitor_says() {
    let target = spawn_json_target();
    let prober = Prober::new().unwrap();
    let with_version = |source: Option<&str>| ProbeSpec {
        check: Check::parse(CheckFields {
            expected_version: Some(
                upwatch::domain::version::ExpectedVersion::parse("3.0.0").unwrap(),
            ),
            version_source: source
                .map(|s| upwatch::domain::version::VersionSource::parse(s).unwrap()),
            ..CheckFields::of(MonitorUrl::parse(&format!("{target}/json")).unwrap())
        })
        .unwrap(),
        timeout: TimeoutMs::parse(2000).unwrap(),
    };
    let default = prober.probe(&with_version(None)).await;
    assert!(default.up, "drift never changes the status");
    assert_eq!(default.details.observed_version.as_deref(), Some("2.1.0"));
    let header = prober
        .probe(&with_version(Some("[HEADER].x-version")))
        .await;
    assert_eq!(header.details.observed_version.as_deref(), Some("2.1.0"));
    let missing = prober.probe(&with_version(Some("[BODY].build"))).await;
    assert_eq!(missing.details.observed_version, None);
    let unasked = prober.probe(&spec(&format!("{target}/json"), &[])).await;
    assert_eq!(
        unasked.details.observed_version, None,
        "no expectation, nothing read"
    );

    let app = spawn_roles("api", &[]).await;
    let created = app
        .create_monitor(
            json!({"name": "v", "url": format!("{target}/json"), "expected_version": "3.0.0"}),
        )
        .await;
    assert_eq!(created["expected_version"], "3.0.0");
    assert_eq!(created["version_source"], "[BODY].version");
    for (body, field) in [
        (
            json!({"name": "x", "url": "http://h/", "expected_version": ""}),
            "expected_version",
        ),
        (
            json!({"name": "x", "url": "http://h/", "expected_version": "1", "version_source": "[STATUS]"}),
            "version_source",
        ),
        (
            json!({"name": "x", "url": "tcp://h:1", "expected_version": "1"}),
            "expected_version",
        ),
    ] {
        assert_refused(&app, &body, field).await;
    }

    let drifted = run(vec![
        format!("{target}/json"),
        "--expected-version".into(),
        "3.0.0".into(),
    ])
    .await;
    assert_eq!(drifted.status.code(), Some(0));
    let line: Value = serde_json::from_slice(&drifted.stdout).unwrap();
    assert_eq!(
        (&line["observed_version"], &line["drift"]),
        (&json!("2.1.0"), &json!(true))
    );
}

/// `/version` answers `{"version": <what the test set>}`.
fn spawn_versioned_target(version: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        let version = version.clone();
        App::new().route(
            "/version",
            web::to(move || {
                let version = version.lock().unwrap().clone();
                async move { HttpResponse::Ok().json(json!({"version": version})) }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}/version")
}

#[actix_web::test]
async fn drift_is_recorded_once_each_way_and_notified_across_many_results() {
    let version = std::sync::Arc::new(std::sync::Mutex::new("2.0.0".to_owned()));
    let url = spawn_versioned_target(version.clone());
    let receiver = Receiver::start();
    let app = spawn_pipeline(&[]).await;
    let channel =
        json!({"name": "drift", "kind": "webhook", "url": receiver.url("/drift"), "on": ["drift"]});
    let response = app
        .request(Method::POST, "/api/v1/channels", Some(&channel))
        .await;
    assert_eq!(response.status(), 201);
    let id = register(&app, "api", &url, json!({"expected_version": "2.0.0"})).await;
    let mut live = crate::live_feed::open(&app.address, &format!("?monitor_id={id}")).await;
    crate::live_feed::hello(&mut live).await;
    let monitor = |id: String| {
        let app = &app;
        async move { app.get_json(&format!("/api/v1/monitors/{id}")).await.1 }
    };
    wait_for(
        "the version to be seen",
        Duration::from_secs(30),
        || async {
            let m = monitor(id.clone()).await;
            (m["observed_version"] == "2.0.0").then_some(())
        },
    )
    .await;
    *version.lock().unwrap() = "1.9.0".to_owned();
    let drifting = wait_for("the drift", Duration::from_secs(30), || async {
        let m = monitor(id.clone()).await;
        (m["drift"] == true).then_some(m)
    })
    .await;
    assert_eq!(drifting["observed_version"], "1.9.0");
    let live_drift = loop {
        let message = crate::live_feed::message(&mut live).await;
        if message["type"] == "drift" {
            break message;
        }
    };
    assert_eq!(
        (&live_drift["observed"], &live_drift["resolved"]),
        (&json!("1.9.0"), &json!(false))
    );
    assert_eq!(drifting["status"], "up", "drift never changes the status");
    // Several more results on the old version, then back.
    let seen = crate::pipeline::results(&app, &id).await.len();
    crate::pipeline::wait_for_results(&app, &id, seen + 3).await;
    *version.lock().unwrap() = "2.0.0".to_owned();
    wait_for("the drift to end", Duration::from_secs(30), || async {
        let m = monitor(id.clone()).await;
        (m["drift"] == false && m["observed_version"] == "2.0.0").then_some(())
    })
    .await;

    let (_, events) = app
        .get_json(&format!("/api/v1/monitors/{id}/events?limit=100"))
        .await;
    let drifts: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("version_drift"))
        .collect();
    let types: Vec<&str> = drifts.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["version_drift_detected", "version_drift_resolved"]);
    assert_eq!(
        (
            &drifts[0]["data"]["expected"],
            &drifts[0]["data"]["observed"]
        ),
        (&json!("2.0.0"), &json!("1.9.0"))
    );
    assert!(drifts[0]["data"]["job_id"].is_string() && drifts[0]["data"]["checked_at"].is_string());
    let results = crate::pipeline::results(&app, &id).await;
    assert!(results.iter().any(|r| r["observed_version"] == "1.9.0"));

    let notified = wait_for("both drift webhooks", Duration::from_secs(30), || async {
        let got = receiver.received_at("/drift");
        (got.len() == 2).then_some(got)
    })
    .await;
    let bodies: Vec<Value> = notified.iter().map(|r| r.json()).collect();
    assert_eq!(bodies[0]["kind"], "drift");
    assert_eq!(
        (
            &bodies[0]["expected"],
            &bodies[0]["observed"],
            &bodies[0]["resolved"]
        ),
        (&json!("2.0.0"), &json!("1.9.0"), &json!(false))
    );
    assert_eq!(bodies[1]["resolved"], true);
    assert_eq!(bodies[0]["seq"], drifts[0]["seq"]);
    let (status, _) = app.get_json(&format!("/api/v1/monitors/{id}/state")).await;
    assert_eq!(status, 200, "the audit view replays drift events");

    // The live feed's catch-up carries both drift messages, in log order.
    let mut socket =
        crate::live_feed::open(&app.address, &format!("?after_seq=0&monitor_id={id}")).await;
    crate::live_feed::hello(&mut socket).await;
    let mut drift_messages = Vec::new();
    while drift_messages.len() < 2 {
        let message = crate::live_feed::message(&mut socket).await;
        if message["type"] == "drift" {
            drift_messages.push(message);
        } else {
            assert_eq!(message["type"], "transition", "{message}");
        }
    }
    assert_eq!(drift_messages[0]["seq"], drifts[0]["seq"]);
    assert_eq!(
        (
            &drift_messages[0]["expected"],
            &drift_messages[0]["observed"]
        ),
        (&json!("2.0.0"), &json!("1.9.0"))
    );
    assert_eq!(
        (
            &drift_messages[0]["resolved"],
            &drift_messages[1]["resolved"]
        ),
        (&json!(false), &json!(true))
    );
    assert_eq!(drift_messages[1]["name"], "api");
    assert!(drift_messages[0]["at"].is_string());
}
