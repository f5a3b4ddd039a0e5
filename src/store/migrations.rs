//! Applies `migrations/*.sql` in order, recorded in `refinery_schema_history`.
//! An advisory lock makes concurrent starts take turns; a schema newer than
//! this binary is refused rather than run against.

use tokio_postgres::NoTls;

use crate::config::DatabaseSettings;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// Key of the session-level advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x7570_7761_7463_6801;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("cannot connect to PostgreSQL to migrate: {0}")]
    Connect(#[source] tokio_postgres::Error),
    #[error("cannot take the migration lock: {0}")]
    Lock(#[source] tokio_postgres::Error),
    #[error(
        "the database schema is at version {database}, newer than this upwatch knows ({binary}); run a newer upwatch"
    )]
    SchemaTooNew { database: i32, binary: i32 },
    #[error("cannot read the schema history: {0}")]
    History(#[source] tokio_postgres::Error),
    #[error("applying migrations failed: {0}")]
    Apply(#[source] refinery::Error),
}

/// The newest schema version this binary carries.
pub fn latest_known_version() -> i32 {
    embedded::migrations::runner()
        .get_migrations()
        .iter()
        .map(refinery::Migration::version)
        .max()
        .unwrap_or(0)
}

/// Brings the database to this binary's schema; returns the versions applied now.
pub async fn run(settings: &DatabaseSettings) -> Result<Vec<i32>, MigrationError> {
    let (mut client, connection) = settings
        .connect_config()
        .connect(NoTls)
        .await
        .map_err(MigrationError::Connect)?;
    let driver = tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(MigrationError::Lock)?;
    let outcome = migrate_locked(&mut client).await;
    // Ending the session releases the lock even if unlocking fails.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    drop(client);
    let _ = driver.await;
    outcome
}

async fn migrate_locked(client: &mut tokio_postgres::Client) -> Result<Vec<i32>, MigrationError> {
    let runner = embedded::migrations::runner();
    let binary = latest_known_version();
    if let Some(database) = applied_version(client).await?
        && database > binary
    {
        return Err(MigrationError::SchemaTooNew { database, binary });
    }
    let report = runner
        .run_async(client)
        .await
        .map_err(MigrationError::Apply)?;
    let versions: Vec<i32> = report
        .applied_migrations()
        .iter()
        .map(refinery::Migration::version)
        .collect();
    for migration in report.applied_migrations() {
        tracing::info!(
            version = migration.version(),
            name = migration.name(),
            "applied migration"
        );
    }
    Ok(versions)
}

/// The newest version recorded in the schema history, if there is one.
async fn applied_version(client: &tokio_postgres::Client) -> Result<Option<i32>, MigrationError> {
    let row = client
        .query_one(
            "SELECT to_regclass('refinery_schema_history') IS NOT NULL",
            &[],
        )
        .await
        .map_err(MigrationError::History)?;
    if !row.get::<_, bool>(0) {
        return Ok(None);
    }
    let row = client
        .query_one("SELECT max(version) FROM refinery_schema_history", &[])
        .await
        .map_err(MigrationError::History)?;
    Ok(row.get(0))
}
