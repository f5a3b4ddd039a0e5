//! `/api/v1/events`: the global event log, oldest first.

use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use super::AppState;
use super::dto::{EventResponse, Page};
use super::error::ApiError;
use super::extract::{QueryParams, cursor};
use crate::store::event_log::{self, EventQuery};

#[utoipa::path(get, path = "/api/v1/events", operation_id = "list_events", tag = "events",
    params(super::openapi::EventsQuery),
    responses((status = 200, description = "The global log, oldest first", body = Page<EventResponse>)))]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::from_request(&req)?;
    let limit = query.limit()?;
    let after_seq = match query.single("cursor")? {
        Some(raw) => cursor::decode_seq(raw)?,
        None => query.after_seq()?.unwrap_or(0),
    };
    let client = state.db("reading the event log").await?;
    let page = page(&client, None, after_seq, limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One page of the log (or of one monitor's part of it) after `after_seq`.
pub async fn page(
    client: &deadpool_postgres::Client,
    monitor_id: Option<Uuid>,
    after_seq: i64,
    limit: i64,
) -> Result<Page<EventResponse>, ApiError> {
    let query = EventQuery {
        monitor_id,
        after_seq,
        limit: limit + 1,
    };
    let rows = event_log::list(client, query).await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |e| cursor::encode_seq(e.seq),
        EventResponse::from,
    ))
}
