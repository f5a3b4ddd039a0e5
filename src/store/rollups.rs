//! Hourly roll-ups of the probe results (`result_rollups`), and the
//! lifecycle events uptime is computed from.

use deadpool_postgres::{GenericClient, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{DbContext, StoreError, query_prepared};
use crate::domain::ProbeResult;
use crate::domain::rollup::{self, BUCKETS, Rollup};
use crate::domain::status::Status;
use crate::domain::uptime::{Change, State};

/// Counts `fresh` (results stored for the first time) into their hours, in
/// the folder's transaction.
pub async fn add(tx: &Transaction<'_>, fresh: &[&ProbeResult]) -> Result<(), StoreError> {
    if fresh.is_empty() {
        return Ok(());
    }
    let rollups = rollup::by_hour(fresh.iter().copied());
    let ids: Vec<Uuid> = rollups.iter().map(|r| r.monitor_id).collect();
    let hours: Vec<OffsetDateTime> = rollups.iter().map(|r| r.start).collect();
    let checks: Vec<i32> = rollups.iter().map(|r| r.checks).collect();
    let failed: Vec<i32> = rollups.iter().map(|r| r.failed_checks).collect();
    let histograms: Vec<String> = rollups
        .iter()
        .map(|r| histogram_literal(&r.latency_hist))
        .collect();
    query_prepared(
        tx,
        upsert_sql(),
        &[&ids, &hours, &checks, &failed, &histograms],
        "rolling up probe results",
    )
    .await?;
    Ok(())
}

/// The roll-up upsert. Each monitor's row of the hour is updated by every
/// batch, so the histograms are added bucket by bucket inline (a plain
/// array expression; a SQL function with `unnest` per row tripled
/// PostgreSQL's CPU per result, BENCHMARKS.md).
fn upsert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let sums: Vec<String> = (1..=BUCKETS)
            .map(|i| format!("r.latency_hist[{i}] + EXCLUDED.latency_hist[{i}]"))
            .collect();
        format!(
            "INSERT INTO result_rollups AS r (monitor_id, hour, checks, failed_checks, latency_hist)
             SELECT m, h, c, f, hist::integer[]
             FROM unnest($1::uuid[], $2::timestamptz[], $3::integer[], $4::integer[], $5::text[])
                 AS t(m, h, c, f, hist)
             ON CONFLICT (monitor_id, hour) DO UPDATE SET
                 checks = r.checks + EXCLUDED.checks,
                 failed_checks = r.failed_checks + EXCLUDED.failed_checks,
                 latency_hist = ARRAY[{}]",
            sums.join(", ")
        )
    })
}

fn histogram_literal(hist: &[i32; BUCKETS]) -> String {
    let counts: Vec<String> = hist.iter().map(i32::to_string).collect();
    format!("{{{}}}", counts.join(","))
}

/// A monitor's hourly roll-ups with `from <= hour < to`, oldest first.
pub async fn hours(
    client: &impl GenericClient,
    monitor_id: Uuid,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Rollup>, StoreError> {
    let rows = query_prepared(
        client,
        "SELECT monitor_id, hour, checks, failed_checks, latency_hist FROM result_rollups
         WHERE monitor_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
        &[&monitor_id, &from, &to],
        "reading roll-ups",
    )
    .await?;
    rows.iter().map(from_row).collect()
}

/// The hourly roll-ups of many monitors since `from`, oldest first.
pub async fn hours_of_many(
    client: &impl GenericClient,
    monitor_ids: &[Uuid],
    from: OffsetDateTime,
) -> Result<Vec<Rollup>, StoreError> {
    let rows = query_prepared(
        client,
        "SELECT monitor_id, hour, checks, failed_checks, latency_hist FROM result_rollups
         WHERE monitor_id = ANY($1) AND hour >= $2 ORDER BY monitor_id, hour",
        &[&monitor_ids, &from],
        "reading roll-ups",
    )
    .await?;
    rows.iter().map(from_row).collect()
}

fn from_row(row: &tokio_postgres::Row) -> Result<Rollup, StoreError> {
    let raw: Vec<i32> = row.get("latency_hist");
    let latency_hist = <[i32; BUCKETS]>::try_from(raw.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("a roll-up has {} latency buckets", raw.len())))?;
    Ok(Rollup {
        monitor_id: row.get("monitor_id"),
        start: row.get("hour"),
        checks: row.get("checks"),
        failed_checks: row.get("failed_checks"),
        latency_hist,
    })
}

/// Drops the roll-ups of hours before `before`; returns how many.
pub async fn drop_before(
    client: &impl GenericClient,
    before: OffsetDateTime,
) -> Result<u64, StoreError> {
    client
        .execute("DELETE FROM result_rollups WHERE hour < $1", &[&before])
        .await
        .context("dropping old roll-ups")
}

/// A monitor's lifecycle for uptime: its state at `from`, and the changes
/// in `[from, to)` in order. Reads the events of that span (through the
/// index on aggregate and time) and the last status and pause before it.
pub async fn lifecycle(
    client: &impl GenericClient,
    monitor_id: Uuid,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<(State, Vec<(OffsetDateTime, Change)>), StoreError> {
    let before = query_prepared(
        client,
        "SELECT
             (SELECT min(recorded_at) FROM events
                WHERE aggregate_id = $1 AND type = 'monitor_registered') AS registered_at,
             EXISTS (SELECT 1 FROM events WHERE aggregate_id = $1
                AND type = 'monitor_deleted' AND recorded_at < $2) AS deleted,
             (SELECT data->>'to' FROM events WHERE aggregate_id = $1
                AND type = 'status_changed' AND recorded_at < $2
                ORDER BY recorded_at DESC, seq DESC LIMIT 1) AS status,
             (SELECT type FROM events WHERE aggregate_id = $1
                AND type IN ('monitor_paused', 'monitor_resumed') AND recorded_at < $2
                ORDER BY recorded_at DESC, seq DESC LIMIT 1) AS pause",
        &[&monitor_id, &from],
        "reading a monitor's state for uptime",
    )
    .await?;
    let row = before
        .first()
        .ok_or_else(|| StoreError::Corrupt("no row for a monitor's state".into()))?;
    let registered_at: Option<OffsetDateTime> = row.get("registered_at");
    let status = row
        .get::<_, Option<&str>>("status")
        .and_then(|s| Status::parse(s).ok())
        .unwrap_or(Status::Unknown);
    let initial = State {
        exists: registered_at.is_some_and(|at| at < from) && !row.get::<_, bool>("deleted"),
        status,
        paused: row.get::<_, Option<&str>>("pause") == Some("monitor_paused"),
    };
    let rows = query_prepared(
        client,
        "SELECT recorded_at, type, data->>'to' AS to_status FROM events
         WHERE aggregate_id = $1 AND recorded_at >= $2 AND recorded_at < $3
           AND type IN ('monitor_registered', 'status_changed', 'monitor_paused',
                        'monitor_resumed', 'monitor_deleted')
         ORDER BY recorded_at, seq",
        &[&monitor_id, &from, &to],
        "reading a monitor's events for uptime",
    )
    .await?;
    let changes = rows
        .iter()
        .filter_map(|row| {
            let change = match row.get::<_, &str>("type") {
                "monitor_registered" => Change::Registered,
                "monitor_paused" => Change::Paused,
                "monitor_resumed" => Change::Resumed,
                "monitor_deleted" => Change::Deleted,
                _ => Change::Status(Status::parse(row.get::<_, Option<&str>>("to_status")?).ok()?),
            };
            Some((row.get("recorded_at"), change))
        })
        .collect();
    Ok((initial, changes))
}
