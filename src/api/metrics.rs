//! `GET /metrics`: this process's metrics in the Prometheus text format. The
//! gauges that describe shared state (monitors by status, pending stream
//! entries) are read at scrape time.

use actix_web::{HttpResponse, web};

use super::AppState;
use crate::domain::Status;
use crate::instruments;
use crate::queue;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let (monitors, pending) = tokio::join!(count_monitors(&state), count_pending(&state));
    if let Err(error) = monitors {
        tracing::warn!(error = %error, "cannot count the monitors for /metrics");
    }
    if let Err(error) = pending {
        tracing::warn!(error = %error, "cannot read the pending entries for /metrics");
    }
    HttpResponse::Ok()
        .content_type(CONTENT_TYPE)
        .body(instruments::render())
}

async fn count_monitors(state: &AppState) -> Result<(), String> {
    let client = state.pg.get().await.map_err(|e| e.to_string())?;
    let rows = client
        .query(
            "SELECT status, count(*) AS n FROM monitors WHERE NOT deleted GROUP BY status",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    for status in [Status::Unknown, Status::Up, Status::Down] {
        let count = rows
            .iter()
            .find(|row| row.get::<_, &str>("status") == status.as_str())
            .map_or(0, |row| row.get::<_, i64>("n"));
        instruments::monitors(status.as_str(), count);
    }
    Ok(())
}

async fn count_pending(state: &AppState) -> Result<(), String> {
    let (jobs, results) = queue::pending(&state.redis, &state.keys, state.partitions).await?;
    instruments::stream_pending("jobs", jobs);
    instruments::stream_pending("results", results);
    Ok(())
}
