//! `spawn_app`: a real upwatch API on a random port, with its own freshly
//! created database and its own Redis key prefix, dropped again at the end.

use std::sync::OnceLock;

use reqwest::{Method, Response};
use serde_json::Value;
use upwatch::config::Settings;
use upwatch::startup::Application;
use upwatch::telemetry;
use uuid::Uuid;

/// Server URL without a database name; `UPWATCH_TEST_DATABASE_URL` overrides.
pub fn postgres_base_url() -> String {
    std::env::var("UPWATCH_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("UPWATCH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// Logs go nowhere unless `TEST_LOG` is set.
fn init_logging() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("TEST_LOG").is_ok() {
            telemetry::init(telemetry::subscriber("test", "debug", std::io::stdout));
        } else {
            telemetry::init(telemetry::subscriber("test", "info", std::io::sink));
        }
    });
}

pub struct TestApp {
    pub address: String,
    pub db_name: String,
    pub key_prefix: String,
    _redis: RedisGuard,
    _database: DatabaseGuard,
    pub settings: Settings,
    pub http: reqwest::Client,
}

/// Settings for a fresh database and prefix, API role only; `extra`
/// overrides any variable.
pub fn test_settings(extra: &[(&str, String)]) -> (Settings, String, String) {
    test_settings_for("api", extra)
}

/// The same, for the given `--roles`.
pub fn test_settings_for(roles: &str, extra: &[(&str, String)]) -> (Settings, String, String) {
    let db_name = format!("upwatch_test_{}", Uuid::new_v4().simple());
    let key_prefix = format!("upwatch-test-{}", Uuid::new_v4().simple());
    let mut vars: Vec<(String, String)> = vec![
        (
            "UPWATCH_DATABASE_URL".into(),
            format!("{}/{db_name}", postgres_base_url()),
        ),
        ("UPWATCH_REDIS_URL".into(), redis_url()),
        ("UPWATCH_BIND".into(), "127.0.0.1:0".into()),
        ("UPWATCH_KEY_PREFIX".into(), key_prefix.clone()),
        ("UPWATCH_STARTUP_TIMEOUT_SECONDS".into(), "10".into()),
        ("UPWATCH_DB_POOL_SIZE".into(), "8".into()),
        ("UPWATCH_PARTITIONS".into(), "4".into()),
    ];
    for (name, value) in extra {
        vars.retain(|(n, _)| n != name);
        vars.push(((*name).to_owned(), value.clone()));
    }
    let settings = Settings::load(
        |name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()),
        Some(roles),
    )
    .expect("test settings are valid");
    (settings, db_name, key_prefix)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(extra: &[(&str, String)]) -> TestApp {
    spawn_roles("api", extra).await
}

/// Every role in one process: the API and the whole probe pipeline.
pub async fn spawn_pipeline(extra: &[(&str, String)]) -> TestApp {
    spawn_roles("all", extra).await
}

pub async fn spawn_roles(roles: &str, extra: &[(&str, String)]) -> TestApp {
    init_logging();
    let (settings, db_name, key_prefix) = test_settings_for(roles, extra);
    let app = Application::build(settings.clone())
        .await
        .expect("the application starts");
    let port = app.port().expect("the api role listens");
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        _redis: RedisGuard(key_prefix.clone()),
        key_prefix,
        _database: DatabaseGuard(db_name.clone()),
        db_name,
        settings,
        // A fresh connection per request: a pooled keep-alive connection the
        // server closes just as a request goes out (while PostgreSQL restarts,
        // requests can be slow) fails with "incomplete message" in hyper.
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client"),
    }
}

/// A direct connection to the test's database, for checks behind the API.
pub async fn connect(db_name: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(
        &format!("{}/{db_name}", postgres_base_url()),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect to the test database");
    actix_web::rt::spawn(connection);
    client
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn db(&self) -> tokio_postgres::Client {
        connect(&self.db_name).await
    }

    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("request sent")
    }

    /// Deletes a monitor through the API, which must answer 204.
    pub async fn delete_monitor(&self, id: &str) {
        let response = self
            .request(Method::DELETE, &format!("/api/v1/monitors/{id}"), None)
            .await;
        assert_eq!(response.status(), 204, "deleting monitor {id}");
    }

    pub async fn post_monitor(&self, body: &Value) -> Response {
        self.request(Method::POST, "/api/v1/monitors", Some(body))
            .await
    }

    /// Registers a monitor and returns its JSON; panics unless 201.
    pub async fn create_monitor(&self, body: Value) -> Value {
        let response = self.post_monitor(&body).await;
        assert_eq!(response.status(), 201, "registering {body}");
        response.json().await.expect("monitor json")
    }

    pub async fn create_named(&self, name: &str) -> Value {
        self.create_monitor(serde_json::json!({"name": name, "url": "http://127.0.0.1:9/health"}))
            .await
    }

    pub async fn patch_monitor(&self, id: &str, body: &Value, if_match: Option<&str>) -> Response {
        let mut request = self
            .http
            .patch(self.url(&format!("/api/v1/monitors/{id}")))
            .json(body);
        if let Some(version) = if_match {
            request = request.header("If-Match", version);
        }
        request.send().await.expect("request sent")
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self.request(Method::GET, path, None).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("json body"))
    }

    pub async fn post_empty(&self, path: &str) -> Response {
        self.request(Method::POST, path, None).await
    }

    /// Entries waiting in the results streams (published, not yet folded).
    pub async fn results_waiting(&self) -> usize {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let prefix = upwatch::config::KeyPrefix::parse(&self.key_prefix).unwrap();
        let keys = upwatch::queue::keys::Keys::new(&prefix);
        let mut waiting = 0;
        for stream in keys.all_results(self.settings.partitions) {
            let len: usize = redis::cmd("XLEN")
                .arg(stream)
                .query_async(&mut connection)
                .await
                .unwrap();
            waiting += len;
        }
        waiting
    }

    /// Follows `next_cursor` from `path` (which must already carry a query)
    /// and returns every item of every page, and how many pages there were.
    pub async fn collect_pages(&self, path: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut next = path.to_owned();
        loop {
            let (status, page) = self.get_json(&next).await;
            assert_eq!(status, 200, "{next}: {page}");
            pages += 1;
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(cursor) => next = format!("{path}&cursor={cursor}"),
                None => return (items, pages),
            }
        }
    }
}

/// Drops the named test database when it goes out of scope.
pub struct DatabaseGuard(pub String);

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        let db_name = self.0.clone();
        // The test's runtime is ending; drop the database from a runtime of our own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok((client, connection)) = tokio_postgres::connect(
                    &format!("{}/postgres", postgres_base_url()),
                    tokio_postgres::NoTls,
                )
                .await
                {
                    tokio::spawn(connection);
                    let _ = client
                        .batch_execute(&format!(
                            "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
                        ))
                        .await;
                }
            });
        })
        .join();
    }
}

/// Deletes every Redis key under the test's prefix when it goes out of scope.
pub struct RedisGuard(pub String);

impl Drop for RedisGuard {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(redis_url()) else {
            return;
        };
        let Ok(mut connection) = client.get_connection() else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut connection)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `within`;
/// panics with `what` if it never does.
pub async fn wait_for<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up after {within:?} waiting for {what}"
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Asserts the contract's error body and returns it.
pub async fn assert_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let body: Value = response.json().await.expect("error body is json");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    body
}

/// Asserts that registering `body` is a 422 naming `field`.
pub async fn assert_refused(app: &TestApp, body: &Value, field: &str) {
    let response = app.post_monitor(body).await;
    let error = assert_error(response, 422, "validation_failed").await;
    assert_eq!(error["error"]["field"], field, "{body}");
}

/// The `type` of each event in a page of events.
pub fn event_types(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect()
}

/// The `status_changed` events in a page of events.
pub fn status_changes(page: &Value) -> Vec<Value> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["type"] == "status_changed")
        .cloned()
        .collect()
}

/// What a probe of `url` needs: an HTTP check with `method` and `expected`
/// statuses (any 2xx when `None`), bounded by `timeout_ms`.
pub fn http_spec(
    url: &str,
    method: upwatch::domain::HttpMethod,
    expected: Option<&[i64]>,
    timeout_ms: i64,
) -> upwatch::domain::probe::ProbeSpec {
    use upwatch::domain::check::{Check, HttpCheck};
    upwatch::domain::probe::ProbeSpec {
        check: Check::Http(HttpCheck {
            url: upwatch::domain::MonitorUrl::parse(url).unwrap(),
            method,
            expected_status: expected
                .map(|codes| upwatch::domain::ExpectedStatuses::parse(codes).unwrap()),
            headers: Default::default(),
            body: None,
            conditions: Default::default(),
            expected_version: None,
            version_source: None,
        }),
        timeout: upwatch::domain::TimeoutMs::parse(timeout_ms).unwrap(),
    }
}
