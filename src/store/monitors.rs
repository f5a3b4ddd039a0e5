//! The monitors projection: one row per monitor, kept equal to what its events
//! say, plus the health the probes last reported.

use deadpool_postgres::{GenericClient, Transaction};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{DbContext, StoreError, query_prepared};
use crate::domain::check::Check;
use crate::domain::folding::{MonitorHealth, VersionState};
use crate::domain::health::{HealthState, Thresholds};
use crate::domain::{
    IntervalSeconds, InvalidValue, Monitor, MonitorConfig, MonitorName, Status, Tag, Tags,
    Threshold, TimeoutMs,
};

/// What the probes last said about a monitor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    pub status: Status,
    pub status_since: Option<OffsetDateTime>,
    pub last_checked_at: Option<OffsetDateTime>,
    pub last_latency_ms: Option<i32>,
    /// The version the newest result reported, and whether it drifts.
    pub observed_version: Option<String>,
    pub drift: bool,
}

/// A monitor as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorView {
    pub monitor: Monitor,
    pub health: Health,
}

const COLUMNS: &str = "id, name, check_config, interval_seconds, timeout_ms, \
    failure_threshold, recovery_threshold, tags, paused, deleted, version, status, \
    status_since, last_checked_at, last_latency_ms, created_at, updated_at, observed_version, drift";

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

/// Reads the monitors among `ids`, deleted or not, in one query (in no
/// particular order; an id with no monitor is left out).
pub async fn find_many(
    client: &impl GenericClient,
    ids: &[Uuid],
) -> Result<Vec<MonitorView>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {COLUMNS} FROM monitors WHERE id = ANY($1)");
    let rows = query_prepared(client, &sql, &[&ids], "reading monitors").await?;
    rows.iter().map(from_row).collect()
}

/// Writes the projection of `monitor`, leaving its health as it is.
pub async fn save(tx: &Transaction<'_>, monitor: &Monitor) -> Result<MonitorView, StoreError> {
    save_many(tx, std::slice::from_ref(monitor))
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt(format!("monitor {} was not saved", monitor.id)))
}

/// Writes the projections of `monitors` in one statement, leaving their
/// health as it is; returns them in the order given.
pub async fn save_many(
    tx: &Transaction<'_>,
    monitors: &[Monitor],
) -> Result<Vec<MonitorView>, StoreError> {
    if monitors.is_empty() {
        return Ok(Vec::new());
    }
    let column = |get: fn(&Monitor) -> i32| -> Vec<i32> { monitors.iter().map(get).collect() };
    fn saturate(value: u32) -> i32 {
        i32::try_from(value).unwrap_or(i32::MAX)
    }
    let ids: Vec<Uuid> = monitors.iter().map(|m| m.id).collect();
    let names: Vec<&str> = monitors.iter().map(|m| m.config.name.as_ref()).collect();
    let checks: Vec<serde_json::Value> = monitors
        .iter()
        .map(|m| serde_json::to_value(&m.config.check))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Corrupt(format!("cannot encode a check: {e}")))?;
    let intervals = column(|m| saturate(m.config.interval_seconds.get()));
    let timeouts = column(|m| saturate(m.config.timeout_ms.get()));
    let failures = column(|m| i32::from(m.config.failure_threshold.get()));
    let recoveries = column(|m| i32::from(m.config.recovery_threshold.get()));
    // Arrays of arrays of different lengths do not exist in PostgreSQL: each
    // monitor's tags travel as one JSON array.
    let tags: Vec<serde_json::Value> = monitors
        .iter()
        .map(|m| {
            serde_json::json!(
                m.config
                    .tags
                    .iter()
                    .map(AsRef::as_ref)
                    .collect::<Vec<&str>>()
            )
        })
        .collect();
    let paused: Vec<bool> = monitors.iter().map(|m| m.paused).collect();
    let deleted: Vec<bool> = monitors.iter().map(|m| m.deleted).collect();
    let versions: Vec<i64> = monitors.iter().map(|m| m.version).collect();
    let created: Vec<OffsetDateTime> = monitors.iter().map(|m| m.created_at).collect();
    let updated: Vec<OffsetDateTime> = monitors.iter().map(|m| m.updated_at).collect();
    let sql = format!(
        "INSERT INTO monitors (id, name, check_config, interval_seconds, timeout_ms,
             failure_threshold, recovery_threshold, tags, paused, deleted,
             version, created_at, updated_at)
         SELECT id, name, check_config, interval_seconds, timeout_ms,
             failure_threshold, recovery_threshold,
             ARRAY(SELECT jsonb_array_elements_text(tags)), paused, deleted,
             version, created_at, updated_at
         FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::int4[], $5::int4[],
                     $6::int4[], $7::int4[], $8::jsonb[], $9::bool[], $10::bool[],
                     $11::int8[], $12::timestamptz[], $13::timestamptz[])
              WITH ORDINALITY AS m(id, name, check_config, interval_seconds, timeout_ms,
                  failure_threshold, recovery_threshold, tags, paused, deleted,
                  version, created_at, updated_at, n)
         ORDER BY n
         ON CONFLICT (id) DO UPDATE SET
             name = EXCLUDED.name, check_config = EXCLUDED.check_config,
             interval_seconds = EXCLUDED.interval_seconds, timeout_ms = EXCLUDED.timeout_ms,
             failure_threshold = EXCLUDED.failure_threshold,
             recovery_threshold = EXCLUDED.recovery_threshold, tags = EXCLUDED.tags,
             paused = EXCLUDED.paused, deleted = EXCLUDED.deleted, version = EXCLUDED.version,
             updated_at = EXCLUDED.updated_at
         RETURNING {COLUMNS}"
    );
    let statement = tx
        .prepare_cached(&sql)
        .await
        .context("saving the monitors projection")?;
    let rows = tx
        .query(
            &statement,
            &[
                &ids,
                &names,
                &checks,
                &intervals,
                &timeouts,
                &failures,
                &recoveries,
                &tags,
                &paused,
                &deleted,
                &versions,
                &created,
                &updated,
            ],
        )
        .await
        .map_err(|e| {
            let name = taken_name(&e, monitors);
            StoreError::from_named_write(
                "saving the monitors projection",
                e,
                NAME_INDEX,
                "monitor",
                &name,
            )
        })?;
    // RETURNING promises no order: put the rows back in the order given.
    let mut by_id: std::collections::HashMap<Uuid, MonitorView> = rows
        .iter()
        .map(|row| from_row(row).map(|view| (view.monitor.id, view)))
        .collect::<Result<_, _>>()?;
    ids.iter()
        .map(|id| {
            by_id
                .remove(id)
                .ok_or_else(|| StoreError::Corrupt(format!("monitor {id} was not saved")))
        })
        .collect()
}

/// Which of `monitors` took a name already in use, as PostgreSQL's report of
/// the unique violation says ("Key (lower((name)::text))=(web) already
/// exists."): the last one of that name, as rows go in the order given; the
/// first monitor when the report does not tell.
fn taken_name(error: &tokio_postgres::Error, monitors: &[Monitor]) -> String {
    let key = error
        .as_db_error()
        .and_then(|db| db.detail())
        .and_then(|detail| detail.split_once(")=(")?.1.rsplit_once(") already exists"))
        .map(|(key, _)| key.to_owned());
    let names = monitors.iter().map(|m| m.config.name.as_ref());
    match key {
        Some(key) => names
            .clone()
            .rev()
            .find(|name| name.to_lowercase() == key)
            .map_or(key, str::to_owned),
        None => names.into_iter().next().unwrap_or_default().to_owned(),
    }
}

/// Filters for listing live monitors, in id order (ids are time-ordered).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Monitors carrying every one of these tags.
    pub tags: Vec<Tag>,
    pub status: Option<Status>,
    pub paused: Option<bool>,
    /// Monitors whose name contains this, ignoring case.
    pub name_contains: Option<String>,
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
           AND ($6::text IS NULL OR lower(name) LIKE '%' || $6 || '%' ESCAPE '\\')
         ORDER BY id
         LIMIT $5"
    );
    // LIKE's own characters are matched as themselves.
    let pattern = filter.name_contains.as_ref().map(|text| {
        text.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    });
    let rows = client
        .query(
            &sql,
            &[
                &filter.after_id,
                &tags,
                &status,
                &filter.paused,
                &filter.limit,
                &pattern,
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
    let tags: Vec<String> = row.get("tags");
    let check: Check = serde_json::from_value(row.get("check_config"))
        .map_err(|e| StoreError::Corrupt(format!("monitor {id}: column check_config: {e}")))?;
    let config = MonitorConfig {
        name: MonitorName::parse(row.get("name")).map_err(|e| corrupt("name", e))?,
        check,
        interval_seconds: IntervalSeconds::parse(integer("interval_seconds"))
            .map_err(|e| corrupt("interval_seconds", e))?,
        timeout_ms: TimeoutMs::parse(integer("timeout_ms"))
            .map_err(|e| corrupt("timeout_ms", e))?,
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
        observed_version: row.get("observed_version"),
        drift: row.get("drift"),
    };
    Ok(MonitorView { monitor, health })
}

/// Loads the health of the monitors among `ids`. The caller holds the append lock
/// (`event_log::begin_appending`), which every writer of `monitors` takes
/// first, so the rows cannot change under it and need no row locks of their
/// own: each would cost a write and a WAL record per folded result.
pub async fn load_health(
    tx: &Transaction<'_>,
    ids: &[Uuid],
) -> Result<Vec<MonitorHealth>, StoreError> {
    let rows = tx
        .query(
            "SELECT id, name, tags, failure_threshold, recovery_threshold, paused, deleted, version,
                    status, status_since, consecutive_successes, consecutive_failures,
                    newest_folded_at, last_checked_at, last_latency_ms,
                    check_config->>'expected_version' AS expected_version, drift, observed_version
             FROM monitors WHERE id = ANY($1) ORDER BY id",
            &[&ids],
        )
        .await
        .context("loading monitors to fold results into")?;
    rows.iter()
        .map(|row| {
            let id: Uuid = row.get("id");
            let corrupt = |field: &str, e: InvalidValue| {
                StoreError::Corrupt(format!("monitor {id}: column {field}: {e}"))
            };
            let threshold = |column: &str| {
                Threshold::parse(i64::from(row.get::<_, i32>(column)))
                    .map_err(|e| corrupt(column, e))
            };
            let count = |column: &str| u32::try_from(row.get::<_, i32>(column)).unwrap_or(0);
            Ok(MonitorHealth {
                id,
                name: row.get("name"),
                tags: row.get("tags"),
                thresholds: Thresholds {
                    failure: threshold("failure_threshold")?,
                    recovery: threshold("recovery_threshold")?,
                },
                active: !row.get::<_, bool>("paused") && !row.get::<_, bool>("deleted"),
                version: row.get("version"),
                state: HealthState {
                    status: Status::parse(row.get("status")).map_err(|e| corrupt("status", e))?,
                    since: row.get("status_since"),
                    consecutive_successes: count("consecutive_successes"),
                    consecutive_failures: count("consecutive_failures"),
                    newest_folded: row.get("newest_folded_at"),
                },
                last_checked_at: row.get("last_checked_at"),
                last_latency_ms: row.get("last_latency_ms"),
                reported: VersionState {
                    expected: row.get("expected_version"),
                    drifting: row.get("drift"),
                    observed: row.get("observed_version"),
                },
            })
        })
        .collect()
}

/// Writes the health state (and version) of folded monitors, in one statement.
/// A version never goes back: a state saved after the monitor changed keeps
/// the newer version.
pub async fn save_health(
    tx: &Transaction<'_>,
    targets: &[&MonitorHealth],
) -> Result<(), StoreError> {
    if targets.is_empty() {
        return Ok(());
    }
    let count = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    let ids: Vec<Uuid> = targets.iter().map(|t| t.id).collect();
    let status: Vec<&str> = targets.iter().map(|t| t.state.status.as_str()).collect();
    let since: Vec<Option<OffsetDateTime>> = targets.iter().map(|t| t.state.since).collect();
    let successes: Vec<i32> = targets
        .iter()
        .map(|t| count(t.state.consecutive_successes))
        .collect();
    let failures: Vec<i32> = targets
        .iter()
        .map(|t| count(t.state.consecutive_failures))
        .collect();
    let newest: Vec<Option<OffsetDateTime>> =
        targets.iter().map(|t| t.state.newest_folded).collect();
    let checked: Vec<Option<OffsetDateTime>> = targets.iter().map(|t| t.last_checked_at).collect();
    let latency: Vec<Option<i32>> = targets.iter().map(|t| t.last_latency_ms).collect();
    let version: Vec<i64> = targets.iter().map(|t| t.version).collect();
    let drift: Vec<bool> = targets.iter().map(|t| t.reported.drifting).collect();
    let observed: Vec<Option<&str>> = targets
        .iter()
        .map(|t| t.reported.observed.as_deref())
        .collect();
    query_prepared(
        tx,
        "UPDATE monitors AS m SET
             status = u.status, status_since = u.since,
             consecutive_successes = u.successes, consecutive_failures = u.failures,
             newest_folded_at = u.newest, last_checked_at = u.checked,
             last_latency_ms = u.latency, version = GREATEST(m.version, u.version),
             drift = u.drift, observed_version = u.observed
         FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::integer[], $5::integer[],
                     $6::timestamptz[], $7::timestamptz[], $8::integer[], $9::bigint[],
                     $10::boolean[], $11::text[])
              AS u(id, status, since, successes, failures, newest, checked, latency, version,
                   drift, observed)
         WHERE m.id = u.id",
        &[
            &ids, &status, &since, &successes, &failures, &newest, &checked, &latency, &version,
            &drift, &observed,
        ],
        "saving monitor health",
    )
    .await?;
    Ok(())
}

/// Every monitor that is probed (registered, not paused, not deleted).
pub async fn list_active(client: &impl GenericClient) -> Result<Vec<Monitor>, StoreError> {
    list_every(client, Some(false)).await
}

/// The id and version of every monitor that is probed, in id order: what a
/// scheduler compares with what it runs, without reading whole monitors.
pub async fn active_versions(client: &impl GenericClient) -> Result<Vec<(Uuid, i64)>, StoreError> {
    const PAGE: i64 = 10_000;
    let mut versions = Vec::new();
    let mut after: Option<Uuid> = None;
    loop {
        let rows = query_prepared(
            client,
            "SELECT id, version FROM monitors
             WHERE NOT deleted AND NOT paused AND ($1::uuid IS NULL OR id > $1)
             ORDER BY id LIMIT $2",
            &[&after, &PAGE],
            "reading the versions of the active monitors",
        )
        .await?;
        let full = i64::try_from(rows.len()).is_ok_and(|read| read >= PAGE);
        versions.extend(
            rows.iter()
                .map(|row| (row.get::<_, Uuid>(0), row.get::<_, i64>(1))),
        );
        after = versions.last().map(|&(id, _)| id);
        if !full {
            return Ok(versions);
        }
    }
}

/// Every monitor not deleted, paused or not.
pub async fn list_live(client: &impl GenericClient) -> Result<Vec<Monitor>, StoreError> {
    list_every(client, None).await
}

async fn list_every(
    client: &impl GenericClient,
    paused: Option<bool>,
) -> Result<Vec<Monitor>, StoreError> {
    let mut active = Vec::new();
    let mut filter = ListFilter {
        paused,
        limit: 1000,
        ..ListFilter::default()
    };
    loop {
        let page = list(client, &filter).await?;
        let full = page.len() as i64 == filter.limit;
        filter.after_id = page.last().map(|view| view.monitor.id);
        active.extend(page.into_iter().map(|view| view.monitor));
        if !full {
            return Ok(active);
        }
    }
}
