//! The OpenAPI document: complete (every route of the contract), and true
//! (what the server answers conforms to the schemas it states). Swagger UI
//! is served from the binary.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_pipeline};

/// Every operation of the contract and its additions.
const OPERATIONS: [(&str, &str); 34] = [
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("post", "/api/v1/monitors"),
    ("get", "/api/v1/monitors"),
    ("post", "/api/v1/monitors/bulk"),
    ("get", "/api/v1/monitors/{id}"),
    ("patch", "/api/v1/monitors/{id}"),
    ("delete", "/api/v1/monitors/{id}"),
    ("post", "/api/v1/monitors/{id}/pause"),
    ("post", "/api/v1/monitors/{id}/resume"),
    ("get", "/api/v1/monitors/{id}/events"),
    ("get", "/api/v1/monitors/{id}/results"),
    ("get", "/api/v1/monitors/{id}/state"),
    ("get", "/api/v1/monitors/{id}/deliveries"),
    ("post", "/api/v1/channels"),
    ("get", "/api/v1/channels"),
    ("get", "/api/v1/channels/{id}"),
    ("patch", "/api/v1/channels/{id}"),
    ("delete", "/api/v1/channels/{id}"),
    ("post", "/api/v1/channels/{id}/test"),
    ("get", "/api/v1/channels/{id}/deliveries"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/ws"),
    ("post", "/api/v1/apply"),
    ("get", "/api/v1/export"),
    ("post", "/api/v1/tokens"),
    ("get", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{name}"),
    ("get", "/api/v1/summary"),
    ("get", "/api/v1/uptime"),
    ("get", "/api/v1/monitors/{id}/uptime"),
    ("get", "/badge/{id}/status.svg"),
    ("get", "/badge/{id}/uptime.svg"),
];

async fn document(app: &TestApp) -> Value {
    let (status, document) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    document
}

/// Asserts that `body` (the answer of `method template` with `status`)
/// conforms to the schema the document gives for it.
fn assert_conforms(document: &Value, method: &str, template: &str, status: u16, body: &Value) {
    let errors = violations(document, method, template, status, body);
    assert!(
        errors.is_empty(),
        "{method} {template} {status} does not conform: {errors:?}\n{body}"
    );
}

fn violations(
    document: &Value,
    method: &str,
    template: &str,
    status: u16,
    body: &Value,
) -> Vec<String> {
    let pointer = format!(
        "/paths/{}/{method}/responses/{status}/content/application~1json/schema",
        template.replace('~', "~0").replace('/', "~1")
    );
    let schema = document
        .pointer(&pointer)
        .unwrap_or_else(|| panic!("no schema for {method} {template} {status}"));
    // The whole document as the root, so `#/components/...` references resolve.
    let mut root = document.clone();
    root.as_object_mut()
        .unwrap()
        .insert("allOf".into(), json!([schema]));
    let validator = jsonschema::validator_for(&root).expect("the schema compiles");
    validator
        .iter_errors(body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[actix_web::test]
async fn the_document_names_every_route_and_each_exists() {
    let app = spawn_pipeline(&[]).await;
    let document = document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    for (method, template) in OPERATIONS {
        let operation = &document["paths"][template][method];
        assert!(
            operation.is_object(),
            "{method} {template} is not documented"
        );
        assert!(operation["operationId"].is_string(), "{method} {template}");
        assert!(operation["responses"].is_object(), "{method} {template}");
    }
    let documented: usize = document["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        OPERATIONS.len(),
        "no operation beyond the contract's is undocumented here"
    );
    // Every documented path is served: none answers "no such endpoint".
    let nobody = uuid::Uuid::new_v4().to_string();
    for (method, template) in OPERATIONS {
        let path = template
            .replace("{id}", &nobody)
            .replace("{name}", "nobody");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app.request(method.clone(), &path, None).await;
        if response.status() == 404 {
            let body: Value = response.json().await.unwrap();
            assert_ne!(
                body["error"]["message"], "no such endpoint",
                "{method} {path}"
            );
        }
    }
}

#[actix_web::test]
async fn answers_conform_to_the_document() {
    let app = spawn_pipeline(&[]).await;
    let target = crate::target::Target::start();
    let document = document(&app).await;
    let check = |method: &str, template: &str, status: u16, body: &Value| {
        assert_conforms(&document, method, template, status, body)
    };

    let body = json!({"name": "conforming", "url": target.url("/health"), "interval_seconds": 1,
        "tags": ["prod"], "conditions": ["[STATUS] == 200"], "expected_version": "1.0"});
    let created = app.post_monitor(&body).await;
    assert_eq!(created.status(), 201);
    let monitor: Value = created.json().await.unwrap();
    check("post", "/api/v1/monitors", 201, &monitor);
    assert!(
        !violations(&document, "post", "/api/v1/tokens", 201, &monitor).is_empty(),
        "a monitor is not a token: the check can fail"
    );
    let id = monitor["id"].as_str().unwrap().to_owned();
    crate::helpers::wait_for("a result", std::time::Duration::from_secs(30), || async {
        let (_, page) = app
            .get_json(&format!("/api/v1/monitors/{id}/results"))
            .await;
        (!page["items"].as_array().unwrap().is_empty()).then_some(())
    })
    .await;
    let channel = app
        .request(
            Method::POST,
            "/api/v1/channels",
            Some(&json!({"name": "hook", "kind": "webhook", "url": target.url("/status/204"), "secret": "sixteen-characters-at-least"})),
        )
        .await;
    assert_eq!(channel.status(), 201);
    let channel: Value = channel.json().await.unwrap();
    check("post", "/api/v1/channels", 201, &channel);
    let channel_id = channel["id"].as_str().unwrap().to_owned();
    let test = app
        .post_empty(&format!("/api/v1/channels/{channel_id}/test"))
        .await;
    assert_eq!(test.status(), 200);
    check(
        "post",
        "/api/v1/channels/{id}/test",
        200,
        &test.json().await.unwrap(),
    );

    let reads = [
        ("/healthz", "/healthz"),
        ("/readyz", "/readyz"),
        ("/api/v1/monitors", "/api/v1/monitors"),
        (&format!("/api/v1/monitors/{id}"), "/api/v1/monitors/{id}"),
        (
            &format!("/api/v1/monitors/{id}/events"),
            "/api/v1/monitors/{id}/events",
        ),
        (
            &format!("/api/v1/monitors/{id}/results"),
            "/api/v1/monitors/{id}/results",
        ),
        (
            &format!("/api/v1/monitors/{id}/state"),
            "/api/v1/monitors/{id}/state",
        ),
        (
            &format!("/api/v1/monitors/{id}/deliveries"),
            "/api/v1/monitors/{id}/deliveries",
        ),
        ("/api/v1/channels", "/api/v1/channels"),
        (
            &format!("/api/v1/channels/{channel_id}"),
            "/api/v1/channels/{id}",
        ),
        (
            &format!("/api/v1/channels/{channel_id}/deliveries"),
            "/api/v1/channels/{id}/deliveries",
        ),
        ("/api/v1/events", "/api/v1/events"),
        ("/api/v1/export", "/api/v1/export"),
        ("/api/v1/tokens", "/api/v1/tokens"),
        ("/api/v1/summary", "/api/v1/summary"),
        (&format!("/api/v1/uptime?monitor_id={id}"), "/api/v1/uptime"),
        (
            &format!("/api/v1/monitors/{id}/uptime"),
            "/api/v1/monitors/{id}/uptime",
        ),
    ];
    for (path, template) in reads {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        check("get", template, 200, &body);
    }
    let paused = app
        .post_empty(&format!("/api/v1/monitors/{id}/pause"))
        .await;
    check(
        "post",
        "/api/v1/monitors/{id}/pause",
        200,
        &paused.json().await.unwrap(),
    );
    let (_, plan) = {
        let response = app
            .request(
                Method::POST,
                "/api/v1/apply?dry_run=true",
                Some(&json!({"monitors": []})),
            )
            .await;
        (response.status(), response.json::<Value>().await.unwrap())
    };
    check("post", "/api/v1/apply", 200, &plan);
    let token = app
        .request(
            Method::POST,
            "/api/v1/tokens",
            Some(&json!({"name": "ci", "scope": "read"})),
        )
        .await;
    assert_eq!(token.status(), 201);
    check("post", "/api/v1/tokens", 201, &token.json().await.unwrap());

    // Errors conform too.
    let refused = app.post_monitor(&json!({"name": ""})).await;
    assert_eq!(refused.status(), 422);
    check(
        "post",
        "/api/v1/monitors",
        422,
        &refused.json().await.unwrap(),
    );
    let missing = app
        .get_json(&format!("/api/v1/monitors/{}", uuid::Uuid::new_v4()))
        .await;
    check("get", "/api/v1/monitors/{id}", 404, &missing.1);
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = crate::helpers::spawn_app().await;
    let page = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui-bundle.js"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing from a CDN: {html}"
    );
    let script = app
        .http
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    assert!(script.bytes().await.unwrap().len() > 100_000);
    let initializer = app
        .http
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert!(initializer.text().await.unwrap().contains("/openapi.json"));
}
