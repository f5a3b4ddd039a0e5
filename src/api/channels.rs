//! `/api/v1/channels`: create, list, read, update and delete notification
//! channels, send a test, and read deliveries (a channel's or a monitor's).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::actor::RequestActor;
use super::channel_dto::{ChannelResponse, DeliveryResponse, parse_channel_changes};
use super::dto::Page;
use super::error::ApiError;
use super::extract::{JsonObject, QueryParams, channel_id, cursor, etag, if_match, monitor_id};
use crate::domain::channel::ChannelConfig;
use crate::domain::notification::DeliveryStatus;
use crate::roles::notifier::{self, LEASE};
use crate::store::channels::{self, ChannelView};
use crate::store::deliveries::{self, Owner};
use crate::store::event_log;

fn channel_response(status: StatusCode, view: &ChannelView) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, etag(view.version)))
        .json(ChannelResponse::from(view))
}

#[utoipa::path(post, path = "/api/v1/channels", operation_id = "create_channel", tag = "channels",
    request_body = super::openapi::ChannelInput,
    responses((status = 201, description = "Created", body = ChannelResponse)))]
pub async fn create(
    state: web::Data<AppState>,
    body: JsonObject,
    actor: RequestActor,
) -> Result<HttpResponse, ApiError> {
    let config = ChannelConfig::from_changes(parse_channel_changes(&body.0)?)?;
    let view = channels::create(&state.pg, config, &actor.0).await?;
    tracing::info!(channel_id = %view.id, name = view.config.name.as_ref(),
        kind = view.config.destination.kind().as_str(), "channel created");
    let mut response = channel_response(StatusCode::CREATED, &view);
    if let Ok(location) = header::HeaderValue::from_str(&format!("/api/v1/channels/{}", view.id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/channels", operation_id = "list_channels", tag = "channels",
    params(super::openapi::PageQuery),
    responses((status = 200, description = "One page of channels", body = Page<ChannelResponse>)))]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::from_request(&req)?;
    let limit = query.limit()?;
    let after_id = query
        .single("cursor")?
        .map(cursor::decode_channel)
        .transpose()?;
    let rows = channels::list(&state.db("listing channels").await?, after_id, limit + 1).await?;
    let page = Page::from_rows(
        rows,
        limit,
        |view| cursor::encode_channel(view.id),
        |view| ChannelResponse::from(&view),
    );
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/api/v1/channels/{id}", operation_id = "get_channel", tag = "channels",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The channel", body = ChannelResponse)))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = channel_id(&path)?;
    let view = channels::find(&state.db("reading a channel").await?, id).await?;
    Ok(channel_response(StatusCode::OK, &view))
}

#[utoipa::path(patch, path = "/api/v1/channels/{id}", operation_id = "update_channel", tag = "channels",
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header)),
    request_body = super::openapi::ChannelInput,
    responses((status = 200, description = "Changed", body = ChannelResponse)))]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let id = channel_id(&path)?;
    let changes = parse_channel_changes(&body.0)?;
    let actor = RequestActor::of(&req).0;
    let view = channels::update(&state.pg, id, if_match(&req)?, &actor, changes).await?;
    Ok(channel_response(StatusCode::OK, &view))
}

#[utoipa::path(delete, path = "/api/v1/channels/{id}", operation_id = "delete_channel", tag = "channels",
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, description = "Deleted; its pending deliveries fail")))]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = channel_id(&path)?;
    let actor = RequestActor::of(&req).0;
    channels::delete(&state.pg, id, if_match(&req)?, &actor).await?;
    tracing::info!(channel_id = %id, "channel deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Sends a `test` notification now and answers with its delivery: delivered,
/// failed, or pending (a retryable failure the notifiers go on retrying).
#[utoipa::path(post, path = "/api/v1/channels/{id}/test", operation_id = "test_channel", tag = "channels",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "One test notification, sent now", body = DeliveryResponse)))]
pub async fn test(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = channel_id(&path)?;
    let claimed = deliveries::create_test(&state.pg, id, LEASE).await?;
    let delivery_id = claimed.id;
    notifier::deliver(&state.pg, &state.senders, state.retry_policy, claimed).await;
    let delivery = deliveries::find(&state.db("reading a delivery").await?, delivery_id).await?;
    Ok(HttpResponse::Ok().json(DeliveryResponse::from(delivery)))
}

/// A channel's deliveries, newest first; query `status`, `limit`, `cursor`.
#[utoipa::path(get, path = "/api/v1/channels/{id}/deliveries", operation_id = "list_channel_deliveries", tag = "channels",
    params(("id" = uuid::Uuid, Path), super::openapi::DeliveriesQuery),
    responses((status = 200, description = "Deliveries, newest first", body = Page<DeliveryResponse>)))]
pub async fn deliveries(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = channel_id(&path)?;
    let client = state.db("reading deliveries").await?;
    let page = delivery_page(&client, Owner::Channel(id), &req).await?;
    if page.items.is_empty() && !channels::exists(&client, id).await? {
        return Err(ApiError::not_found("no channel with this id"));
    }
    Ok(HttpResponse::Ok().json(page))
}

/// The deliveries about one monitor, newest first.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/deliveries", operation_id = "list_monitor_deliveries", tag = "channels",
    params(("id" = uuid::Uuid, Path), super::openapi::DeliveriesQuery),
    responses((status = 200, description = "Deliveries about the monitor, newest first", body = Page<DeliveryResponse>)))]
pub async fn monitor_deliveries(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = monitor_id(&path)?;
    let client = state.db("reading deliveries").await?;
    let page = delivery_page(&client, Owner::Monitor(id), &req).await?;
    if page.items.is_empty() && !event_log::has_monitor(&client, id).await? {
        return Err(ApiError::not_found("no monitor with this id"));
    }
    Ok(HttpResponse::Ok().json(page))
}

async fn delivery_page(
    client: &deadpool_postgres::Client,
    owner: Owner,
    req: &HttpRequest,
) -> Result<Page<DeliveryResponse>, ApiError> {
    let query = QueryParams::from_request(req)?;
    let limit = query.limit()?;
    let status = query
        .single("status")?
        .map(|raw| DeliveryStatus::parse(raw).map_err(|e| ApiError::validation("status", e.0)))
        .transpose()?;
    let before = query
        .single("cursor")?
        .map(cursor::decode_delivery)
        .transpose()?;
    let rows = deliveries::list(client, owner, status, before, limit + 1).await?;
    Ok(Page::from_rows(
        rows,
        limit,
        |d| cursor::encode_delivery(d.created_at, d.id),
        DeliveryResponse::from,
    ))
}
