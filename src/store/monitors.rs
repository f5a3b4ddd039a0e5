//! The monitors projection: one row per monitor, kept equal to what its events
//! say, plus the health the probes last reported.

use deadpool_postgres::{GenericClient, Transaction};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::{DbContext, StoreError};
use crate::domain::{
    ExpectedStatuses, HttpMethod, IntervalSeconds, InvalidValue, Monitor, MonitorConfig,
    MonitorName, MonitorUrl, Status, Tag, Tags, Threshold, TimeoutMs,
};

/// What the probes last said about a monitor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    pub status: Status,
    pub status_since: Option<OffsetDateTime>,
    pub last_checked_at: Option<OffsetDateTime>,
    pub last_latency_ms: Option<i32>,
}

/// A monitor as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorView {
    pub monitor: Monitor,
    pub health: Health,
}

const COLUMNS: &str = "id, name, url, method, interval_seconds, timeout_ms, expected_status, \
    failure_threshold, recovery_threshold, tags, paused, deleted, version, status, \
    status_since, last_checked_at, last_latency_ms, created_at, updated_at";

const NAME_INDEX: &str = "monitors_name_unique";

/// Reads one monitor, deleted or not; `for_update` locks its row until the
/// transaction ends.
pub async fn find(
    client: &impl GenericClient,
    id: Uuid,
    for_update: bool,
) -> Result<Option<MonitorView>, StoreError> {
    let lock = if for_update { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM monitors WHERE id = $1{lock}");
    let row = client
        .query_opt(&sql, &[&id])
        .await
        .context("reading a monitor")?;
    row.as_ref().map(from_row).transpose()
}

/// Writes the projection of `monitor`, leaving its health as it is.
pub async fn save(tx: &Transaction<'_>, monitor: &Monitor) -> Result<MonitorView, StoreError> {
    let c = &monitor.config;
    let expected: Option<Vec<i32>> = c
        .expected_status
        .as_ref()
        .map(|s| s.codes().iter().map(|&code| i32::from(code)).collect());
    let tags: Vec<&str> = c.tags.iter().map(AsRef::as_ref).collect();
    let interval = i32::try_from(c.interval_seconds.get()).unwrap_or(i32::MAX);
    let timeout = i32::try_from(c.timeout_ms.get()).unwrap_or(i32::MAX);
    let sql = format!(
        "INSERT INTO monitors (id, name, url, method, interval_seconds, timeout_ms,
             expected_status, failure_threshold, recovery_threshold, tags, paused, deleted,
             version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (id) DO UPDATE SET
             name = EXCLUDED.name, url = EXCLUDED.url, method = EXCLUDED.method,
             interval_seconds = EXCLUDED.interval_seconds, timeout_ms = EXCLUDED.timeout_ms,
             expected_status = EXCLUDED.expected_status,
             failure_threshold = EXCLUDED.failure_threshold,
             recovery_threshold = EXCLUDED.recovery_threshold, tags = EXCLUDED.tags,
             paused = EXCLUDED.paused, deleted = EXCLUDED.deleted, version = EXCLUDED.version,
             updated_at = EXCLUDED.updated_at
         RETURNING {COLUMNS}"
    );
    let row = tx
        .query_one(
            &sql,
            &[
                &monitor.id,
                &c.name.as_ref(),
                &c.url.as_ref(),
                &c.method.as_str(),
                &interval,
                &timeout,
                &expected,
                &i32::from(c.failure_threshold.get()),
                &i32::from(c.recovery_threshold.get()),
                &tags,
                &monitor.paused,
                &monitor.deleted,
                &monitor.version,
                &monitor.created_at,
                &monitor.updated_at,
            ],
        )
        .await
        .map_err(|e| {
            let name_taken = e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                && e.as_db_error().and_then(|db| db.constraint()) == Some(NAME_INDEX);
            if name_taken {
                StoreError::NameTaken(c.name.as_ref().to_owned())
            } else {
                StoreError::from_db("saving the monitors projection", e)
            }
        })?;
    from_row(&row)
}

/// Filters for listing live monitors, in id order (ids are time-ordered).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Monitors carrying every one of these tags.
    pub tags: Vec<Tag>,
    pub status: Option<Status>,
    pub paused: Option<bool>,
    /// Start after this id (the cursor).
    pub after_id: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(
    client: &impl GenericClient,
    filter: &ListFilter,
) -> Result<Vec<MonitorView>, StoreError> {
    let tags: Vec<&str> = filter.tags.iter().map(AsRef::as_ref).collect();
    let status = filter.status.map(Status::as_str);
    let sql = format!(
        "SELECT {COLUMNS} FROM monitors
         WHERE NOT deleted
           AND ($1::uuid IS NULL OR id > $1)
           AND tags @> $2::text[]
           AND ($3::text IS NULL OR status = $3)
           AND ($4::boolean IS NULL OR paused = $4)
         ORDER BY id
         LIMIT $5"
    );
    let rows = client
        .query(
            &sql,
            &[
                &filter.after_id,
                &tags,
                &status,
                &filter.paused,
                &filter.limit,
            ],
        )
        .await
        .context("listing monitors")?;
    rows.iter().map(from_row).collect()
}

fn from_row(row: &Row) -> Result<MonitorView, StoreError> {
    let id: Uuid = row.get("id");
    let corrupt = |field: &str, e: InvalidValue| {
        StoreError::Corrupt(format!("monitor {id}: column {field}: {e}"))
    };
    let integer = |column: &str| -> i64 { i64::from(row.get::<_, i32>(column)) };
    let expected: Option<Vec<i32>> = row.get("expected_status");
    let tags: Vec<String> = row.get("tags");
    let config = MonitorConfig {
        name: MonitorName::parse(row.get("name")).map_err(|e| corrupt("name", e))?,
        url: MonitorUrl::parse(row.get("url")).map_err(|e| corrupt("url", e))?,
        method: HttpMethod::parse(row.get("method")).map_err(|e| corrupt("method", e))?,
        interval_seconds: IntervalSeconds::parse(integer("interval_seconds"))
            .map_err(|e| corrupt("interval_seconds", e))?,
        timeout_ms: TimeoutMs::parse(integer("timeout_ms"))
            .map_err(|e| corrupt("timeout_ms", e))?,
        expected_status: expected
            .map(|codes| {
                let codes: Vec<i64> = codes.into_iter().map(i64::from).collect();
                ExpectedStatuses::parse(&codes)
            })
            .transpose()
            .map_err(|e| corrupt("expected_status", e))?,
        failure_threshold: Threshold::parse(integer("failure_threshold"))
            .map_err(|e| corrupt("failure_threshold", e))?,
        recovery_threshold: Threshold::parse(integer("recovery_threshold"))
            .map_err(|e| corrupt("recovery_threshold", e))?,
        tags: Tags::parse(&tags).map_err(|e| corrupt("tags", e))?,
    };
    let monitor = Monitor {
        id,
        config,
        paused: row.get("paused"),
        deleted: row.get("deleted"),
        version: row.get("version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    };
    let health = Health {
        status: Status::parse(row.get("status")).map_err(|e| corrupt("status", e))?,
        status_since: row.get("status_since"),
        last_checked_at: row.get("last_checked_at"),
        last_latency_ms: row.get("last_latency_ms"),
    };
    Ok(MonitorView { monitor, health })
}
