//! Stores the `chaos` scenario may break: a Redis with an append-only file
//! and a PostgreSQL cluster, each on its own port and in its own directory,
//! killed and removed when dropped. The shared instances are never touched.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};

use crate::fleet::free_port;

fn scratch_dir(what: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "upwatch-chaos-{what}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Waits until something accepts TCP connections on `port`.
async fn listening(port: u16, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("{what} did not listen on port {port} within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `redis-server` with `appendfsync always`: every write it acknowledged is
/// on disk, so a SIGKILL loses nothing and a restart replays the file.
pub struct ThrowawayRedis {
    dir: PathBuf,
    port: u16,
    server: Option<Child>,
}

impl ThrowawayRedis {
    pub async fn start() -> anyhow::Result<Self> {
        let mut redis = Self {
            dir: scratch_dir("redis")?,
            port: free_port()?,
            server: None,
        };
        redis.restart().await?;
        Ok(redis)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Starts the server (again) on the same port and files.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        let server = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .context("starting redis-server")?;
        self.server = Some(server);
        listening(self.port, "the throwaway Redis").await
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster made by `initdb` (trust authentication), run with
/// `pg_ctl`. As root, both run as the `postgres` user, which they require.
pub struct ThrowawayPostgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl ThrowawayPostgres {
    pub async fn start() -> anyhow::Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .context("PostgreSQL's server binaries are not under /usr/lib/postgresql")?
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .find(|bin| bin.join("initdb").exists())
            .context("no initdb under /usr/lib/postgresql/*/bin")?;
        let cluster = Self {
            bin,
            data: scratch_dir("postgres")?,
            port: free_port()?,
        };
        if running_as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&cluster.data)
                .status()?;
            ensure!(
                status.success(),
                "chown of {} failed",
                cluster.data.display()
            );
        }
        let data = cluster.data_arg()?;
        cluster
            .run("initdb", &["-D", data, "-A", "trust", "-U", "postgres"])
            .await?;
        cluster.start_server().await?;
        Ok(cluster)
    }

    /// The server URL, without a database name.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}", self.port)
    }

    pub async fn start_server(&self) -> anyhow::Result<()> {
        let data = self.data_arg()?;
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data}",
            self.port
        );
        let log = format!("{data}/server.log");
        self.run(
            "pg_ctl",
            &["-D", data, "-o", &options, "-l", &log, "-w", "start"],
        )
        .await?;
        listening(self.port, "the throwaway PostgreSQL").await
    }

    /// `immediate` mode: no checkpoint, as a crash would leave it.
    pub async fn stop_server(&self) -> anyhow::Result<()> {
        let data = self.data_arg()?;
        self.run("pg_ctl", &["-D", data, "-m", "immediate", "-w", "stop"])
            .await
    }

    fn data_arg(&self) -> anyhow::Result<&str> {
        self.data
            .to_str()
            .context("the scratch directory's path is not UTF-8")
    }

    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// Runs `tool` to the end without blocking the runtime, which meanwhile
    /// carries the proxy's traffic.
    async fn run(&self, tool: &str, args: &[&str]) -> anyhow::Result<()> {
        let mut command = tokio::process::Command::from(self.command(tool));
        let output = command
            .args(args)
            .output()
            .await
            .with_context(|| format!("running {tool}"))?;
        ensure!(
            output.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        if let Ok(data) = self.data_arg() {
            let _ = self
                .command("pg_ctl")
                .args(["-D", data, "-m", "immediate", "stop"])
                .output();
        }
        remove(&self.data);
    }
}

fn remove(path: &Path) {
    let _ = std::fs::remove_dir_all(path);
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
