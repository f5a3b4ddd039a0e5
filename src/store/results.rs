//! Probe results: stored append-only in batches (a duplicate job id is a
//! no-op), read newest first.

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{DbContext, StoreError, query_prepared};
use crate::domain::ProbeResult;

/// Stores a batch in one statement; returns the job ids that were new (the
/// others were stored before and must not be folded again).
pub async fn insert_batch(
    client: &impl GenericClient,
    results: &[ProbeResult],
) -> Result<Vec<Uuid>, StoreError> {
    let results: Vec<&ProbeResult> = results.iter().collect();
    let rows = insert(
        client,
        &results,
        "ON CONFLICT (monitor_id, scheduled_at) DO NOTHING RETURNING job_id",
    )
    .await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Stores a batch of results none of which can have been stored before (and
/// no two for the same tick): cheaper than `insert_batch`, as PostgreSQL
/// need not prepare for conflicts. If one was stored after all, the
/// statement fails with a unique violation (`StoreError::is_unique_violation`).
pub async fn insert_unseen(
    client: &impl GenericClient,
    results: &[&ProbeResult],
) -> Result<(), StoreError> {
    insert(client, results, "").await.map(drop)
}

async fn insert(
    client: &impl GenericClient,
    results: &[&ProbeResult],
    on_conflict: &str,
) -> Result<Vec<tokio_postgres::Row>, StoreError> {
    if results.is_empty() {
        return Ok(Vec::new());
    }
    let job_ids: Vec<Uuid> = results.iter().map(|r| r.job_id).collect();
    let monitor_ids: Vec<Uuid> = results.iter().map(|r| r.monitor_id).collect();
    let scheduled: Vec<OffsetDateTime> = results.iter().map(|r| r.scheduled_at).collect();
    let started: Vec<OffsetDateTime> = results.iter().map(|r| r.started_at).collect();
    let checked: Vec<OffsetDateTime> = results.iter().map(|r| r.checked_at).collect();
    let up: Vec<bool> = results.iter().map(|r| r.up).collect();
    let http_status: Vec<Option<i32>> = results.iter().map(|r| r.http_status).collect();
    let latency: Vec<i32> = results.iter().map(|r| r.latency_ms).collect();
    let error: Vec<Option<&str>> = results.iter().map(|r| r.error.as_deref()).collect();
    let worker: Vec<&str> = results.iter().map(|r| r.worker.as_str()).collect();
    let expires: Vec<Option<OffsetDateTime>> =
        results.iter().map(|r| r.certificate_expires_at).collect();
    let versions: Vec<Option<&str>> = results
        .iter()
        .map(|r| r.observed_version.as_deref())
        .collect();
    let sql = format!(
        "INSERT INTO probe_results (job_id, monitor_id, scheduled_at, started_at, checked_at,
             up, http_status, latency_ms, error, worker, certificate_expires_at,
             observed_version)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::timestamptz[],
             $5::timestamptz[], $6::boolean[], $7::integer[], $8::integer[], $9::text[],
             $10::text[], $11::timestamptz[], $12::text[])
         {on_conflict}"
    );
    query_prepared(
        client,
        &sql,
        &[
            &job_ids,
            &monitor_ids,
            &scheduled,
            &started,
            &checked,
            &up,
            &http_status,
            &latency,
            &error,
            &worker,
            &expires,
            &versions,
        ],
        "storing probe results",
    )
    .await
}

/// A page of one monitor's results, newest first.
#[derive(Debug, Clone, Copy)]
pub struct ResultQuery {
    pub monitor_id: Uuid,
    /// Scheduled at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Scheduled before this time.
    pub until: Option<OffsetDateTime>,
    /// Continue with the results scheduled before this one (the cursor's
    /// tick: a monitor has one result per tick).
    pub after: Option<OffsetDateTime>,
    pub limit: i64,
}

pub async fn list(
    client: &impl GenericClient,
    query: &ResultQuery,
) -> Result<Vec<ProbeResult>, StoreError> {
    let rows = client
        .query(
            "SELECT job_id, monitor_id, scheduled_at, started_at, checked_at, up, http_status,
                    latency_ms, error, worker, certificate_expires_at, observed_version
             FROM probe_results
             WHERE monitor_id = $1
               AND ($2::timestamptz IS NULL OR scheduled_at >= $2)
               AND ($3::timestamptz IS NULL OR scheduled_at < $3)
               AND ($4::timestamptz IS NULL OR scheduled_at < $4)
             ORDER BY scheduled_at DESC
             LIMIT $5",
            &[
                &query.monitor_id,
                &query.since,
                &query.until,
                &query.after,
                &query.limit,
            ],
        )
        .await
        .context("reading probe results")?;
    Ok(rows.iter().map(from_row).collect())
}

/// The stored results of `monitor_ids` newer than the health state saved in
/// their monitors rows, oldest first: what a folder that kept newer state in
/// memory had folded when it stopped.
pub async fn newer_than_saved_health(
    client: &impl GenericClient,
    monitor_ids: &[Uuid],
) -> Result<Vec<ProbeResult>, StoreError> {
    let rows = client
        .query(
            "SELECT r.job_id, r.monitor_id, r.scheduled_at, r.started_at, r.checked_at, r.up,
                    r.http_status, r.latency_ms, r.error, r.worker, r.certificate_expires_at,
                    r.observed_version
             FROM monitors m JOIN probe_results r ON r.monitor_id = m.id
             WHERE m.id = ANY($1) AND r.scheduled_at > m.newest_folded_at
             ORDER BY r.monitor_id, r.scheduled_at",
            &[&monitor_ids],
        )
        .await
        .context("reading results folded after the saved health state")?;
    Ok(rows.iter().map(from_row).collect())
}

fn from_row(row: &tokio_postgres::Row) -> ProbeResult {
    ProbeResult {
        job_id: row.get("job_id"),
        monitor_id: row.get("monitor_id"),
        scheduled_at: row.get("scheduled_at"),
        started_at: row.get("started_at"),
        checked_at: row.get("checked_at"),
        up: row.get("up"),
        http_status: row.get("http_status"),
        latency_ms: row.get("latency_ms"),
        error: row.get("error"),
        worker: row.get("worker"),
        certificate_expires_at: row.get("certificate_expires_at"),
        observed_version: row.get("observed_version"),
    }
}
