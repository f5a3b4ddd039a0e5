//! Builds the roles a process runs from its settings: the one place that wires
//! things together.

use std::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::{Role, Settings};
use crate::queue::{self, RedisError};
use crate::store::database::{self, ConnectError};
use crate::store::migrations::{self, MigrationError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] ConnectError),
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// A running upwatch process.
pub struct Application {
    port: Option<u16>,
    server: Option<actix_web::dev::Server>,
}

impl Application {
    /// Connects (waiting for PostgreSQL and Redis up to the start-up timeout),
    /// migrates, and starts the roles in `settings`. The API listens on
    /// `settings.bind`; port 0 picks a free port, see [`Application::port`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        database::prepare_database(&settings.database, settings.startup_timeout).await?;
        migrations::run(&settings.database).await?;
        let pg = database::pool(&settings.database, settings.db_pool_size)?;
        let redis = queue::pool(&settings.redis_url, settings.redis_pool_size)?;
        queue::wait_until_ready(&redis, settings.startup_timeout).await?;

        for role in settings.roles.iter().filter(|r| *r != Role::Api) {
            tracing::warn!(
                role = role.as_str(),
                "this role is not built yet; the process runs without it"
            );
        }
        if !settings.roles.contains(Role::Api) {
            return Ok(Self {
                port: None,
                server: None,
            });
        }
        let bind_error = |source| StartupError::Bind {
            address: settings.bind.as_str().to_owned(),
            source,
        };
        let listener = TcpListener::bind(settings.bind.as_str()).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let server = api::server(listener, AppState { pg, redis }).map_err(bind_error)?;
        tracing::info!(port, roles = %settings.roles, "upwatch is serving");
        Ok(Self {
            port: Some(port),
            server: Some(server),
        })
    }

    /// The port the API listens on, if this process runs the API.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Runs until SIGINT or SIGTERM, then stops gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.server {
            // actix-web handles the signals itself: stop accepting, drain, exit.
            Some(server) => server.await,
            None => shutdown_signal().await,
        }
    }
}

async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}

/// `upwatch migrate`: create the database if needed, apply migrations, report.
pub async fn migrate(settings: &Settings) -> Result<Vec<i32>, StartupError> {
    database::prepare_database(&settings.database, settings.startup_timeout).await?;
    Ok(migrations::run(&settings.database).await?)
}
