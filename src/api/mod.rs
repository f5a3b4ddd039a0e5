//! The HTTP API: routes, request parsing, responses and errors.

pub mod actor;
pub mod apply;
pub mod auth;
pub mod badges;
pub mod channel_dto;
pub mod channels;
pub mod dashboard;
pub mod dto;
pub mod error;
pub mod events;
pub mod extract;
pub mod health;
pub mod live;
pub mod manifest_dto;
pub mod metrics;
pub mod monitors;
pub mod openapi;
pub mod request_log;
pub mod tokens;
pub mod uptime;

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, ResponseError, web};

use actix::Addr;

use crate::domain::notification::RetryPolicy;
use crate::notify::Senders;
use crate::queue::RedisPool;
use crate::queue::keys::Keys;
use crate::roles::live::broadcaster::Broadcaster;
use crate::store::{self, Pool};
use error::ApiError;

/// What every handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pg: Pool,
    pub redis: RedisPool,
    /// Fans live transitions out to this process's WebSocket sessions.
    pub broadcaster: Addr<Broadcaster>,
    /// Live transitions a WebSocket client may fall behind before it is dropped.
    pub feed_buffer: usize,
    /// Sends `POST /channels/{id}/test` at once.
    pub senders: Senders,
    pub retry_policy: RetryPolicy,
    /// Whether and how requests are authenticated.
    pub gate: auth::Gate,
    /// Whether badges answer without a token while auth is on.
    pub public_badges: bool,
    /// Badges drawn in the last seconds.
    pub badges: std::sync::Arc<badges::BadgeCache>,
    /// For `/metrics`: the streams whose pending entries it reports.
    pub keys: Keys,
    pub partitions: u16,
}

impl AppState {
    /// A pooled PostgreSQL connection, or 503 when none can be had.
    pub async fn db(&self, context: &'static str) -> Result<deadpool_postgres::Object, ApiError> {
        Ok(store::connection(&self.pg, context).await?)
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("no such endpoint"))
}

/// A resource whose other methods get 405 with an `Allow` header listing `allowed`.
fn resource(path: &str, allowed: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut response = ApiError::method_not_allowed().error_response();
        response.headers_mut().insert(
            actix_web::http::header::ALLOW,
            actix_web::http::header::HeaderValue::from_static(allowed),
        );
        response
    }))
}

/// What every process serving HTTP answers: liveness, readiness, metrics.
fn operations_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", "GET").get(health::healthz))
        .service(resource("/readyz", "GET").get(health::readyz))
        .service(resource("/metrics", "GET").get(metrics::metrics));
}

/// The dashboard's page and files.
fn dashboard_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/", "GET").get(dashboard::index))
        .service(resource("/assets/{name}", "GET").get(dashboard::asset));
}

/// The badges, outside the API's prefix.
fn badge_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/badge/{id}/status.svg", "GET").get(badges::status))
        .service(resource("/badge/{id}/uptime.svg", "GET").get(badges::uptime));
}

/// Every route of the contract.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(operations_routes)
        .configure(badge_routes)
        .configure(dashboard_routes)
        .service(
            web::scope("/api/v1")
                .service(
                    resource("/monitors", "GET, POST")
                        .post(monitors::create)
                        .get(monitors::list),
                )
                .service(resource("/monitors/bulk", "POST").post(monitors::create_many))
                .service(
                    resource("/monitors/{id}", "GET, PATCH, DELETE")
                        .get(monitors::get)
                        .patch(monitors::update)
                        .delete(monitors::delete),
                )
                .service(resource("/monitors/{id}/pause", "POST").post(monitors::pause))
                .service(resource("/monitors/{id}/resume", "POST").post(monitors::resume))
                .service(resource("/monitors/{id}/events", "GET").get(monitors::events))
                .service(resource("/monitors/{id}/results", "GET").get(monitors::results))
                .service(resource("/monitors/{id}/state", "GET").get(monitors::state))
                .service(
                    resource("/monitors/{id}/deliveries", "GET").get(channels::monitor_deliveries),
                )
                .service(
                    resource("/channels", "GET, POST")
                        .post(channels::create)
                        .get(channels::list),
                )
                .service(
                    resource("/channels/{id}", "GET, PATCH, DELETE")
                        .get(channels::get)
                        .patch(channels::update)
                        .delete(channels::delete),
                )
                .service(resource("/channels/{id}/test", "POST").post(channels::test))
                .service(resource("/channels/{id}/deliveries", "GET").get(channels::deliveries))
                .service(resource("/events", "GET").get(events::list))
                .service(resource("/apply", "POST").post(apply::apply))
                .service(resource("/summary", "GET").get(uptime::summary))
                .service(resource("/uptime", "GET").get(uptime::recent))
                .service(resource("/monitors/{id}/uptime", "GET").get(uptime::monitor_uptime))
                .service(resource("/export", "GET").get(apply::export))
                .service(
                    resource("/tokens", "GET, POST")
                        .post(tokens::create)
                        .get(tokens::list),
                )
                .service(resource("/tokens/{name}", "DELETE").delete(tokens::revoke))
                .service(resource("/ws", "GET").get(live::connect)),
        );
}

/// Serves only `/healthz`, `/readyz` and `/metrics`: for a process
/// without the API role (`UPWATCH_METRICS_BIND`).
pub fn operations_server(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(auth::authenticate))
            .app_data(data.clone())
            .configure(operations_routes)
            .default_service(web::to(not_found))
    })
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}

/// Starts serving on `listener`; the returned server runs until stopped.
pub fn server(listener: TcpListener, state: AppState) -> std::io::Result<Server> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(auth::authenticate))
            .wrap(from_fn(request_log::log_request))
            .app_data(data.clone())
            .configure(routes)
            .service(
                utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                    .url("/openapi.json", openapi::document().clone()),
            )
            .service(web::resource("/docs").to(|| async {
                actix_web::HttpResponse::PermanentRedirect()
                    .insert_header((actix_web::http::header::LOCATION, "/docs/"))
                    .finish()
            }))
            .default_service(web::to(not_found))
    })
    .shutdown_timeout(10)
    .listen(listener)?
    .run();
    Ok(server)
}
