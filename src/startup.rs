//! Builds the roles a process runs from its settings: the one place that wires
//! things together.

use std::net::TcpListener;
use std::sync::Arc;

use actix::Actor;
use tokio::task::JoinHandle;

use crate::api::auth::{self, Gate, TokenBook};
use crate::api::{self, AppState};
use crate::config::{AuthMode, Role, Settings};
use crate::domain::audit::AuditState;
use crate::domain::notification::RetryPolicy;
use crate::domain::token::{Scope, TokenName, TokenSecret};
use crate::notify::{NotifyError, Senders};
use crate::probe::{Prober, ProberError};
use crate::queue::keys::Keys;
use crate::queue::{self, RedisError};
use crate::replay::{self, Mismatch, ReplayError, ReplayOptions};
use crate::roles::folder::{self, FolderConfig, FolderRole};
use crate::roles::housekeeping;
use crate::roles::leases::{self, LeaseConfig};
use crate::roles::live::broadcaster::{self, Broadcaster};
use crate::roles::notifier::{self, NotifierConfig};
use crate::roles::scheduler::emitter;
use crate::roles::scheduler::registry::{self, Registry};
use crate::roles::worker::{self, WorkerConfig};
use crate::runtime::{ShutdownTrigger, shutdown_channel};
use crate::store::database::{self, ConnectError};
use crate::store::migrations::{self, MigrationError};
use crate::store::tokens;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] ConnectError),
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error(transparent)]
    Prober(#[from] ProberError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("cannot start the worker's runtime: {0}")]
    WorkerRuntime(#[source] std::io::Error),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error("cannot start the notifier's runtime: {0}")]
    NotifierRuntime(#[source] std::io::Error),
    #[error(
        "invalid setting UPWATCH_AUTH: `tokens` needs a token; create one with `upwatch token create NAME --scope admin` or set UPWATCH_BOOTSTRAP_TOKEN"
    )]
    NoToken,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("invalid setting UPWATCH_MONITORS_FILE: {0}")]
    MonitorsFile(String),
    #[error("no randomness from the operating system: {0}")]
    Randomness(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

impl StartupError {
    /// Whether the operator must change a setting (exit status 2), rather
    /// than something failing that may work on a retry.
    pub fn is_setting(&self) -> bool {
        matches!(self, Self::NoToken | Self::MonitorsFile(_))
    }
}

/// How the API authenticates: with tokens, the bootstrap token is created
/// first, and starting without any token at all is refused.
async fn gate(settings: &Settings, pg: &crate::store::Pool) -> Result<Gate, StartupError> {
    if let Some(secret) = &settings.bootstrap_token
        && tokens::ensure_bootstrap(pg, secret).await?
    {
        tracing::info!(token = "bootstrap", "bootstrap token created");
    }
    if settings.auth() == AuthMode::Off {
        return Ok(Gate::Open);
    }
    let book = TokenBook::default();
    book.reload(pg).await?;
    if book.is_empty() {
        return Err(StartupError::NoToken);
    }
    Ok(Gate::Tokens(Arc::new(book)))
}

/// `UPWATCH_MONITORS_FILE`: applied at start, by `system`, without pruning.
async fn apply_monitors_file(
    pg: &crate::store::Pool,
    path: &std::path::Path,
) -> Result<(), StartupError> {
    let content = crate::manifest_file::read(path).map_err(StartupError::MonitorsFile)?;
    let manifest = crate::api::manifest_dto::parse_manifest(&content)
        .map_err(|e| StartupError::MonitorsFile(format!("{}: {}", path.display(), e.message)))?;
    let options = crate::store::apply::ApplyOptions::default();
    let plan =
        crate::store::apply::apply(pg, &manifest, options, &crate::domain::actor::Actor::System)
            .await
            .map_err(|e| match e {
                crate::store::apply::ApplyError::Plan(plan) => {
                    StartupError::MonitorsFile(format!("{}: {plan}", path.display()))
                }
                crate::store::apply::ApplyError::Store(store) => StartupError::Store(store),
            })?;
    let [create, update, delete, unchanged] = plan.counts();
    tracing::info!(file = %path.display(), create, update, delete, unchanged, "monitors file applied");
    Ok(())
}

/// A running upwatch process.
pub struct Application {
    port: Option<u16>,
    server: Option<actix_web::dev::Server>,
    shutdown: ShutdownTrigger,
    /// The pipeline's loops, awaited on shutdown so in-flight work finishes.
    tasks: Vec<JoinHandle<()>>,
}

impl Application {
    /// Connects (waiting for PostgreSQL, unless only a worker runs, and Redis
    /// up to the start-up timeout), migrates, and starts the roles in `settings`. The API listens on
    /// `settings.bind`; port 0 picks a free port, see [`Application::port`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        crate::instruments::handle();
        if settings.needs_postgres_at_start() {
            database::prepare_database(&settings.database, settings.startup_timeout).await?;
            migrations::run(&settings.database).await?;
        }
        let pg = database::pool(&settings.database, settings.db_pool_size)?;
        let redis = queue::pool(&settings.redis_url, settings.redis_pool_size)?;
        queue::wait_until_ready(&redis, settings.startup_timeout).await?;

        let (shutdown, stopping) = shutdown_channel();
        let stopping_api = stopping.clone();
        let keys = Keys::new(&settings.key_prefix);
        let instance = settings.instance.as_str();
        let mut tasks = Vec::new();
        // Instance names are distinct by contract, so a lease names the
        // instance: a process restarted under the same name (after a crash)
        // renews its own leases at once instead of waiting for them to expire.
        let member = instance.to_owned();
        let lease_config = |role| LeaseConfig {
            role,
            member: member.clone(),
            partitions: settings.partitions,
            lease: settings.lease,
        };
        if settings.roles.contains(Role::Scheduler) {
            let (owned, leasing) = leases::spawn(
                redis.clone(),
                keys.clone(),
                lease_config("scheduler"),
                stopping.clone(),
            );
            let (scheduling, scheduled) = tokio::sync::watch::channel(Default::default());
            let (jobs, emitting) =
                emitter::spawn(redis.clone(), keys.clone(), scheduled, stopping.clone());
            let registry = Registry::new(jobs, settings.partitions).start();
            let log = registry::LogSource {
                pool: pg.clone(),
                listen_on: settings.database.connect_config(),
                reconcile_every: settings.reconcile_every,
            };
            tasks.push(registry::watch(
                log,
                redis.clone(),
                keys.clone(),
                registry,
                owned,
                scheduling,
                stopping.clone(),
            ));
            tasks.push(emitting);
            tasks.push(leasing);
        }
        if settings.roles.contains(Role::Worker) {
            let config = WorkerConfig {
                consumer: format!("worker-{instance}"),
                concurrency: settings.worker_concurrency,
                partitions: settings.partitions,
                reclaim_after: settings.reclaim_after,
                threads: settings.worker_threads,
            };
            let mut lanes = Vec::with_capacity(settings.worker_threads);
            for _ in 0..settings.worker_threads {
                lanes.push(worker::Lane {
                    redis: queue::pool(&settings.redis_url, settings.redis_pool_size)?,
                    prober: Prober::trusting(&settings.tls_ca)?,
                });
            }
            let worker = worker::spawn(lanes, keys.clone(), config, stopping.clone())
                .map_err(StartupError::WorkerRuntime)?;
            tasks.push(worker);
        }
        let retry_policy = RetryPolicy::new(settings.notify_give_up);
        if settings.roles.contains(Role::Notifier) {
            // A pool of its own: its connections live on the notifier's runtime.
            let notifier_pool = database::pool(&settings.database, 4)?;
            let config = NotifierConfig {
                concurrency: settings.notify_concurrency,
                policy: retry_policy,
                database: settings.database.connect_config(),
            };
            let senders = Senders::new(&settings.notify())?;
            tasks.push(
                notifier::spawn(notifier_pool, senders, config, stopping.clone())
                    .map_err(StartupError::NotifierRuntime)?,
            );
        }
        if settings.roles.contains(Role::Folder) {
            let (owned, leasing) = leases::spawn(
                redis.clone(),
                keys.clone(),
                lease_config("folder"),
                stopping.clone(),
            );
            let config = FolderConfig {
                consumer: format!("folder-{instance}"),
                partitions: settings.partitions,
            };
            let retention = housekeeping::Retention {
                results_days: settings.results_retention_days,
                rollup_extra_days: settings.rollup_retention_days,
            };
            tasks.push(housekeeping::spawn(pg.clone(), retention, stopping.clone()));
            let role = FolderRole::new(
                pg.clone(),
                redis.clone(),
                keys,
                config,
                owned,
                stopping.clone(),
            );
            tasks.push(folder::spawn(role, stopping));
            tasks.push(leasing);
        }
        let serves_api = settings.roles.contains(Role::Api);
        // Without the API, an HTTP server only for /metrics, /healthz, /readyz.
        let address = if serves_api {
            Some(&settings.bind)
        } else {
            settings.metrics_bind.as_ref()
        };
        let Some(address) = address else {
            tracing::info!(roles = %settings.roles, "upwatch is running");
            return Ok(Self {
                port: None,
                server: None,
                shutdown,
                tasks,
            });
        };
        if serves_api && let Some(path) = &settings.monitors_file {
            apply_monitors_file(&pg, path).await?;
        }
        let gate = gate(&settings, &pg).await?;
        if let Gate::Tokens(book) = &gate {
            tasks.push(auth::keep_current(
                Arc::clone(book),
                pg.clone(),
                stopping_api.clone(),
            ));
        }
        let bind_error = |source| StartupError::Bind {
            address: address.as_str().to_owned(),
            source,
        };
        let listener = TcpListener::bind(address.as_str()).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let broadcaster = Broadcaster::default().start();
        if serves_api {
            tasks.push(broadcaster::tail(
                redis.clone(),
                Keys::new(&settings.key_prefix),
                broadcaster.clone(),
                stopping_api,
            ));
        }
        // Pools of the API's own: a connection is driven by the runtime
        // that opened it, and one the HTTP server's thread opened and a role
        // on the System thread then borrowed would cost both threads a
        // wake-up on every round trip.
        let state = AppState {
            pg: database::pool(&settings.database, settings.db_pool_size)?,
            redis: queue::pool(&settings.redis_url, settings.redis_pool_size)?,
            broadcaster,
            feed_buffer: settings.feed_buffer,
            senders: Senders::new(&settings.notify())?,
            retry_policy,
            gate,
            public_badges: settings.public_badges,
            badges: Arc::default(),
            keys: Keys::new(&settings.key_prefix),
            partitions: settings.partitions,
        };
        let server = if serves_api {
            api::server(listener, state)
        } else {
            api::operations_server(listener, state)
        }
        .map_err(bind_error)?;
        tracing::info!(port, roles = %settings.roles, api = serves_api, "upwatch is serving");
        Ok(Self {
            port: Some(port),
            server: Some(server),
            shutdown,
            tasks,
        })
    }

    /// The port the API listens on (or, without the API role, the one
    /// `UPWATCH_METRICS_BIND` serves `/metrics` on), if any.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Runs until SIGINT or SIGTERM, then stops gracefully: the API drains
    /// its requests, workers finish the probes in flight and publish them.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stopped = match self.server {
            // actix-web handles the signals itself: stop accepting, drain, exit.
            Some(server) => server.await,
            None => shutdown_signal().await,
        };
        self.shutdown.trigger();
        for task in self.tasks {
            let _ = task.await;
        }
        stopped
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

/// `upwatch replay`: replays the log (see `crate::replay`), handing each
/// rebuilt monitor to `each`; returns the monitors that differ when verifying.
pub async fn replay(
    settings: &Settings,
    options: ReplayOptions,
    each: impl FnMut(&AuditState),
) -> Result<Vec<Mismatch>, StartupError> {
    database::prepare_database(&settings.database, settings.startup_timeout).await?;
    let pool = database::pool(&settings.database, 1)?;
    Ok(replay::replay(&pool, options, each).await?)
}

/// A pool on a migrated database, for the one-shot commands.
async fn command_pool(settings: &Settings) -> Result<crate::store::Pool, StartupError> {
    database::prepare_database(&settings.database, settings.startup_timeout).await?;
    migrations::run(&settings.database).await?;
    Ok(database::pool(&settings.database, 2)?)
}

/// `upwatch token create`: a new token; its secret is returned to be shown once.
pub async fn create_token(
    settings: &Settings,
    name: TokenName,
    scope: Scope,
) -> Result<TokenSecret, StartupError> {
    let pool = command_pool(settings).await?;
    let secret = auth::new_secret().map_err(|e| StartupError::Randomness(e.to_string()))?;
    tokens::create(
        &pool,
        name,
        scope,
        &secret,
        &crate::domain::actor::Actor::System,
    )
    .await?;
    Ok(secret)
}

/// `upwatch token list`: the live tokens.
pub async fn list_tokens(settings: &Settings) -> Result<Vec<tokens::TokenView>, StartupError> {
    let pool = command_pool(settings).await?;
    let client = crate::store::connection(&pool, "listing tokens").await?;
    Ok(tokens::list(&client).await?)
}

/// `upwatch token revoke`: the token stops working within a second everywhere.
pub async fn revoke_token(settings: &Settings, name: &TokenName) -> Result<(), StartupError> {
    let pool = command_pool(settings).await?;
    Ok(tokens::revoke(&pool, name, &crate::domain::actor::Actor::System).await?)
}
