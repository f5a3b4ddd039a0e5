//! The OpenAPI 3.1 document, derived by `utoipa` from the handlers'
//! `#[utoipa::path]` attributes and the response types. The request and
//! query shapes below exist only to describe what the handlers parse (they
//! parse by hand, to name the first bad field).

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Response, ResponseBuilder};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::channel_dto::{ChannelResponse, DeliveryResponse};
use super::dto::{
    ConfigResponse, EventResponse, MonitorResponse, Page, ResultResponse, StateResponse,
};
use super::error::ErrorBody;
use super::manifest_dto::{PlanLine, PlanResponse, PlanSummary};
use super::tokens::{CreatedTokenResponse, TokenResponse};

/// A monitor's writable fields (`POST`; `PATCH` takes any subset).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct MonitorInput {
    /// 1–100 characters, unique among live monitors (case-insensitive).
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// `http(s)://`, `tcp://host:port`, `tls://host:port`, `grpc(s)://host:port`.
    #[schema(max_length = 2048)]
    url: String,
    /// `GET`, `HEAD` or `POST` (HTTP only).
    method: Option<String>,
    #[schema(minimum = 1, maximum = 86400)]
    interval_seconds: Option<u32>,
    #[schema(minimum = 100, maximum = 60000)]
    timeout_ms: Option<u32>,
    /// Each 100–599; null: any 2xx.
    expected_status: Option<Vec<u16>>,
    #[schema(minimum = 1, maximum = 100)]
    failure_threshold: Option<u8>,
    #[schema(minimum = 1, maximum = 100)]
    recovery_threshold: Option<u8>,
    /// At most 20, each of `[a-z0-9_.:-]`.
    tags: Option<Vec<String>>,
    /// Request headers (HTTP only).
    #[schema(value_type = Option<Object>)]
    headers: Option<Map<String, Value>>,
    /// The request body (`POST`).
    body: Option<String>,
    /// Conditions every answer must meet, e.g. `[BODY].status == UP`.
    conditions: Option<Vec<String>>,
    expected_version: Option<String>,
    version_source: Option<String>,
}

/// `POST /api/v1/monitors/bulk`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct BulkInput {
    monitors: Vec<MonitorInput>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct BulkResponse {
    items: Vec<MonitorResponse>,
}

/// A channel's writable fields (`POST`; `PATCH` takes any subset).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ChannelInput {
    name: String,
    /// `webhook`, `slack`, `pagerduty` or `email`.
    kind: String,
    /// webhook and slack.
    url: Option<String>,
    /// webhook: the HMAC key (write-only).
    secret: Option<String>,
    /// pagerduty (write-only).
    routing_key: Option<String>,
    /// email.
    to: Option<Vec<String>>,
    /// Any of `down`, `up`, `drift`, `reminder`.
    on: Option<Vec<String>>,
    match_tags: Option<Vec<String>>,
    remind_every_minutes: Option<u32>,
}

/// `POST /api/v1/tokens`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TokenInput {
    /// 1–64 characters of `[A-Za-z0-9_.:-]`, not `system` or `anonymous`.
    name: String,
    /// `read`, `write` or `admin`.
    scope: String,
}

/// A monitors file: monitor entries are monitor inputs with an optional
/// `paused`; or the seeds' `{"services": [...]}`.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct ManifestInput {
    #[schema(value_type = Option<Vec<Object>>)]
    monitors: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    channels: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    services: Option<Vec<Value>>,
}

/// `GET /api/v1/export`: a monitors file.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ExportResponse {
    #[schema(value_type = Vec<Object>)]
    monitors: Vec<Value>,
    #[schema(value_type = Vec<Object>)]
    channels: Vec<Value>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct HealthResponse {
    /// `ok`.
    status: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReadyResponse {
    /// `ready` or `unavailable`.
    status: String,
    /// `ok`, or why each dependency failed.
    #[schema(value_type = Object)]
    checks: Value,
    #[schema(value_type = Option<Object>)]
    error: Option<Value>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct MonitorListQuery {
    /// Only monitors with this tag (repeatable: all of them).
    tag: Option<String>,
    /// `unknown`, `up` or `down`.
    status: Option<String>,
    paused: Option<bool>,
    /// Only monitors whose name contains this (ignoring case).
    name: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageQuery {
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct EventsQuery {
    /// Only events after this global sequence number.
    #[param(minimum = 0)]
    after_seq: Option<i64>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ResultsQuery {
    /// RFC 3339.
    since: Option<String>,
    /// RFC 3339.
    until: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StateQuery {
    /// RFC 3339; default now.
    at: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DeliveriesQuery {
    /// `pending`, `delivered` or `failed`.
    status: Option<String>,
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LiveQuery {
    /// Only these monitors (repeatable).
    monitor_id: Option<uuid::Uuid>,
    /// Only monitors with this tag.
    tag: Option<String>,
    /// Resume: every transition after this sequence number first.
    #[param(minimum = 0)]
    after_seq: Option<i64>,
    /// The token, for clients that cannot send headers.
    access_token: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UptimeQuery {
    /// RFC 3339; default 24 h before `to`.
    from: Option<String>,
    /// RFC 3339; default now.
    to: Option<String>,
    /// `hour` or `day` (default: hour up to 7 days, else day).
    bucket: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RecentUptimeQuery {
    /// The monitors (repeatable, at most 200).
    monitor_id: Option<Vec<uuid::Uuid>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ApplyQuery {
    /// Plan only; change nothing.
    dry_run: Option<bool>,
    /// Also delete what the file does not name.
    prune: Option<bool>,
}

/// The bearer scheme, and the error answers every operation may give.
struct Conventions;

const ERRORS: [(&str, &str); 11] = [
    ("400", "the body is not JSON (`malformed_json`)"),
    (
        "401",
        "a token is missing, unknown or revoked (`unauthorized`)",
    ),
    ("403", "the token's scope does not cover this (`forbidden`)"),
    ("404", "no such resource (`not_found`)"),
    (
        "409",
        "the name is taken, or a concurrent write won (`conflict`)",
    ),
    ("412", "`If-Match` is stale (`precondition_failed`)"),
    ("413", "the body is too large (`payload_too_large`)"),
    ("415", "the body is not JSON (`unsupported_media_type`)"),
    (
        "422",
        "a field or parameter is invalid (`validation_failed`, `field` names it)",
    ),
    ("426", "not a WebSocket upgrade (`upgrade_required`)"),
    (
        "503",
        "PostgreSQL or Redis is unavailable (`unavailable`); retry",
    ),
];

fn error_response(description: &str) -> RefOr<Response> {
    let content = utoipa::openapi::ContentBuilder::new()
        .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
        .build();
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", content)
            .build(),
    )
}

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let documentation = matches!(path.as_str(), "/healthz" | "/readyz");
            let operations: [Option<&mut Operation>; 4] = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
            ];
            for operation in operations.into_iter().flatten() {
                if documentation {
                    continue;
                }
                for (status, description) in ERRORS {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description));
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "upwatch",
        description = "A distributed service-health monitor: monitors, probes, UP/DOWN transitions, an append-only audit log, a live feed, notifications, tokens. See docs/api.md.",
    ),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        super::monitors::create,
        super::monitors::create_many,
        super::monitors::list,
        super::monitors::get,
        super::monitors::update,
        super::monitors::delete,
        super::monitors::pause,
        super::monitors::resume,
        super::monitors::events,
        super::monitors::results,
        super::monitors::state,
        super::channels::monitor_deliveries,
        super::channels::create,
        super::channels::list,
        super::channels::get,
        super::channels::update,
        super::channels::delete,
        super::channels::test,
        super::channels::deliveries,
        super::events::list,
        super::apply::apply,
        super::apply::export,
        super::tokens::create,
        super::tokens::list,
        super::tokens::revoke,
        super::live::connect,
        super::uptime::summary,
        super::uptime::monitor_uptime,
        super::uptime::recent,
        super::badges::status,
        super::badges::uptime,
    ),
    components(schemas(
        ErrorBody, MonitorInput, BulkInput, BulkResponse, ChannelInput, TokenInput, ManifestInput,
        ExportResponse, HealthResponse, ReadyResponse, ConfigResponse, MonitorResponse,
        StateResponse, EventResponse, ResultResponse, ChannelResponse, DeliveryResponse,
        TokenResponse, CreatedTokenResponse, PlanLine, PlanSummary, PlanResponse,
        Page<MonitorResponse>, Page<EventResponse>, Page<ResultResponse>,
        Page<ChannelResponse>, Page<DeliveryResponse>, Page<TokenResponse>,
        super::uptime::SummaryResponse, super::uptime::UptimeResponse, super::uptime::UptimeBucket,
        super::uptime::RecentUptime, super::uptime::RecentUptimePage, super::uptime::HourCell,
    )),
    modifiers(&Conventions),
    security(("bearer" = [])),
    tags(
        (name = "monitors", description = "Register, list, change, pause and delete monitors; their results, events and audit state."),
        (name = "channels", description = "Notification channels and their deliveries."),
        (name = "events", description = "The append-only event log and the live feed."),
        (name = "access", description = "API tokens (admin scope)."),
        (name = "as code", description = "Apply and export monitors files."),
        (name = "operations", description = "Liveness, readiness, metrics."),
    )
)]
pub struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(ApiDoc::openapi)
}
