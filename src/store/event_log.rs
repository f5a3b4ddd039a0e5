//! The append-only event log: appending (under one lock, so sequence numbers
//! become visible in order) and reading.

use std::collections::HashSet;

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::{DbContext, StoreError, query_prepared};
use crate::domain::actor::{Actor, AggregateType};
use crate::domain::feed::{DriftMessage, FeedItem, RecordedTransition, TransitionMessage};
use crate::domain::{MonitorEvent, RecordedEvent};

/// Key of the transaction-level advisory lock every append takes first.
///
/// Appends take turns, so a global sequence number is only handed out once all
/// lower ones are committed: a reader that has seen `seq = n` will never later
/// find a new event below `n`. That is what lets the live feed resume from a
/// sequence number without gaps.
const APPEND_LOCK: i64 = 0x7570_7761_7463_6802;

/// The channel every append to the log notifies at its commit (a trigger,
/// see migration V14), for those that follow the log.
pub const APPENDED: &str = "upwatch_events";

/// An event as stored, for reading: its type and data as they are in the log.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub seq: i64,
    pub aggregate_type: String,
    /// The monitor's id, for a monitor's event.
    pub aggregate_id: Uuid,
    pub aggregate_seq: i64,
    pub schema_version: i16,
    pub actor: Actor,
    pub event_type: String,
    pub data: Value,
    pub recorded_at: OffsetDateTime,
}

/// Starts a transaction that may append: it waits for its turn to append
/// first, before touching any projection row (see `docs/architecture.md`).
pub async fn begin_appending(
    client: &mut deadpool_postgres::Client,
) -> Result<Transaction<'_>, StoreError> {
    let tx = client
        .transaction()
        .await
        .context("starting a transaction")?;
    lock_for_append(&tx).await?;
    Ok(tx)
}

/// Waits for this transaction's turn to append. Before it, the transaction
/// must have locked no row an appender locks (a `monitors` row), or the two
/// could wait on each other.
pub(crate) async fn lock_for_append(tx: &Transaction<'_>) -> Result<(), StoreError> {
    query_prepared(
        tx,
        "SELECT pg_advisory_xact_lock($1)",
        &[&APPEND_LOCK],
        "waiting for the event log append lock",
    )
    .await?;
    Ok(())
}

/// One event of any aggregate, ready to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub aggregate_type: AggregateType,
    pub aggregate_id: Uuid,
    pub aggregate_seq: i64,
    pub schema_version: i16,
    pub type_name: &'static str,
    pub data: Value,
}

/// Appends one event; returns its global sequence number and recording time.
pub async fn append_one(
    tx: &Transaction<'_>,
    event: NewEvent,
    actor: &Actor,
) -> Result<(i64, OffsetDateTime), StoreError> {
    let row = tx
        .query_one(
            "INSERT INTO events (aggregate_type, aggregate_id, aggregate_seq, schema_version,
                 actor, type, data)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             RETURNING seq, recorded_at",
            &[
                &event.aggregate_type.as_str(),
                &event.aggregate_id,
                &event.aggregate_seq,
                &event.schema_version,
                &actor.as_str(),
                &event.type_name,
                &event.data,
            ],
        )
        .await
        .map_err(|e| {
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                StoreError::ConcurrentWrite
            } else {
                StoreError::from_db("appending an event", e)
            }
        })?;
    Ok((row.get("seq"), row.get("recorded_at")))
}

/// Appends many monitor events by one `actor` in one statement, in the
/// order given; returns each one's global sequence number and recording
/// time, in that order.
pub async fn append_many(
    tx: &Transaction<'_>,
    events: &[(Uuid, i64, MonitorEvent)],
    actor: &Actor,
) -> Result<Vec<(i64, OffsetDateTime)>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = events.iter().map(|(id, ..)| *id).collect();
    let seqs: Vec<i64> = events.iter().map(|(_, seq, _)| *seq).collect();
    let types: Vec<&str> = events.iter().map(|(.., e)| e.type_name()).collect();
    let data: Vec<Value> = events
        .iter()
        .map(|(.., e)| event_data(e, e.type_name()))
        .collect::<Result<_, _>>()?;
    let rows = query_prepared(
        tx,
        "INSERT INTO events (aggregate_type, aggregate_id, aggregate_seq, schema_version,
             actor, type, data)
         SELECT $5, aggregate_id, aggregate_seq, $6, $7, type, data
         FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::jsonb[])
              WITH ORDINALITY AS e(aggregate_id, aggregate_seq, type, data, n)
         ORDER BY n
         RETURNING aggregate_id, aggregate_seq, seq, recorded_at",
        &[
            &ids,
            &seqs,
            &types,
            &data,
            &AggregateType::Monitor.as_str(),
            &MonitorEvent::SCHEMA_VERSION,
            &actor.as_str(),
        ],
        "appending events",
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            StoreError::ConcurrentWrite
        } else {
            e
        }
    })?;
    // RETURNING promises no order: match rows to events by (monitor, seq).
    let mut by_key: std::collections::HashMap<(Uuid, i64), (i64, OffsetDateTime)> = rows
        .iter()
        .map(|row| {
            (
                (row.get("aggregate_id"), row.get("aggregate_seq")),
                (row.get("seq"), row.get("recorded_at")),
            )
        })
        .collect();
    events
        .iter()
        .map(|(id, seq, _)| {
            by_key.remove(&(*id, *seq)).ok_or_else(|| {
                StoreError::Corrupt(format!("event {seq} of monitor {id} was not appended"))
            })
        })
        .collect()
}

/// The `data` of an event whose serde form is `{"type", "data"}`.
pub fn event_data(event: &impl serde::Serialize, type_name: &str) -> Result<Value, StoreError> {
    let mut tagged = serde_json::to_value(event)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode {type_name}: {e}")))?;
    Ok(tagged
        .get_mut("data")
        .map(Value::take)
        .unwrap_or_else(|| Value::Object(Default::default())))
}

/// The columns `stored_event` reads.
const EVENT_COLUMNS: &str = "seq, aggregate_type, aggregate_id, aggregate_seq, schema_version, \
    actor, type, data, recorded_at";

/// A row of `SELECT {EVENT_COLUMNS}`.
fn stored_event(row: &tokio_postgres::Row) -> StoredEvent {
    StoredEvent {
        seq: row.get("seq"),
        aggregate_type: row.get("aggregate_type"),
        aggregate_id: row.get("aggregate_id"),
        aggregate_seq: row.get("aggregate_seq"),
        schema_version: row.get("schema_version"),
        actor: Actor::from_stored(row.get("actor")),
        event_type: row.get("type"),
        data: row.get("data"),
        recorded_at: row.get("recorded_at"),
    }
}

fn to_recorded(event: &StoredEvent) -> Result<RecordedEvent, StoreError> {
    let tagged = serde_json::json!({"type": event.event_type, "data": event.data});
    let parsed: MonitorEvent = serde_json::from_value(tagged).map_err(|e| {
        StoreError::Corrupt(format!("event {} ({}): {e}", event.seq, event.event_type))
    })?;
    Ok(RecordedEvent {
        monitor_id: event.aggregate_id,
        monitor_seq: event.aggregate_seq,
        recorded_at: event.recorded_at,
        actor: event.actor.clone(),
        event: parsed,
    })
}

/// Which slice of the log to read: oldest first, after `after_seq`.
#[derive(Debug, Clone, Copy)]
pub struct EventQuery {
    pub monitor_id: Option<Uuid>,
    pub after_seq: i64,
    pub limit: i64,
}

pub async fn list(
    client: &impl GenericClient,
    query: EventQuery,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS}
         FROM events
         WHERE seq > $1
           AND ($2::uuid IS NULL OR (aggregate_type = 'monitor' AND aggregate_id = $2))
         ORDER BY seq
         LIMIT $3"
    );
    let rows = client
        .query(&sql, &[&query.after_seq, &query.monitor_id, &query.limit])
        .await
        .context("reading the event log")?;
    Ok(rows.iter().map(stored_event).collect())
}

/// Whether the log holds anything about this monitor (deleted ones included).
pub async fn has_monitor(
    client: &impl GenericClient,
    monitor_id: Uuid,
) -> Result<bool, StoreError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM events
             WHERE aggregate_type = 'monitor' AND aggregate_id = $1)",
            &[&monitor_id],
        )
        .await
        .context("looking a monitor up in the event log")?;
    Ok(row.get(0))
}

/// A monitor's whole history, oldest first, as domain events.
pub async fn history(
    client: &impl GenericClient,
    monitor_id: Uuid,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let events = list(
        client,
        EventQuery {
            monitor_id: Some(monitor_id),
            after_seq: 0,
            limit: i64::MAX,
        },
    )
    .await?;
    events.iter().map(to_recorded).collect()
}

/// The newest sequence number in the log (0 when empty).
pub async fn latest_seq(client: &impl GenericClient) -> Result<i64, StoreError> {
    let row = client
        .query_one("SELECT COALESCE(MAX(seq), 0) FROM events", &[])
        .await
        .context("reading the newest event sequence number")?;
    Ok(row.get(0))
}

/// Of up to `limit` events after `after_seq`: those of monitors, as (the
/// monitor, whether it is a status change), oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsPage {
    pub events: Vec<(Uuid, bool)>,
    /// The sequence number read up to.
    pub read_up_to: i64,
    /// The page held `limit` events, of monitors or not: more may follow.
    pub full: bool,
}

/// Reads up to `limit` events after `after_seq`, oldest first.
pub async fn events_after(
    client: &impl GenericClient,
    after_seq: i64,
    limit: i64,
) -> Result<EventsPage, StoreError> {
    let rows = query_prepared(
        client,
        "SELECT seq, aggregate_id,
                type IN ('status_changed', 'version_drift_detected', 'version_drift_resolved'),
                aggregate_type = 'monitor'
         FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        &[&after_seq, &limit],
        "reading monitor changes from the event log",
    )
    .await?;
    Ok(EventsPage {
        read_up_to: rows.last().map_or(after_seq, |row| row.get(0)),
        full: i64::try_from(rows.len()).is_ok_and(|read| read >= limit),
        events: rows
            .iter()
            .filter(|row| row.get::<_, bool>(3))
            .map(|row| (row.get(1), row.get(2)))
            .collect(),
    })
}

/// A page of the monitors whose configuration or lifecycle changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChanges {
    /// Each changed monitor once, in the order of its first change.
    pub monitors: Vec<Uuid>,
    /// The sequence number read up to.
    pub read_up_to: i64,
    /// The page held `limit` events: more may follow at once.
    pub full: bool,
}

/// The monitors whose configuration or lifecycle changed after `after_seq`
/// (health changes left out), among at most `limit` events.
pub async fn configured_after(
    client: &impl GenericClient,
    after_seq: i64,
    limit: i64,
) -> Result<ConfigChanges, StoreError> {
    let page = events_after(client, after_seq, limit).await?;
    let mut seen = HashSet::new();
    let monitors = page
        .events
        .into_iter()
        .filter(|&(id, status_changed)| !status_changed && seen.insert(id))
        .map(|(id, _)| id)
        .collect();
    Ok(ConfigChanges {
        monitors,
        read_up_to: page.read_up_to,
        full: page.full,
    })
}

/// What the live feed carries, from the log: `status_changed` and drift
/// events after `after_seq`, oldest first, of the monitors among
/// `monitor_ids` (all when empty) that carry every one of `tags`, with each
/// monitor's current name and tags.
pub async fn feed_after(
    client: &impl GenericClient,
    after_seq: i64,
    monitor_ids: &[Uuid],
    tags: &[&str],
    limit: i64,
) -> Result<Vec<FeedItem>, StoreError> {
    let rows = client
        .query(
            "SELECT e.seq, e.aggregate_id, e.type, e.data, e.recorded_at, m.name, m.tags
             FROM events e JOIN monitors m ON m.id = e.aggregate_id
             WHERE e.aggregate_type = 'monitor'
               AND e.type IN ('status_changed', 'version_drift_detected', 'version_drift_resolved')
               AND e.seq > $1
               AND (cardinality($2::uuid[]) = 0 OR e.aggregate_id = ANY($2))
               AND m.tags @> $3::text[]
             ORDER BY e.seq
             LIMIT $4",
            &[&after_seq, &monitor_ids, &tags, &limit],
        )
        .await
        .context("reading the live feed from the event log")?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.get("seq");
            let event_type: String = row.get("type");
            let tagged =
                serde_json::json!({"type": event_type, "data": row.get::<_, Value>("data")});
            let event: MonitorEvent = serde_json::from_value(tagged)
                .map_err(|e| StoreError::Corrupt(format!("event {seq} ({event_type}): {e}")))?;
            let (monitor_id, name, tags): (Uuid, String, Vec<String>) =
                (row.get("aggregate_id"), row.get("name"), row.get("tags"));
            Ok(match event {
                MonitorEvent::VersionDriftDetected(d) | MonitorEvent::VersionDriftResolved(d) => {
                    FeedItem::Drift(DriftMessage {
                        seq,
                        monitor_id,
                        name,
                        expected: d.expected,
                        observed: d.observed,
                        at: d.checked_at,
                        resolved: event_type == "version_drift_resolved",
                        tags,
                    })
                }
                MonitorEvent::StatusChanged(change) => {
                    FeedItem::Transition(TransitionMessage::from(&RecordedTransition {
                        seq,
                        monitor_id,
                        name,
                        tags,
                        change,
                        recorded_at: row.get("recorded_at"),
                    }))
                }
                other => {
                    return Err(StoreError::Corrupt(format!(
                        "event {seq}: {} is not a feed event",
                        other.type_name()
                    )));
                }
            })
        })
        .collect()
}

/// A slice of the log in (monitor, per-monitor sequence) order: how a replay
/// walks it one monitor after another without holding it all.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonitorScan {
    /// Continue after this (monitor id, monitor_seq).
    pub after: Option<(Uuid, i64)>,
    /// Only this monitor.
    pub monitor_id: Option<Uuid>,
    /// Only events recorded at or before this time.
    pub until: Option<OffsetDateTime>,
    pub limit: i64,
}

pub async fn scan_by_monitor(
    client: &impl GenericClient,
    scan: MonitorScan,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let (after_id, after_seq) = scan.after.unzip();
    let sql = format!(
        "SELECT {EVENT_COLUMNS}
         FROM events
         WHERE aggregate_type = 'monitor'
           AND ($1::uuid IS NULL OR (aggregate_id, aggregate_seq) > ($1, $2::bigint))
           AND ($3::uuid IS NULL OR aggregate_id = $3)
           AND ($4::timestamptz IS NULL OR recorded_at <= $4)
         ORDER BY aggregate_id, aggregate_seq
         LIMIT $5"
    );
    let rows = client
        .query(
            &sql,
            &[
                &after_id,
                &after_seq,
                &scan.monitor_id,
                &scan.until,
                &scan.limit,
            ],
        )
        .await
        .context("reading the event log by monitor")?;
    rows.iter()
        .map(|row| to_recorded(&stored_event(row)))
        .collect()
}

/// One monitor's history up to `until` (everything when `None`), oldest first.
pub async fn history_until(
    client: &impl GenericClient,
    monitor_id: Uuid,
    until: Option<OffsetDateTime>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    scan_by_monitor(
        client,
        MonitorScan {
            monitor_id: Some(monitor_id),
            until,
            limit: i64::MAX,
            ..MonitorScan::default()
        },
    )
    .await
}

/// Monitors in the projection that the log knows nothing of.
pub async fn projection_without_events(
    client: &impl GenericClient,
) -> Result<Vec<Uuid>, StoreError> {
    let rows = client
        .query(
            "SELECT id FROM monitors m
             WHERE NOT EXISTS (SELECT 1 FROM events e
                               WHERE e.aggregate_type = 'monitor' AND e.aggregate_id = m.id)
             ORDER BY id",
            &[],
        )
        .await
        .context("looking for projection rows without events")?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
