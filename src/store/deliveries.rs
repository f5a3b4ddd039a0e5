//! The deliveries outbox: rows owed in the same transaction as the event
//! that owes them, claimed by notifiers with `FOR UPDATE SKIP LOCKED`, and
//! the outcome of each attempt.
//!
//! A claim bumps `attempts` and moves `next_attempt_at` past the longest
//! attempt (the lease), so a notifier that dies mid-send leaves the row to
//! another once the lease is over. The outcome is recorded only if the row is
//! still at the attempt that was claimed: a sender that outlived its lease
//! cannot overwrite a newer attempt.

use std::collections::HashMap;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Transaction};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::channels::{self, ChannelView};
use super::{DbContext, Pool, StoreError, query_prepared};
use crate::domain::MonitorEvent;
use crate::domain::check::Check;
use crate::domain::notification::{
    DeliveryStatus, DriftNotice, MonitorSummary, NextStep, Notification, NotificationKind,
    reminder_due,
};

/// The PostgreSQL notification channel a new due delivery is announced on.
pub const WAKE_UP: &str = "upwatch_deliveries";

/// A delivery as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryView {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub monitor_id: Option<Uuid>,
    pub event_seq: Option<i64>,
    pub kind: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: OffsetDateTime,
    pub delivered_at: Option<OffsetDateTime>,
    pub next_attempt_at: OffsetDateTime,
}

const COLUMNS: &str = "id, channel_id, monitor_id, event_seq, kind, status, attempts, \
    last_error, created_at, delivered_at, next_attempt_at";

fn view(row: &Row) -> DeliveryView {
    DeliveryView {
        id: row.get("id"),
        channel_id: row.get("channel_id"),
        monitor_id: row.get("monitor_id"),
        event_seq: row.get("event_seq"),
        kind: row.get("kind"),
        status: row.get("status"),
        attempts: row.get("attempts"),
        last_error: row.get("last_error"),
        created_at: row.get("created_at"),
        delivered_at: row.get("delivered_at"),
        next_attempt_at: row.get("next_attempt_at"),
    }
}

/// One event just appended that is news (a transition, a drift change), as
/// the outbox needs it.
#[derive(Debug, Clone, Copy)]
pub struct Appended<'a> {
    pub seq: i64,
    pub monitor_id: Uuid,
    pub kind: NotificationKind,
    pub tags: &'a [String],
}

/// Owes one delivery per channel that wants each event; within the
/// transaction that appended them, so they commit (or not) together. Wakes
/// the notifiers on commit when anything is owed.
pub async fn owe_for_events(
    tx: &Transaction<'_>,
    news: &[Appended<'_>],
) -> Result<usize, StoreError> {
    if news.is_empty() {
        return Ok(0);
    }
    let channels = channels::all_live(tx).await?;
    let mut owed = Owed::default();
    for event in news {
        for channel in channels
            .iter()
            .filter(|c| c.config.wants(event.kind, event.tags))
        {
            owed.push(channel.id, event.monitor_id, event.seq, event.kind, None);
        }
    }
    owed.insert(tx).await
}

/// Rows to insert, column by column.
#[derive(Default)]
struct Owed {
    channels: Vec<Uuid>,
    monitors: Vec<Uuid>,
    seqs: Vec<i64>,
    kinds: Vec<&'static str>,
    reminders: Vec<Option<i32>>,
}

impl Owed {
    fn push(
        &mut self,
        channel: Uuid,
        monitor: Uuid,
        seq: i64,
        kind: NotificationKind,
        reminder: Option<i32>,
    ) {
        self.channels.push(channel);
        self.monitors.push(monitor);
        self.seqs.push(seq);
        self.kinds.push(kind.as_str());
        self.reminders.push(reminder);
    }

    /// Inserts the rows (those owed already are skipped) and wakes the
    /// notifiers; returns how many were new.
    async fn insert(self, client: &impl GenericClient) -> Result<usize, StoreError> {
        if self.channels.is_empty() {
            return Ok(0);
        }
        let rows = query_prepared(
            client,
            "INSERT INTO deliveries (id, channel_id, monitor_id, event_seq, kind, reminder_number)
             SELECT gen_random_uuid(), c, m, s, k, r
             FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::int[]) AS o(c, m, s, k, r)
             ON CONFLICT DO NOTHING
             RETURNING id",
            &[
                &self.channels,
                &self.monitors,
                &self.seqs,
                &self.kinds,
                &self.reminders,
            ],
            "owing deliveries",
        )
        .await?;
        if !rows.is_empty() {
            wake_notifiers(client).await?;
        }
        Ok(rows.len())
    }
}

async fn wake_notifiers(client: &impl GenericClient) -> Result<(), StoreError> {
    client
        .execute(&format!("NOTIFY {WAKE_UP}"), &[])
        .await
        .context("waking the notifiers")?;
    Ok(())
}

/// Owes the reminders due at `now`: for each monitor down (not paused), each
/// channel that wants reminders of it, one per whole period since the
/// transition into the outage. Returns how many were new.
pub async fn owe_reminders(pool: &Pool, now: OffsetDateTime) -> Result<usize, StoreError> {
    let client = super::connection(pool, "owing reminders").await?;
    let channels: Vec<ChannelView> = channels::all_live(&client)
        .await?
        .into_iter()
        .filter(|c| c.config.remind_every.is_some())
        .collect();
    if channels.is_empty() {
        return Ok(0);
    }
    let outages = query_prepared(
        &client,
        "SELECT m.id, m.tags, e.seq, e.recorded_at
         FROM monitors m
         CROSS JOIN LATERAL (
             SELECT seq, recorded_at, data FROM events
             WHERE aggregate_type = 'monitor' AND aggregate_id = m.id AND type = 'status_changed'
             ORDER BY aggregate_seq DESC LIMIT 1) e
         WHERE m.status = 'down' AND NOT m.deleted AND NOT m.paused
           AND e.data->>'to' = 'down'",
        &[],
        "reading the monitors that are down",
    )
    .await?;
    let mut owed = Owed::default();
    for outage in &outages {
        let tags: Vec<String> = outage.get("tags");
        let since: OffsetDateTime = outage.get("recorded_at");
        for channel in &channels {
            let Some(period) = channel.config.remind_every else {
                continue;
            };
            let period = Duration::from_secs(u64::from(period.get()) * 60);
            if let Some(number) = reminder_due(since, period, now)
                && channel.config.wants(NotificationKind::Reminder, &tags)
            {
                let number = i32::try_from(number).unwrap_or(i32::MAX);
                owed.push(
                    channel.id,
                    outage.get("id"),
                    outage.get("seq"),
                    NotificationKind::Reminder,
                    Some(number),
                );
            }
        }
    }
    owed.insert(&client).await
}

/// A delivery claimed for one attempt, with what its notification says.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    /// Which attempt this is (1 for the first); the outcome is recorded
    /// against it.
    pub attempt: i32,
    pub created_at: OffsetDateTime,
    pub channel: ChannelView,
    pub notification: Notification,
}

/// Claims up to `limit` due deliveries for one attempt each, leased for
/// `lease`; rows another notifier holds are skipped, not waited for.
pub async fn claim(pool: &Pool, limit: usize, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
    let client = super::connection(pool, "claiming deliveries").await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = query_prepared(
        &client,
        "WITH due AS (
             SELECT id FROM deliveries
             WHERE status = 'pending' AND next_attempt_at <= now()
             ORDER BY next_attempt_at
             LIMIT $1
             FOR UPDATE SKIP LOCKED)
         UPDATE deliveries d
         SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
         FROM due WHERE d.id = due.id
         RETURNING d.id, d.channel_id, d.monitor_id, d.event_seq, d.kind, d.attempts, d.created_at",
        &[&limit, &lease.as_secs_f64()],
        "claiming deliveries",
    )
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    with_details(&client, &rows).await
}

/// Owes a `test` delivery to the channel and claims its first attempt.
pub async fn create_test(
    pool: &Pool,
    channel_id: Uuid,
    lease: Duration,
) -> Result<Claimed, StoreError> {
    let client = super::connection(pool, "creating a test delivery").await?;
    let rows = client
        .query(
            "INSERT INTO deliveries (id, channel_id, kind, attempts, next_attempt_at)
             SELECT gen_random_uuid(), id, 'test', 1, now() + make_interval(secs => $2)
             FROM channels WHERE id = $1 AND NOT deleted
             RETURNING id, channel_id, monitor_id, event_seq, kind, attempts, created_at",
            &[&channel_id, &lease.as_secs_f64()],
        )
        .await
        .context("creating a test delivery")?;
    if rows.is_empty() {
        return Err(StoreError::NotFound("channel"));
    }
    with_details(&client, &rows)
        .await?
        .pop()
        .ok_or(StoreError::NotFound("channel"))
}

/// Reads the channel, event and monitor of each claimed row.
async fn with_details(
    client: &impl GenericClient,
    rows: &[Row],
) -> Result<Vec<Claimed>, StoreError> {
    let channel_ids: Vec<Uuid> = rows.iter().map(|r| r.get("channel_id")).collect();
    let seqs: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.get::<_, Option<i64>>("event_seq"))
        .collect();
    let channel_rows = query_prepared(
        client,
        &format!(
            "SELECT {} FROM channels WHERE id = ANY($1)",
            channels::COLUMNS
        ),
        &[&channel_ids],
        "reading the channels of deliveries",
    )
    .await?;
    let mut channels_by_id = HashMap::new();
    for row in &channel_rows {
        let channel = channels::from_row(row)?;
        channels_by_id.insert(channel.id, channel);
    }
    let event_rows = query_prepared(
        client,
        "SELECT e.seq, e.type, e.data, e.recorded_at, m.id, m.name, m.check_config, m.tags
         FROM events e JOIN monitors m ON m.id = e.aggregate_id
         WHERE e.seq = ANY($1) AND e.aggregate_type = 'monitor'",
        &[&seqs],
        "reading the events of deliveries",
    )
    .await?;
    let mut events_by_seq = HashMap::new();
    for row in &event_rows {
        events_by_seq.insert(row.get::<_, i64>("seq"), row);
    }

    let mut claimed = Vec::with_capacity(rows.len());
    for row in rows {
        match readable(row, &channels_by_id, &events_by_seq) {
            Ok(delivery) => claimed.push(delivery),
            // Unreadable now is unreadable on every attempt: fail it rather
            // than claim it again and again.
            Err(error) => {
                let id: Uuid = row.get("id");
                tracing::error!(delivery_id = %id, error = %error, "delivery cannot be read; failed");
                let next = NextStep::Failed {
                    error: error.to_string(),
                };
                record_on(client, id, row.get("attempts"), &next).await?;
            }
        }
    }
    Ok(claimed)
}

fn readable(
    row: &Row,
    channels_by_id: &HashMap<Uuid, ChannelView>,
    events_by_seq: &HashMap<i64, &Row>,
) -> Result<Claimed, StoreError> {
    let id: Uuid = row.get("id");
    let corrupt = |what: String| StoreError::Corrupt(format!("delivery {id}: {what}"));
    let channel_id: Uuid = row.get("channel_id");
    let channel = channels_by_id
        .get(&channel_id)
        .cloned()
        .ok_or_else(|| corrupt(format!("channel {channel_id} is missing")))?;
    let kind = NotificationKind::parse(row.get("kind")).map_err(|e| corrupt(e.0))?;
    let (mut monitor, mut change, mut at) = (None, None, row.get("created_at"));
    let mut drift = None;
    if let Some(seq) = row.get::<_, Option<i64>>("event_seq") {
        let event = events_by_seq
            .get(&seq)
            .ok_or_else(|| corrupt(format!("event {seq} is missing")))?;
        let tagged = serde_json::json!({
            "type": event.get::<_, String>("type"),
            "data": event.get::<_, serde_json::Value>("data"),
        });
        match serde_json::from_value(tagged) {
            Ok(MonitorEvent::StatusChanged(recorded)) => change = Some(recorded),
            Ok(MonitorEvent::VersionDriftDetected(d)) => drift = Some(DriftNotice::of(d, false)),
            Ok(MonitorEvent::VersionDriftResolved(d)) => drift = Some(DriftNotice::of(d, true)),
            _ => {}
        }
        let check: Check = serde_json::from_value(event.get("check_config"))
            .map_err(|e| corrupt(format!("monitor check: {e}")))?;
        monitor = Some(MonitorSummary {
            id: event.get("id"),
            name: event.get("name"),
            url: check.url().as_ref().to_owned(),
            tags: event.get("tags"),
        });
        at = event.get("recorded_at");
    }
    Ok(Claimed {
        id,
        attempt: row.get("attempts"),
        created_at: row.get("created_at"),
        notification: Notification {
            delivery_id: id,
            kind,
            seq: row.get("event_seq"),
            at,
            monitor,
            change,
            drift,
            channel_name: channel.config.name.as_ref().to_owned(),
        },
        channel,
    })
}

/// Records what attempt `attempt` of the delivery came to; false if the
/// row had moved on (another attempt claimed it after this one's lease).
pub async fn record(
    pool: &Pool,
    id: Uuid,
    attempt: i32,
    next: &NextStep,
) -> Result<bool, StoreError> {
    let client = super::connection(pool, "recording a delivery attempt").await?;
    record_on(&client, id, attempt, next).await
}

async fn record_on(
    client: &impl GenericClient,
    id: Uuid,
    attempt: i32,
    next: &NextStep,
) -> Result<bool, StoreError> {
    let (status, error, retry_at) = match next {
        NextStep::Delivered => (DeliveryStatus::Delivered, None, None),
        NextStep::RetryAt { at, error } => {
            (DeliveryStatus::Pending, Some(error.as_str()), Some(*at))
        }
        NextStep::Failed { error } => (DeliveryStatus::Failed, Some(error.as_str()), None),
    };
    let rows = query_prepared(
        client,
        "UPDATE deliveries
         SET status = $3, last_error = COALESCE($4, last_error),
             delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,
             next_attempt_at = COALESCE($5, next_attempt_at)
         WHERE id = $1 AND attempts = $2 AND status = 'pending'
         RETURNING id",
        &[&id, &attempt, &status.as_str(), &error, &retry_at],
        "recording a delivery attempt",
    )
    .await?;
    Ok(!rows.is_empty())
}

/// When the next pending delivery falls due, if any is pending.
pub async fn next_due(pool: &Pool) -> Result<Option<OffsetDateTime>, StoreError> {
    let client = super::connection(pool, "reading when a delivery is next due").await?;
    let rows = query_prepared(
        &client,
        "SELECT min(next_attempt_at) FROM deliveries WHERE status = 'pending'",
        &[],
        "reading when a delivery is next due",
    )
    .await?;
    Ok(rows.first().and_then(|r| r.get(0)))
}

/// One delivery.
pub async fn find(client: &impl GenericClient, id: Uuid) -> Result<DeliveryView, StoreError> {
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM deliveries WHERE id = $1"),
            &[&id],
        )
        .await
        .context("reading a delivery")?
        .ok_or(StoreError::NotFound("delivery"))?;
    Ok(view(&row))
}

/// Whose deliveries to list.
#[derive(Debug, Clone, Copy)]
pub enum Owner {
    Channel(Uuid),
    Monitor(Uuid),
}

/// Deliveries newest first, before the cursor `(created_at, id)`.
pub async fn list(
    client: &impl GenericClient,
    owner: Owner,
    status: Option<DeliveryStatus>,
    before: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<DeliveryView>, StoreError> {
    let (column, id) = match owner {
        Owner::Channel(id) => ("channel_id", id),
        Owner::Monitor(id) => ("monitor_id", id),
    };
    let (before_at, before_id) = before.unzip();
    let sql = format!(
        "SELECT {COLUMNS} FROM deliveries
         WHERE {column} = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
         ORDER BY created_at DESC, id DESC
         LIMIT $5"
    );
    let rows = client
        .query(
            &sql,
            &[
                &id,
                &status.map(DeliveryStatus::as_str),
                &before_at,
                &before_id,
                &limit,
            ],
        )
        .await
        .context("listing deliveries")?;
    Ok(rows.iter().map(view).collect())
}
