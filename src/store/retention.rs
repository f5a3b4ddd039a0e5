//! Housekeeping of the probe results table: one partition per UTC day,
//! created ahead of time, and whole days dropped once older than the
//! retention. The event log is never touched.

use deadpool_postgres::GenericClient;
use time::{Date, Duration, OffsetDateTime, Time};

use super::{DbContext, Pool, StoreError};

/// Key of the advisory lock that lets one process at a time do housekeeping.
const HOUSEKEEPING_LOCK: i64 = 0x7570_7761_7463_6803;
/// Days created ahead of today.
const DAYS_AHEAD: i64 = 2;

/// What one housekeeping run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Housekeeping {
    pub created: Vec<String>,
    pub dropped: Vec<String>,
}

fn partition_name(day: Date) -> String {
    format!(
        "probe_results_{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

fn day_start(day: Date) -> OffsetDateTime {
    day.with_time(Time::MIDNIGHT).assume_utc()
}

/// Creates the partitions of the days from yesterday to `DAYS_AHEAD` after
/// `today`, and drops those whose whole day is older than `retention_days`.
pub async fn maintain(
    pool: &Pool,
    today: Date,
    retention_days: u16,
) -> Result<Housekeeping, StoreError> {
    let mut client = super::connection(pool, "keeping the results partitions").await?;
    let tx = client
        .transaction()
        .await
        .context("starting a transaction")?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&HOUSEKEEPING_LOCK])
        .await
        .context("waiting for the housekeeping lock")?;
    let existing = partitions(&tx).await?;
    let mut done = Housekeeping::default();
    for offset in -1..=DAYS_AHEAD {
        let day = today + Duration::days(offset);
        let name = partition_name(day);
        if existing.contains(&name) {
            continue;
        }
        let (from, to) = (day_start(day), day_start(day + Duration::days(1)));
        // Rows of that day may sit in the default partition: move them in.
        tx.batch_execute(&format!(
            "CREATE TABLE {name} (LIKE probe_results INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        ))
        .await
        .context("creating a results partition")?;
        tx.execute(
            &format!(
                "WITH moved AS (DELETE FROM probe_results_default
                     WHERE scheduled_at >= $1 AND scheduled_at < $2 RETURNING *)
                 INSERT INTO {name} SELECT * FROM moved"
            ),
            &[&from, &to],
        )
        .await
        .context("moving results into their day's partition")?;
        tx.execute(
            &format!(
                "ALTER TABLE probe_results ATTACH PARTITION {name}
                 FOR VALUES FROM ('{from}') TO ('{to}')",
                from = rfc3339(from)?,
                to = rfc3339(to)?
            ),
            &[],
        )
        .await
        .context("attaching a results partition")?;
        done.created.push(name);
    }
    let cutoff_day = today - Duration::days(i64::from(retention_days));
    for name in existing {
        if name < partition_name(cutoff_day) {
            tx.batch_execute(&format!("DROP TABLE {name}"))
                .await
                .context("dropping an expired results partition")?;
            done.dropped.push(name);
        }
    }
    tx.execute(
        "DELETE FROM probe_results_default WHERE scheduled_at < $1",
        &[&day_start(cutoff_day)],
    )
    .await
    .context("expiring results outside any partition")?;
    tx.commit().await.context("committing housekeeping")?;
    Ok(done)
}

fn rfc3339(time: OffsetDateTime) -> Result<String, StoreError> {
    time.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("cannot format {time}: {e}")))
}

/// The daily partitions attached now, by name.
pub async fn partitions(client: &impl GenericClient) -> Result<Vec<String>, StoreError> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i
             JOIN pg_class c ON c.oid = i.inhrelid
             JOIN pg_class p ON p.oid = i.inhparent
             WHERE p.relname = 'probe_results' AND c.relname <> 'probe_results_default'
             ORDER BY 1",
            &[],
        )
        .await
        .context("listing results partitions")?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
