//! Notification channels: the projection of their events, and the commands
//! that append an event and update the projection in one transaction.

use deadpool_postgres::{GenericClient, Transaction};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::event_log::{self, NewEvent};
use super::{DbContext, Pool, StoreError, query_prepared};
use crate::domain::FieldError;
use crate::domain::actor::{Actor, AggregateType};
use crate::domain::channel::{
    ChannelChanges, ChannelConfig, ChannelEvent, ChannelKind, ChannelUrl, Destination,
    EmailAddress, RemindMinutes, Secret, parse_on,
};
use crate::domain::{MonitorName, Tags};

/// A channel as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView {
    pub id: Uuid,
    pub config: ChannelConfig,
    pub version: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

pub(crate) const COLUMNS: &str = "id, name, kind, url, secret, routing_key, email_to, on_kinds, match_tags, \
    remind_every_minutes, version, created_at, updated_at";

const NAME_INDEX: &str = "channels_name_unique";

/// Records a new channel made by `actor`.
pub async fn create(
    pool: &Pool,
    config: ChannelConfig,
    actor: &Actor,
) -> Result<ChannelView, StoreError> {
    let mut client = super::connection(pool, "creating a channel").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let event = ChannelEvent::ChannelCreated {
        config: (&config).into(),
    };
    let view = record(&tx, Uuid::now_v7(), 1, config, false, &event, actor).await?;
    tx.commit().await.context("committing a new channel")?;
    Ok(view)
}

/// Lays `changes` over the channel; nothing is recorded when nothing changes.
pub async fn update(
    pool: &Pool,
    id: Uuid,
    expected_version: Option<i64>,
    actor: &Actor,
    changes: ChannelChanges,
) -> Result<ChannelView, StoreError> {
    let mut client = super::connection(pool, "updating a channel").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let current = current(&tx, id, expected_version).await?;
    let config = current.config.with_changes(changes)?;
    let Some(event) = ChannelEvent::updated(&current.config, &config) else {
        return Ok(current);
    };
    let view = record(&tx, id, current.version + 1, config, false, &event, actor).await?;
    tx.commit().await.context("committing a channel update")?;
    Ok(view)
}

/// Deletes the channel: nothing more is owed to it; its deliveries stay.
pub async fn delete(
    pool: &Pool,
    id: Uuid,
    expected_version: Option<i64>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let mut client = super::connection(pool, "deleting a channel").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let current = current(&tx, id, expected_version).await?;
    delete_in(&tx, current.id, current.version, current.config, actor).await?;
    tx.commit().await.context("committing a channel deletion")?;
    Ok(())
}

/// Deletes the channel (at `version`, configured as `config`) inside the
/// caller's transaction, cancelling what it was still owed.
pub(crate) async fn delete_in(
    tx: &Transaction<'_>,
    id: Uuid,
    version: i64,
    config: ChannelConfig,
    actor: &Actor,
) -> Result<(), StoreError> {
    let event = ChannelEvent::ChannelDeleted {};
    record(tx, id, version + 1, config, true, &event, actor).await?;
    tx.execute(
        "UPDATE deliveries SET status = 'failed', last_error = 'the channel was deleted'
         WHERE channel_id = $1 AND status = 'pending'",
        &[&id],
    )
    .await
    .context("cancelling a deleted channel's deliveries")?;
    Ok(())
}

async fn current(
    tx: &Transaction<'_>,
    id: Uuid,
    expected_version: Option<i64>,
) -> Result<ChannelView, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE id = $1 AND NOT deleted FOR UPDATE");
    let row = tx
        .query_opt(&sql, &[&id])
        .await
        .context("reading a channel")?
        .ok_or(StoreError::NotFound("channel"))?;
    let current = from_row(&row)?;
    if let Some(expected) = expected_version
        && expected != current.version
    {
        return Err(StoreError::VersionMismatch {
            expected,
            current: current.version,
        });
    }
    Ok(current)
}

/// Appends `event` as the channel's `version`-th and writes its projection.
pub(crate) async fn record(
    tx: &Transaction<'_>,
    id: Uuid,
    version: i64,
    config: ChannelConfig,
    deleted: bool,
    event: &ChannelEvent,
    actor: &Actor,
) -> Result<ChannelView, StoreError> {
    let (_, at) = event_log::append_one(
        tx,
        NewEvent {
            aggregate_type: AggregateType::Channel,
            aggregate_id: id,
            aggregate_seq: version,
            schema_version: ChannelEvent::SCHEMA_VERSION,
            type_name: event.type_name(),
            data: event_log::event_data(event, event.type_name())?,
        },
        actor,
    )
    .await?;
    let d = &config.destination;
    let to: Vec<&str> = d.to().iter().map(AsRef::as_ref).collect();
    let on: Vec<&str> = config.on.iter().map(|k| k.as_str()).collect();
    let tags: Vec<&str> = config.match_tags.iter().map(AsRef::as_ref).collect();
    let remind = config
        .remind_every
        .map(|m| i32::try_from(m.get()).unwrap_or(i32::MAX));
    let sql = format!(
        "INSERT INTO channels (id, name, kind, url, secret, routing_key, email_to, on_kinds,
             match_tags, remind_every_minutes, deleted, version, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
         ON CONFLICT (id) DO UPDATE SET
             name = EXCLUDED.name, kind = EXCLUDED.kind, url = EXCLUDED.url,
             secret = EXCLUDED.secret, routing_key = EXCLUDED.routing_key,
             email_to = EXCLUDED.email_to, on_kinds = EXCLUDED.on_kinds,
             match_tags = EXCLUDED.match_tags,
             remind_every_minutes = EXCLUDED.remind_every_minutes,
             deleted = EXCLUDED.deleted, version = EXCLUDED.version,
             updated_at = EXCLUDED.updated_at
         RETURNING {COLUMNS}"
    );
    let row = tx
        .query_one(
            &sql,
            &[
                &id,
                &config.name.as_ref(),
                &d.kind().as_str(),
                &d.url().map(AsRef::as_ref),
                &d.secret().map(Secret::expose),
                &d.routing_key().map(Secret::expose),
                &to,
                &on,
                &tags,
                &remind,
                &deleted,
                &version,
                &at,
            ],
        )
        .await
        .map_err(|e| {
            StoreError::from_named_write(
                "saving the channels projection",
                e,
                NAME_INDEX,
                "channel",
                config.name.as_ref(),
            )
        })?;
    from_row(&row)
}

/// One live channel.
pub async fn find(client: &impl GenericClient, id: Uuid) -> Result<ChannelView, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE id = $1 AND NOT deleted");
    let row = client
        .query_opt(&sql, &[&id])
        .await
        .context("reading a channel")?
        .ok_or(StoreError::NotFound("channel"))?;
    from_row(&row)
}

/// Whether a channel with this id ever existed (deleted ones included).
pub async fn exists(client: &impl GenericClient, id: Uuid) -> Result<bool, StoreError> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM channels WHERE id = $1)",
            &[&id],
        )
        .await
        .context("looking a channel up")?;
    Ok(row.get(0))
}

/// Live channels in id order, after `after_id`.
pub async fn list(
    client: &impl GenericClient,
    after_id: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ChannelView>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM channels
         WHERE NOT deleted AND ($1::uuid IS NULL OR id > $1)
         ORDER BY id LIMIT $2"
    );
    let rows = client
        .query(&sql, &[&after_id, &limit])
        .await
        .context("listing channels")?;
    rows.iter().map(from_row).collect()
}

/// Every live channel, for matching transitions against.
pub async fn all_live(client: &impl GenericClient) -> Result<Vec<ChannelView>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM channels WHERE NOT deleted ORDER BY id");
    let rows = query_prepared(client, &sql, &[], "reading the channels").await?;
    rows.iter().map(from_row).collect()
}

pub(crate) fn from_row(row: &Row) -> Result<ChannelView, StoreError> {
    let id: Uuid = row.get("id");
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("channel {id}: stored {what} is invalid: {e}"))
    };
    let field = |e: FieldError| corrupt(e.field, &e.message);
    let kind = ChannelKind::parse(row.get("kind")).map_err(|e| corrupt("kind", &e))?;
    let url: Option<String> = row.get("url");
    let secret: Option<String> = row.get("secret");
    let routing_key: Option<String> = row.get("routing_key");
    let to: Vec<String> = row.get("email_to");
    let on: Vec<String> = row.get("on_kinds");
    let tags: Vec<String> = row.get("match_tags");
    let remind: Option<i32> = row.get("remind_every_minutes");
    let changes = ChannelChanges {
        name: Some(MonitorName::parse(row.get("name")).map_err(|e| corrupt("name", &e))?),
        kind: Some(kind),
        url: url
            .as_deref()
            .map(ChannelUrl::parse)
            .transpose()
            .map_err(|e| corrupt("url", &e))?,
        secret: secret
            .as_deref()
            .map(|s| Secret::hmac_key(s).map(Some))
            .transpose()
            .map_err(|e| corrupt("secret", &e))?,
        routing_key: routing_key
            .as_deref()
            .map(Secret::routing_key)
            .transpose()
            .map_err(|e| corrupt("routing_key", &e))?,
        to: (!to.is_empty())
            .then(|| to.iter().map(|a| EmailAddress::parse(a)).collect())
            .transpose()
            .map_err(|e| corrupt("to", &e))?,
        on: Some(parse_on(&on).map_err(|e| corrupt("on", &e))?),
        match_tags: Some(Tags::parse(&tags).map_err(|e| corrupt("match_tags", &e))?),
        remind_every: Some(
            remind
                .map(|m| RemindMinutes::parse(i64::from(m)))
                .transpose()
                .map_err(|e| corrupt("remind_every_minutes", &e))?,
        ),
    };
    let config = ChannelConfig::from_changes(changes).map_err(field)?;
    debug_assert_eq!(config.destination.kind(), kind);
    Ok(ChannelView {
        id,
        config,
        version: row.get("version"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

impl ChannelView {
    pub fn destination(&self) -> &Destination {
        &self.config.destination
    }
}
