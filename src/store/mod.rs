//! PostgreSQL: connection, migrations, the event log and its projections.

pub mod apply;
pub mod batches;
pub mod channels;
pub mod commands;
pub mod database;
pub mod deliveries;
pub mod event_log;
pub mod listen;
pub mod migrations;
pub mod monitors;
pub mod results;
pub mod retention;
pub mod rollups;
pub mod tokens;

use crate::domain::FieldError;

pub use database::Pool;

/// What can go wrong in the store, as callers need to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such thing (`what`: "monitor", "channel").
    #[error("no {0} with this id")]
    NotFound(&'static str),
    #[error("it is at version {current}, the request expected {expected}")]
    VersionMismatch { expected: i64, current: i64 },
    #[error("a {what} named `{name}` already exists")]
    NameTaken { what: &'static str, name: String },
    #[error("another change was recorded at the same time; retry")]
    ConcurrentWrite,
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error("PostgreSQL is unavailable while {context}: {reason}")]
    Unavailable {
        context: &'static str,
        reason: String,
    },
    #[error("PostgreSQL failed while {context}: {source}")]
    Database {
        context: &'static str,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Classifies a driver error: lost connections are "unavailable" (retry
    /// later), anything PostgreSQL itself refused is a real failure.
    pub fn from_db(context: &'static str, source: tokio_postgres::Error) -> Self {
        let unavailable = match source.code() {
            None => true,
            Some(code) => {
                let class = &code.code()[..2];
                // 08: connection exception, 57: operator intervention (shutdown), 53: resources.
                matches!(class, "08" | "57" | "53")
            }
        };
        if unavailable {
            Self::Unavailable {
                context,
                reason: source.to_string(),
            }
        } else {
            Self::Database { context, source }
        }
    }

    /// A write failed because a row with the same key was stored before.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Database { source, .. }
            if source.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION))
    }

    /// A projection write's error: a unique violation of `name_index`
    /// means the name is taken by another live `what`.
    pub fn from_named_write(
        context: &'static str,
        source: tokio_postgres::Error,
        name_index: &str,
        what: &'static str,
        name: &str,
    ) -> Self {
        let name_taken = source.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
            && source.as_db_error().and_then(|db| db.constraint()) == Some(name_index);
        if name_taken {
            Self::NameTaken {
                what,
                name: name.to_owned(),
            }
        } else {
            Self::from_db(context, source)
        }
    }

    pub fn from_pool(context: &'static str, error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(source) => Self::from_db(context, source),
            other => Self::Unavailable {
                context,
                reason: other.to_string(),
            },
        }
    }
}

/// A pooled connection for `what` (named in the error when none comes).
pub(crate) async fn connection(
    pool: &Pool,
    what: &'static str,
) -> Result<deadpool_postgres::Client, StoreError> {
    pool.get().await.map_err(|e| StoreError::from_pool(what, e))
}

/// Runs `sql`, prepared on this connection once: later calls take it from
/// the connection's cache. For the statements the folder runs many times a
/// second, where parsing and planning each time was a large share of
/// PostgreSQL's work per batch.
pub(crate) async fn query_prepared(
    client: &impl deadpool_postgres::GenericClient,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    context: &'static str,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    let statement = client.prepare_cached(sql).await.context(context)?;
    client.query(&statement, params).await.context(context)
}

/// Attaches what we were doing to a driver error.
pub(crate) trait DbContext<T> {
    fn context(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> DbContext<T> for Result<T, tokio_postgres::Error> {
    fn context(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::from_db(context, e))
    }
}
