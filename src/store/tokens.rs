//! API tokens: created and revoked through the event log (aggregate
//! `token`), looked up by the hash of their secret.

use deadpool_postgres::{GenericClient, Transaction};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::event_log::{self, NewEvent};
use super::{DbContext, Pool, StoreError};
use crate::domain::actor::{Actor, AggregateType};
use crate::domain::token::{Scope, TokenEvent, TokenHash, TokenName, TokenSecret};

const NAME_INDEX: &str = "tokens_live_name_unique";

/// A token as listed: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    pub id: Uuid,
    pub name: TokenName,
    pub scope: Scope,
    pub created_at: OffsetDateTime,
}

/// A live token, as authentication needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveToken {
    pub hash: TokenHash,
    pub name: TokenName,
    pub scope: Scope,
}

/// Records a new token named `name` with `secret` (only its hash is kept).
pub async fn create(
    pool: &Pool,
    name: TokenName,
    scope: Scope,
    secret: &TokenSecret,
    actor: &Actor,
) -> Result<TokenView, StoreError> {
    let mut client = super::connection(pool, "creating a token").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let view = insert(&tx, name, scope, secret, actor).await?;
    tx.commit().await.context("committing a new token")?;
    Ok(view)
}

/// Creates the operator's bootstrap token (admin, named `bootstrap`) unless a
/// token with this secret was ever created: a revoked bootstrap token stays
/// revoked across restarts. Returns whether it was created.
pub async fn ensure_bootstrap(pool: &Pool, secret: &TokenSecret) -> Result<bool, StoreError> {
    let mut client = super::connection(pool, "creating the bootstrap token").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let seen = tx
        .query_opt(
            "SELECT 1 FROM tokens WHERE hash = $1",
            &[&secret.hash().0.as_slice()],
        )
        .await
        .context("looking for the bootstrap token")?;
    if seen.is_some() {
        return Ok(false);
    }
    let name = TokenName::parse("bootstrap").map_err(|e| StoreError::Corrupt(e.0))?;
    insert(&tx, name, Scope::Admin, secret, &Actor::System).await?;
    tx.commit()
        .await
        .context("committing the bootstrap token")?;
    Ok(true)
}

async fn insert(
    tx: &Transaction<'_>,
    name: TokenName,
    scope: Scope,
    secret: &TokenSecret,
    actor: &Actor,
) -> Result<TokenView, StoreError> {
    let id = Uuid::now_v7();
    let row = tx
        .query_one(
            "INSERT INTO tokens (id, name, scope, hash) VALUES ($1, $2, $3, $4)
             RETURNING created_at",
            &[
                &id,
                &name.as_ref(),
                &scope.as_str(),
                &secret.hash().0.as_slice(),
            ],
        )
        .await
        .map_err(|e| {
            StoreError::from_named_write("recording a token", e, NAME_INDEX, "token", name.as_ref())
        })?;
    let event = TokenEvent::TokenCreated {
        name: name.clone(),
        scope,
    };
    record(tx, id, 1, &event, actor).await?;
    Ok(TokenView {
        id,
        name,
        scope,
        created_at: row.get("created_at"),
    })
}

/// Revokes the live token named `name`; it stops authenticating at once
/// here and within a second in every other API process.
pub async fn revoke(pool: &Pool, name: &TokenName, actor: &Actor) -> Result<(), StoreError> {
    let mut client = super::connection(pool, "revoking a token").await?;
    let tx = event_log::begin_appending(&mut client).await?;
    let row = tx
        .query_opt(
            "UPDATE tokens SET revoked_at = now()
             WHERE lower(name) = lower($1) AND revoked_at IS NULL
             RETURNING id, name",
            &[&name.as_ref()],
        )
        .await
        .context("revoking a token")?
        .ok_or(StoreError::NotFound("token"))?;
    let stored: String = row.get("name");
    let name = TokenName::parse(&stored).map_err(|e| StoreError::Corrupt(e.0))?;
    record(
        &tx,
        row.get("id"),
        2,
        &TokenEvent::TokenRevoked { name },
        actor,
    )
    .await?;
    tx.commit().await.context("committing a revocation")?;
    Ok(())
}

async fn record(
    tx: &Transaction<'_>,
    id: Uuid,
    seq: i64,
    event: &TokenEvent,
    actor: &Actor,
) -> Result<(), StoreError> {
    event_log::append_one(
        tx,
        NewEvent {
            aggregate_type: AggregateType::Token,
            aggregate_id: id,
            aggregate_seq: seq,
            schema_version: TokenEvent::SCHEMA_VERSION,
            type_name: event.type_name(),
            data: event_log::event_data(event, event.type_name())?,
        },
        actor,
    )
    .await?;
    Ok(())
}

/// Every live token, oldest first.
pub async fn list(client: &impl GenericClient) -> Result<Vec<TokenView>, StoreError> {
    let rows = client
        .query(
            "SELECT id, name, scope, created_at FROM tokens
             WHERE revoked_at IS NULL ORDER BY created_at, id",
            &[],
        )
        .await
        .context("listing tokens")?;
    rows.iter()
        .map(|row| {
            Ok(TokenView {
                id: row.get("id"),
                name: name_of(row)?,
                scope: scope_of(row)?,
                created_at: row.get("created_at"),
            })
        })
        .collect()
}

/// Every live token with its hash, for authentication.
pub async fn live(client: &impl GenericClient) -> Result<Vec<LiveToken>, StoreError> {
    let rows = client
        .query(
            "SELECT name, scope, hash FROM tokens WHERE revoked_at IS NULL",
            &[],
        )
        .await
        .context("loading the live tokens")?;
    rows.iter().map(live_from_row).collect()
}

/// The live token whose secret hashes to `hash`, if any.
pub async fn find_live(
    client: &impl GenericClient,
    hash: &TokenHash,
) -> Result<Option<LiveToken>, StoreError> {
    let row = client
        .query_opt(
            "SELECT name, scope, hash FROM tokens WHERE hash = $1 AND revoked_at IS NULL",
            &[&hash.0.as_slice()],
        )
        .await
        .context("looking a token up")?;
    row.as_ref().map(live_from_row).transpose()
}

fn live_from_row(row: &Row) -> Result<LiveToken, StoreError> {
    let raw: &[u8] = row.get("hash");
    let hash = <[u8; 32]>::try_from(raw)
        .map_err(|_| StoreError::Corrupt("a token hash is not 32 bytes".into()))?;
    Ok(LiveToken {
        hash: TokenHash(hash),
        name: name_of(row)?,
        scope: scope_of(row)?,
    })
}

fn name_of(row: &Row) -> Result<TokenName, StoreError> {
    TokenName::parse(row.get("name")).map_err(|e| StoreError::Corrupt(format!("token name {e}")))
}

fn scope_of(row: &Row) -> Result<Scope, StoreError> {
    Scope::parse(row.get("scope")).map_err(|e| StoreError::Corrupt(format!("token scope {e}")))
}
