//! `/api/v1/events`: the global event log, oldest first.

use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::dto::{EventResponse, Page};
use super::error::ApiError;
use super::extract::{QueryParams, cursor};
use crate::store::event_log::{self, EventQuery};

pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::from_request(&req)?;
    let limit = query.limit()?;
    let after_seq = match (query.single("cursor")?, query.single("after_seq")?) {
        (Some(raw), _) => cursor::decode_seq(raw)?,
        (None, Some(raw)) => raw.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            ApiError::validation(
                "after_seq",
                format!("must be a whole number ≥ 0, got `{raw}`"),
            )
        })?,
        (None, None) => 0,
    };
    let rows = event_log::list(
        &state.db("reading the event log").await?,
        EventQuery {
            monitor_id: None,
            after_seq,
            limit: limit + 1,
        },
    )
    .await?;
    let page = Page::from_rows(
        rows,
        limit,
        |e| cursor::encode_seq(e.seq),
        EventResponse::from,
    );
    Ok(HttpResponse::Ok().json(page))
}
