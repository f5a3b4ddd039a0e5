use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({"status": "ok"}));
}

#[actix_web::test]
async fn readyz_is_200_when_postgres_and_redis_answer() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["postgres"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");
}

/// A throwaway Redis on a free port, killed when dropped.
pub(crate) struct ThrowawayRedis {
    pub(crate) child: Child,
    pub(crate) port: u16,
}

impl ThrowawayRedis {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self {
            child: Self::spawn(port),
            port,
        }
    }

    /// Starts a new server on the same port after the old one was killed.
    pub(crate) fn restart(&mut self) {
        self.child = Self::spawn(self.port);
    }

    fn spawn(port: u16) -> Child {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        child
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[actix_web::test]
async fn readyz_is_503_naming_redis_when_redis_goes_away_and_recovers() {
    let mut redis = ThrowawayRedis::start();
    let app = spawn_app_with(&[(
        "UPWATCH_REDIS_URL",
        format!("redis://127.0.0.1:{}", redis.port),
    )])
    .await;
    assert_eq!(app.get_json("/readyz").await.0, 200);

    redis.child.kill().unwrap();
    redis.child.wait().unwrap();
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("redis"),
        "{body}"
    );
    assert_eq!(body["checks"]["postgres"], "ok");
    // The API keeps serving what does not need Redis.
    assert_eq!(app.get_json("/api/v1/monitors").await.0, 200);

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = app.get_json("/readyz").await;
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "readyz did not recover");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}
