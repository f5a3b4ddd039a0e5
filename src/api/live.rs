//! `GET /api/v1/ws`: the live feed. The query is checked before the upgrade,
//! so a bad one gets the contract's 4xx, not a WebSocket.

use actix_web::{HttpRequest, HttpResponse, web};
use actix_web_actors::ws;

use super::AppState;
use super::error::ApiError;
use super::extract::{QueryParams, monitor_id_param};
use crate::domain::feed::Filter;
use crate::roles::live::session::Session;

#[utoipa::path(get, path = "/api/v1/ws", operation_id = "live_feed", tag = "events",
    params(super::openapi::LiveQuery),
    responses((status = 101, description = "A WebSocket of transition messages (docs/api.md)")))]
pub async fn connect(
    state: web::Data<AppState>,
    req: HttpRequest,
    stream: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::from_request(&req)?;
    let monitor_ids = query
        .all("monitor_id")
        .map(monitor_id_param)
        .collect::<Result<Vec<_>, _>>()?;
    let filter = Filter {
        monitor_ids,
        tags: query.tags()?,
    };
    let after_seq = query.after_seq()?;
    ws::handshake(&req).map_err(|_| ApiError::upgrade_required())?;
    let session = Session::new(
        filter,
        after_seq,
        state.pg.clone(),
        state.broadcaster.clone(),
        state.feed_buffer,
    );
    ws::start(session, &req, stream).map_err(|_| ApiError::upgrade_required())
}
