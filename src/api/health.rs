//! `/healthz` (the process is alive) and `/readyz` (its dependencies answer).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;
use crate::queue;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[utoipa::path(get, path = "/healthz", operation_id = "healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process is alive", body = super::openapi::HealthResponse)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[utoipa::path(get, path = "/readyz", operation_id = "readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "PostgreSQL and Redis answer", body = super::openapi::ReadyResponse),
        (status = 503, description = "Which dependency failed", body = super::openapi::ReadyResponse),
    ))]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (postgres, redis) = tokio::join!(check_postgres(&state), check_redis(&state));
    let failed: Vec<String> = [("postgres", &postgres), ("redis", &redis)]
        .into_iter()
        .filter_map(|(name, outcome)| outcome.as_ref().err().map(|e| format!("{name}: {e}")))
        .collect();
    let describe = |outcome: &Result<(), String>| match outcome {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let checks = json!({"postgres": describe(&postgres), "redis": describe(&redis)});
    if failed.is_empty() {
        return HttpResponse::Ok().json(json!({"status": "ready", "checks": checks}));
    }
    HttpResponse::ServiceUnavailable().json(json!({
        "status": "unavailable",
        "checks": checks,
        "error": {
            "code": "unavailable",
            "message": format!("not ready: {}", failed.join("; ")),
        }
    }))
}

async fn check_postgres(state: &AppState) -> Result<(), String> {
    let check = async {
        let client = state.pg.get().await.map_err(|e| e.to_string())?;
        client
            .simple_query("SELECT 1")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(CHECK_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")))
}

async fn check_redis(state: &AppState) -> Result<(), String> {
    tokio::time::timeout(CHECK_TIMEOUT, queue::ping(&state.redis))
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {CHECK_TIMEOUT:?}")))
}
