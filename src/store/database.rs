//! Connecting to PostgreSQL: creating the database when missing, waiting for
//! the server at start, and the connection pool.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::config::DatabaseSettings;
use crate::runtime::retry::{Until, retry};

pub type Pool = deadpool_postgres::Pool;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("PostgreSQL did not answer within {waited:?}: {last_error}")]
    GaveUp {
        waited: Duration,
        last_error: String,
    },
    #[error("cannot create database `{name}`: {source}")]
    CreateDatabase {
        name: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot build the PostgreSQL pool: {0}")]
    Pool(String),
}

/// Waits (with backoff, up to `timeout`) until PostgreSQL answers, creating the
/// application database if it does not exist yet.
pub async fn prepare_database(
    settings: &DatabaseSettings,
    timeout: Duration,
) -> Result<(), ConnectError> {
    let name = settings.database_name().to_owned();
    let outcome = retry(
        "waiting for PostgreSQL",
        Until::Elapsed(timeout),
        || async {
            match settings.connect_config().connect(NoTls).await {
                Ok((client, connection)) => {
                    drop(client);
                    drop(connection);
                    Ok(false)
                }
                Err(e) if is_missing_database(&e) => Ok(true),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await
    .map_err(|gave_up| ConnectError::GaveUp {
        waited: gave_up.waited,
        last_error: gave_up.last_error,
    })?;
    if outcome {
        create_database(settings, &name).await?;
    }
    Ok(())
}

fn is_missing_database(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME)
}

async fn create_database(settings: &DatabaseSettings, name: &str) -> Result<(), ConnectError> {
    let fail = |source| ConnectError::CreateDatabase {
        name: name.to_owned(),
        source,
    };
    let (client, connection) = settings
        .maintenance_config()
        .connect(NoTls)
        .await
        .map_err(fail)?;
    let driver = tokio::spawn(connection);
    let statement = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    let created = client.batch_execute(&statement).await;
    drop(client);
    let _ = driver.await;
    match created {
        Ok(()) => {
            tracing::info!(database = name, "created the database");
            Ok(())
        }
        // Another instance created it first: that is what we wanted.
        Err(e)
            if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE)
                || e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
        {
            Ok(())
        }
        Err(e) => Err(fail(e)),
    }
}

/// A pool whose waits are bounded, so a dead server turns into errors, not hangs.
pub fn pool(settings: &DatabaseSettings, max_size: usize) -> Result<Pool, ConnectError> {
    let manager = Manager::from_config(
        settings.connect_config(),
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(Runtime::Tokio1)
        .create_timeout(Some(Duration::from_secs(5)))
        .wait_timeout(Some(Duration::from_secs(10)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
        .map_err(|e| ConnectError::Pool(e.to_string()))
}
