//! The HTTP probe and `upwatch check`, against a local target server whose
//! answers each test chooses by path.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use upwatch::domain::HttpMethod;
use upwatch::domain::probe::ProbeSpec;
use upwatch::probe::Prober;

use crate::helpers::http_spec;

/// Serves `/ok`, `/status/{code}`, `/slow` (answers after 10 s) and
/// `/redirect/{n}` (n hops, then 200) on a free port; returns its base URL.
fn spawn_target() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(|| {
        App::new()
            .route("/ok", web::to(|| async { HttpResponse::Ok().body("ok") }))
            .route(
                "/status/{code}",
                web::to(|code: web::Path<u16>| async move {
                    let status = actix_web::http::StatusCode::from_u16(*code).unwrap();
                    HttpResponse::build(status).finish()
                }),
            )
            .route(
                "/slow",
                web::to(|| async {
                    actix_web::rt::time::sleep(Duration::from_secs(10)).await;
                    HttpResponse::Ok().finish()
                }),
            )
            .route(
                "/redirect/{n}",
                web::to(|n: web::Path<u32>| async move {
                    match *n {
                        0 => HttpResponse::Ok().finish(),
                        n => HttpResponse::Found()
                            .insert_header(("Location", format!("/redirect/{}", n - 1)))
                            .finish(),
                    }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    actix_web::rt::spawn(server);
    format!("http://127.0.0.1:{port}")
}

fn spec(url: &str, timeout_ms: i64, expected: Option<&[i64]>) -> ProbeSpec {
    http_spec(url, HttpMethod::Get, expected, timeout_ms)
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// URL, timeout, expected statuses; then the expected up, HTTP status and error.
type ProbeCase<'a> = (
    String,
    i64,
    Option<&'a [i64]>,
    bool,
    Option<u16>,
    Option<&'a str>,
);

#[actix_web::test]
async fn probes_classify_status_timeout_refusal_and_redirects() {
    let target = spawn_target();
    let prober = Prober::new().unwrap();
    let refused = format!("http://127.0.0.1:{}/", closed_port());
    let cases: Vec<ProbeCase> = vec![
        (format!("{target}/ok"), 2000, None, true, Some(200), None),
        (
            format!("{target}/status/204"),
            2000,
            None,
            true,
            Some(204),
            None,
        ),
        (
            format!("{target}/status/503"),
            2000,
            None,
            false,
            Some(503),
            Some("status 503"),
        ),
        (
            format!("{target}/status/404"),
            2000,
            None,
            false,
            Some(404),
            Some("status 404"),
        ),
        (
            format!("{target}/status/503"),
            2000,
            Some(&[503]),
            true,
            Some(503),
            None,
        ),
        (
            format!("{target}/ok"),
            2000,
            Some(&[204]),
            false,
            Some(200),
            Some("status 200"),
        ),
        (
            format!("{target}/slow"),
            200,
            None,
            false,
            None,
            Some("timeout"),
        ),
        (refused, 2000, None, false, None, Some("connection refused")),
        (
            format!("{target}/redirect/5"),
            2000,
            None,
            true,
            Some(200),
            None,
        ),
        (
            format!("{target}/redirect/6"),
            2000,
            None,
            false,
            None,
            Some("too many redirects"),
        ),
    ];
    for (url, timeout, expected, up, http_status, error) in cases {
        let outcome = prober.probe(&spec(&url, timeout, expected)).await;
        assert_eq!(outcome.up, up, "{url}: {outcome:?}");
        assert_eq!(
            outcome.details.http_status, http_status,
            "{url}: {outcome:?}"
        );
        assert_eq!(outcome.error.as_deref(), error, "{url}: {outcome:?}");
        assert!(outcome.finished_at >= outcome.started_at);
    }
}

#[actix_web::test]
async fn a_hanging_target_is_cut_off_at_the_timeout_and_blocks_no_other_probe() {
    let target = spawn_target();
    let prober = Prober::new().unwrap();
    let slow = spec(&format!("{target}/slow"), 300, None);
    let fast = spec(&format!("{target}/ok"), 2000, None);
    let (hanging, quick) = futures_util::join!(prober.probe(&slow), prober.probe(&fast));
    assert_eq!(hanging.error.as_deref(), Some("timeout"));
    // The target answers after 10 s; the probe gave up at its own timeout.
    assert!(
        hanging.latency_ms >= 300 && hanging.latency_ms < 5000,
        "{hanging:?}"
    );
    assert!(quick.up, "{quick:?}");
}

#[actix_web::test]
async fn head_probes_use_head() {
    let target = spawn_target();
    let prober = Prober::new().unwrap();
    let head = http_spec(&format!("{target}/ok"), HttpMethod::Head, None, 2000);
    let outcome = prober.probe(&head).await;
    assert!(outcome.up, "{outcome:?}");
}

fn run_check(args: Vec<String>) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_upwatch"))
        .arg("check")
        .args(args)
        .output()
        .unwrap()
}

#[actix_web::test]
async fn check_exits_0_when_up_1_when_down_and_2_on_bad_arguments() {
    let target = spawn_target();
    let cases = [
        (vec![format!("{target}/ok")], 0, Some("up")),
        (vec![format!("{target}/status/500")], 1, Some("down")),
        (
            vec![
                format!("{target}/slow"),
                "--timeout-ms".into(),
                "200".into(),
            ],
            1,
            Some("down"),
        ),
        (vec!["not a url".into()], 2, None),
        (
            vec![format!("{target}/ok"), "--timeout-ms".into(), "5".into()],
            2,
            None,
        ),
    ];
    for (args, code, status) in cases {
        let shown = format!("{args:?}");
        let output = actix_web::rt::task::spawn_blocking(move || run_check(args))
            .await
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{shown}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if let Some(status) = status {
            let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(line["status"], status, "{shown}");
        }
    }
}
