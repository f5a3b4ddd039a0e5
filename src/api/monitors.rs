//! `/api/v1/monitors`: register, list, read, update, delete, pause, resume,
//! and each monitor's events, results and audit state.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};

use super::AppState;
use super::actor::RequestActor;
use super::dto::{
    EventResponse, MonitorResponse, Page, ResultResponse, StateResponse, parse_changes,
};
use super::error::ApiError;
use super::extract::{JsonObject, QueryParams, cursor, etag, if_match, monitor_id};
use crate::domain::audit::AuditState;
use crate::domain::{FieldError, Monitor, MonitorConfig, MonitorEvent, MonitorName, Status};
use crate::queue::{on_redis, skips};
use crate::store::commands;
use crate::store::monitors::{self, ListFilter, MonitorView};
use crate::store::results::{self, ResultQuery};
use crate::store::{StoreError, event_log};

async fn monitor_response(
    state: &AppState,
    status: StatusCode,
    view: &MonitorView,
) -> HttpResponse {
    let mut response = MonitorResponse::from(view);
    add_skipped_ticks(state, std::slice::from_mut(&mut response)).await;
    monitor_builder(status, view).json(response)
}

/// Fills in each monitor's `skipped_ticks` from Redis; left `null` (and
/// logged) when Redis cannot say: the rest of the answer is still true.
async fn add_skipped_ticks(state: &AppState, monitors: &mut [MonitorResponse]) {
    let ids: Vec<uuid::Uuid> = monitors.iter().map(|m| m.id).collect();
    let counts = on_redis(&state.redis, async |connection| {
        skips::counts(connection, &state.keys, &ids).await
    });
    match counts.await {
        Ok(counts) => {
            for (monitor, count) in monitors.iter_mut().zip(counts) {
                monitor.skipped_ticks = Some(count);
            }
        }
        Err(error) => {
            tracing::warn!(error = %error, "skipped ticks left out: Redis did not answer")
        }
    }
}

/// A monitor just registered has skipped nothing.
fn registered(view: &MonitorView) -> MonitorResponse {
    MonitorResponse {
        skipped_ticks: Some(0),
        ..MonitorResponse::from(view)
    }
}

fn monitor_builder(status: StatusCode, view: &MonitorView) -> HttpResponseBuilder {
    let mut builder = HttpResponse::build(status);
    builder.insert_header((header::ETAG, etag(view.monitor.version)));
    builder
}

#[utoipa::path(post, path = "/api/v1/monitors", operation_id = "create_monitor", tag = "monitors",
    request_body = super::openapi::MonitorInput,
    responses((status = 201, description = "Registered; `Location` names it", body = MonitorResponse)))]
pub async fn create(
    state: web::Data<AppState>,
    body: JsonObject,
    actor: RequestActor,
) -> Result<HttpResponse, ApiError> {
    let config = MonitorConfig::from_changes(parse_changes(&body.0)?)?;
    let view = commands::register(&state.pg, config, &actor.0).await?;
    tracing::info!(monitor_id = %view.monitor.id, name = view.monitor.config.name.as_ref(), "monitor registered");
    let location = format!("/api/v1/monitors/{}", view.monitor.id);
    Ok(monitor_builder(StatusCode::CREATED, &view)
        .insert_header((header::LOCATION, location))
        .json(registered(&view)))
}

/// Most monitors one bulk registration may carry (the body limit of 64 KiB
/// usually binds first).
const BULK_MAX: usize = 1000;

/// `POST /monitors/bulk` `{"monitors": [monitor, ...]}`: registers them all in
/// one transaction, or none; a 422 names the offending item, e.g.
/// `monitors[3].url`.
#[utoipa::path(post, path = "/api/v1/monitors/bulk", operation_id = "create_monitors", tag = "monitors",
    request_body = super::openapi::BulkInput,
    responses((status = 201, description = "All registered, or none", body = super::openapi::BulkResponse)))]
pub async fn create_many(
    state: web::Data<AppState>,
    body: JsonObject,
    actor: RequestActor,
) -> Result<HttpResponse, ApiError> {
    if let Some(unknown) = body.0.keys().find(|k| *k != "monitors") {
        return Err(ApiError::validation(
            unknown.clone(),
            "is not a field of a bulk registration (only `monitors`)",
        ));
    }
    let items = match body.0.get("monitors") {
        Some(serde_json::Value::Array(items)) => items,
        _ => {
            return Err(ApiError::validation(
                "monitors",
                "must be an array of monitors",
            ));
        }
    };
    if items.is_empty() || items.len() > BULK_MAX {
        return Err(ApiError::validation(
            "monitors",
            format!("must hold 1 to {BULK_MAX} monitors, got {}", items.len()),
        ));
    }
    let mut configs = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let in_item = |error: ApiError| error.within(&format!("monitors[{index}]"));
        let serde_json::Value::Object(fields) = item else {
            return Err(ApiError::validation(
                format!("monitors[{index}]"),
                "must be an object",
            ));
        };
        let changes = parse_changes(fields).map_err(in_item)?;
        let config = MonitorConfig::from_changes(changes).map_err(|e| in_item(e.into()))?;
        configs.push(config);
    }
    let views = commands::register_many(&state.pg, configs, &actor.0).await?;
    tracing::info!(monitors = views.len(), "monitors registered in bulk");
    let items: Vec<MonitorResponse> = views.iter().map(registered).collect();
    Ok(HttpResponse::Created().json(serde_json::json!({ "items": items })))
}

#[utoipa::path(get, path = "/api/v1/monitors", operation_id = "list_monitors", tag = "monitors",
    params(super::openapi::MonitorListQuery),
    responses((status = 200, description = "One page, by id", body = Page<MonitorResponse>)))]
pub async fn list(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::from_request(&req)?;
    let limit = query.limit()?;
    let tags = query.tags()?;
    let status = query
        .single("status")?
        .map(|raw| Status::parse(raw).map_err(|e| ApiError::validation("status", e.0)))
        .transpose()?;
    let paused = query
        .single("paused")?
        .map(|raw| match raw {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ApiError::validation(
                "paused",
                format!("must be true or false, got `{other}`"),
            )),
        })
        .transpose()?;
    let after_id = query
        .single("cursor")?
        .map(cursor::decode_monitor)
        .transpose()?;
    let name_contains = query
        .single("name")?
        .map(|raw| {
            let text = raw.trim();
            if text.is_empty()
                || text.chars().count() > MonitorName::MAX_CHARS
                || text.contains('\0')
            {
                return Err(ApiError::validation(
                    "name",
                    "must be 1–100 characters to search for",
                ));
            }
            Ok(text.to_owned())
        })
        .transpose()?;
    let filter = ListFilter {
        tags,
        status,
        paused,
        name_contains,
        after_id,
        limit: limit + 1,
    };
    let rows = monitors::list(&state.db("listing monitors").await?, &filter).await?;
    let mut page = Page::from_rows(
        rows,
        limit,
        |view| cursor::encode_monitor(view.monitor.id),
        |view| MonitorResponse::from(&view),
    );
    add_skipped_ticks(&state, &mut page.items).await;
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(get, path = "/api/v1/monitors/{id}", operation_id = "get_monitor", tag = "monitors",
    params(("id" = uuid::Uuid, Path, description = "The monitor")),
    responses((status = 200, description = "The monitor; `ETag` is its version", body = MonitorResponse)))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = monitor_id(&path)?;
    let view = monitors::find(&state.db("reading a monitor").await?, id, false)
        .await?
        .filter(|view| !view.monitor.deleted)
        .ok_or_else(|| ApiError::not_found("no monitor with this id"))?;
    Ok(monitor_response(&state, StatusCode::OK, &view).await)
}

#[utoipa::path(patch, path = "/api/v1/monitors/{id}", operation_id = "update_monitor", tag = "monitors",
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header, description = "The version it must be at")),
    request_body = super::openapi::MonitorInput,
    responses((status = 200, description = "Changed (from the next tick)", body = MonitorResponse)))]
pub async fn update(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let changes = parse_changes(&body.0)?;
    let view = command(&state, &path, &req, |monitor| monitor.update(changes)).await?;
    Ok(monitor_response(&state, StatusCode::OK, &view).await)
}

#[utoipa::path(delete, path = "/api/v1/monitors/{id}", operation_id = "delete_monitor", tag = "monitors",
    params(("id" = uuid::Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, description = "Deleted; its history stays")))]
pub async fn delete(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let view = command(&state, &path, &req, |monitor| Ok(Some(monitor.delete()))).await?;
    tracing::info!(monitor_id = %view.monitor.id, "monitor deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/monitors/{id}/pause", operation_id = "pause_monitor", tag = "monitors",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "Paused (idempotent)", body = MonitorResponse)))]
pub async fn pause(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let view = command(&state, &path, &req, |monitor| Ok(monitor.pause())).await?;
    Ok(monitor_response(&state, StatusCode::OK, &view).await)
}

#[utoipa::path(post, path = "/api/v1/monitors/{id}/resume", operation_id = "resume_monitor", tag = "monitors",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "Running (idempotent)", body = MonitorResponse)))]
pub async fn resume(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let view = command(&state, &path, &req, |monitor| Ok(monitor.resume())).await?;
    Ok(monitor_response(&state, StatusCode::OK, &view).await)
}

/// Runs `decide` on the monitor named in the path, honouring `If-Match`.
async fn command(
    state: &AppState,
    raw_id: &str,
    req: &HttpRequest,
    decide: impl FnOnce(&Monitor) -> Result<Option<MonitorEvent>, FieldError>,
) -> Result<MonitorView, ApiError> {
    let id = monitor_id(raw_id)?;
    let expected_version = if_match(req)?;
    let actor = RequestActor::of(req).0;
    Ok(commands::change(&state.pg, id, expected_version, &actor, decide).await?)
}

/// History endpoints answer for deleted monitors too, so "unknown" means the
/// log has never heard of the id; only an empty page needs the extra look-up.
async fn ensure_known(
    client: &deadpool_postgres::Client,
    id: uuid::Uuid,
    page_is_empty: bool,
) -> Result<(), ApiError> {
    if page_is_empty && !event_log::has_monitor(client, id).await? {
        return Err(ApiError::not_found("no monitor with this id"));
    }
    Ok(())
}

/// One monitor's events, oldest first; deleted monitors keep their history.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/events", operation_id = "list_monitor_events", tag = "monitors",
    params(("id" = uuid::Uuid, Path), super::openapi::PageQuery),
    responses((status = 200, description = "The monitor's events, oldest first", body = Page<EventResponse>)))]
pub async fn events(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = monitor_id(&path)?;
    let query = QueryParams::from_request(&req)?;
    let limit = query.limit()?;
    let after_seq = query
        .single("cursor")?
        .map(cursor::decode_seq)
        .transpose()?
        .unwrap_or(0);
    let client = state.db("reading a monitor's events").await?;
    let page = super::events::page(&client, Some(id), after_seq, limit).await?;
    ensure_known(&client, id, page.items.is_empty()).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One monitor's probe results, newest first; deleted monitors keep theirs.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/results", operation_id = "list_monitor_results", tag = "monitors",
    params(("id" = uuid::Uuid, Path), super::openapi::ResultsQuery),
    responses((status = 200, description = "Probe results, newest first", body = Page<ResultResponse>)))]
pub async fn results(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = monitor_id(&path)?;
    let query = QueryParams::from_request(&req)?;
    let limit = query.limit()?;
    let since = query.time("since")?;
    let until = query.time("until")?;
    let after = query
        .single("cursor")?
        .map(cursor::decode_result)
        .transpose()?
        .map(|(scheduled_at, _job_id)| scheduled_at);
    let client = state.db("reading probe results").await?;
    let rows = results::list(
        &client,
        &ResultQuery {
            monitor_id: id,
            since,
            until,
            after,
            limit: limit + 1,
        },
    )
    .await?;
    ensure_known(&client, id, rows.is_empty()).await?;
    let page = Page::from_rows(
        rows,
        limit,
        |r| cursor::encode_result(r.scheduled_at, r.job_id),
        ResultResponse::from,
    );
    Ok(HttpResponse::Ok().json(page))
}

/// The audit view: the monitor rebuilt from its events recorded up to `at`
/// (default now), never from the projection.
#[utoipa::path(get, path = "/api/v1/monitors/{id}/state", operation_id = "get_monitor_state", tag = "monitors",
    params(("id" = uuid::Uuid, Path), super::openapi::StateQuery),
    responses((status = 200, description = "The state rebuilt from the log as of `at`", body = StateResponse)))]
pub async fn state(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = monitor_id(&path)?;
    let query = QueryParams::from_request(&req)?;
    let at = query
        .time("at")?
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    let client = state.db("rebuilding a monitor's state").await?;
    let history = event_log::history_until(&client, id, Some(at)).await?;
    let rebuilt = AuditState::replay(&history)
        .map_err(|e| StoreError::Corrupt(format!("replaying monitor {id}: {e}")))?
        .ok_or_else(|| ApiError::not_found("no such monitor at this time"))?;
    Ok(HttpResponse::Ok().json(StateResponse::new(&rebuilt, Some(at))))
}
