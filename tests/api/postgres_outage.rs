//! PostgreSQL going away while upwatch runs: the process stays up, answers
//! 503 (never another 5xx), reports not-ready, and recovers by itself.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{assert_error, spawn_app_with};

/// A throwaway PostgreSQL cluster on a free port, removed when dropped.
pub(crate) struct ThrowawayPostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl ThrowawayPostgres {
    pub(crate) fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL server binaries are installed")
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .find(|bin| bin.join("initdb").exists())
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let data =
            std::env::temp_dir().join(format!("upwatch-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data).unwrap();
        let cluster = Self { bin, data, port };
        cluster.chown_to_postgres(&cluster.data);
        cluster.run(
            "initdb",
            &["-D", cluster.path(), "-A", "trust", "-U", "postgres"],
        );
        cluster.start_server();
        cluster
    }

    fn path(&self) -> &str {
        self.data.to_str().unwrap()
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/upwatch", self.port)
    }

    /// initdb and postgres refuse to run as root; run them as `postgres` then.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn chown_to_postgres(&self, path: &Path) {
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(path)
                .status()
                .unwrap();
            assert!(status.success());
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let output = self.command(tool).args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{tool}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub(crate) fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={}",
            self.port,
            self.path()
        );
        let log = format!("{}/server.log", self.path());
        self.run(
            "pg_ctl",
            &["-D", self.path(), "-o", &options, "-l", &log, "-w", "start"],
        );
    }

    pub(crate) fn stop_server(&self) {
        self.run(
            "pg_ctl",
            &["-D", self.path(), "-m", "immediate", "-w", "stop"],
        );
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", self.path(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[actix_web::test]
async fn a_postgres_outage_is_503_and_heals_without_losing_acknowledged_writes() {
    let postgres = ThrowawayPostgres::start();
    let app = spawn_app_with(&[("UPWATCH_DATABASE_URL", postgres.url())]).await;
    let before = app.create_named("before the outage").await;

    postgres.stop_server();
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("postgres"),
        "{body}"
    );
    assert_eq!(body["checks"]["redis"], "ok");
    let refused = app
        .post_monitor(&json!({"name": "during", "url": "http://a.example"}))
        .await;
    assert_error(refused, 503, "unavailable").await;
    let (status, _) = app.get_json("/api/v1/monitors").await;
    assert_eq!(status, 503);
    assert_eq!(
        app.get_json("/healthz").await.0,
        200,
        "the process stays up"
    );

    postgres.start_server();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get_json("/readyz").await.0 != 200 {
        assert!(Instant::now() < deadline, "readyz did not recover");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    // Pooled connections broken by the restart are replaced as they are used.
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let response = app
            .post_monitor(&json!({"name": "after", "url": "http://a.example"}))
            .await;
        if response.status() == 201 {
            break response.json::<serde_json::Value>().await.unwrap();
        }
        assert_eq!(response.status(), 503, "only 503 while recovering");
        assert!(Instant::now() < deadline, "writes did not recover");
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    };
    let (status, listed) = app.get_json("/api/v1/monitors").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["before the outage", "after"]);
    assert_eq!(before["version"], 1);
    assert_eq!(after["version"], 1);
}
