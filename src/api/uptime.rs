//! What the dashboard reads beside the monitors: counts by status
//! (`/api/v1/summary`), a monitor's uptime and latency history
//! (`/monitors/{id}/uptime`, from roll-ups and the event log) and the 24 h
//! uptime of a page of monitors at once (`/api/v1/uptime`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{QueryParams, monitor_id, monitor_id_param};
use crate::domain::rollup::{self, Rollup};
use crate::domain::uptime;
use crate::store::{monitors, rollups};

/// Monitors by status; a paused monitor counts only as paused.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryResponse {
    pub up: i64,
    pub down: i64,
    pub unknown: i64,
    pub paused: i64,
    pub total: i64,
}

#[utoipa::path(get, path = "/api/v1/summary", operation_id = "get_summary", tag = "monitors",
    responses((status = 200, description = "Monitors by status: up + down + unknown + paused = total", body = SummaryResponse)))]
pub async fn summary(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let client = state.db("counting monitors").await?;
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE paused) AS paused,
                    count(*) FILTER (WHERE NOT paused AND status = 'up') AS up,
                    count(*) FILTER (WHERE NOT paused AND status = 'down') AS down,
                    count(*) FILTER (WHERE NOT paused AND status = 'unknown') AS unknown,
                    count(*) AS total
             FROM monitors WHERE NOT deleted",
            &[],
        )
        .await
        .map_err(|e| crate::store::StoreError::from_db("counting monitors", e))?;
    Ok(HttpResponse::Ok().json(SummaryResponse {
        up: row.get("up"),
        down: row.get("down"),
        unknown: row.get("unknown"),
        paused: row.get("paused"),
        total: row.get("total"),
    }))
}

/// One bucket of a monitor's history.
#[derive(Debug, Serialize, ToSchema)]
pub struct UptimeBucket {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    /// The share of the bucket's counted time the monitor was up; null when
    /// none counted (paused, unknown, not yet registered).
    pub uptime: Option<f64>,
    pub checks: i32,
    pub failed_checks: i32,
    pub latency_ms_p50: Option<u32>,
    pub latency_ms_p95: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UptimeResponse {
    pub items: Vec<UptimeBucket>,
    /// The share of `[from, to)` the monitor was up (time-weighted, from its
    /// `status_changed` events; paused and unknown time excluded).
    pub uptime: Option<f64>,
}

/// The longest span one request covers, and the most buckets.
const MAX_SPAN: Duration = Duration::days(400);
const MAX_BUCKETS: usize = 10_000;

#[utoipa::path(get, path = "/api/v1/monitors/{id}/uptime", operation_id = "get_monitor_uptime", tag = "monitors",
    params(("id" = uuid::Uuid, Path), super::openapi::UptimeQuery),
    responses((status = 200, description = "Uptime and latency per bucket, and over the whole span", body = UptimeResponse)))]
pub async fn monitor_uptime(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = monitor_id(&path)?;
    let query = QueryParams::from_request(&req)?;
    let to = query.time("to")?.unwrap_or_else(OffsetDateTime::now_utc);
    let from = query.time("from")?.unwrap_or(to - Duration::DAY);
    if from >= to {
        return Err(ApiError::validation("from", "must be before `to`"));
    }
    if to - from > MAX_SPAN {
        return Err(ApiError::validation(
            "from",
            "must be at most 400 days before `to`",
        ));
    }
    let bucket = match query.single("bucket")? {
        None if to - from > Duration::days(7) => Duration::DAY,
        None | Some("hour") => Duration::HOUR,
        Some("day") => Duration::DAY,
        Some(other) => {
            return Err(ApiError::validation(
                "bucket",
                format!("must be `hour` or `day`, got `{other}`"),
            ));
        }
    };
    let starts = rollup::bucket_starts(from, to, bucket);
    if starts.len() > MAX_BUCKETS {
        return Err(ApiError::validation(
            "bucket",
            "would make more than 10000 buckets; use `day`",
        ));
    }
    let client = state.db("reading a monitor's uptime").await?;
    if monitors::find(&client, id, false).await?.is_none() {
        return Err(ApiError::not_found("no monitor with this id"));
    }
    let first = starts.first().copied().unwrap_or(from);
    let hours = rollups::hours(&client, id, first, to).await?;
    let (initial, changes) = rollups::lifecycle(&client, id, first, to).await?;
    let tallies = uptime::tally_buckets(initial, &changes, &starts, bucket, to);
    let overall = uptime::tally(initial, &changes, from, to);
    let items = starts
        .iter()
        .zip(tallies)
        .map(|(&start, tally)| {
            let mut sum = Rollup::empty(id, start);
            for hour in hours
                .iter()
                .filter(|h| h.start >= start && h.start < start + bucket)
            {
                sum.absorb(hour);
            }
            UptimeBucket {
                start,
                uptime: tally.uptime(),
                checks: sum.checks,
                failed_checks: sum.failed_checks,
                latency_ms_p50: sum.latency_quantile_ms(0.5),
                latency_ms_p95: sum.latency_quantile_ms(0.95),
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(UptimeResponse {
        items,
        uptime: overall.uptime(),
    }))
}

/// One hour of the recent-status bar.
#[derive(Debug, Serialize, ToSchema)]
pub struct HourCell {
    #[serde(with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    pub checks: i32,
    pub failed_checks: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecentUptime {
    pub monitor_id: Uuid,
    /// The share of the last 24 h the monitor was up; null when none counted.
    pub uptime_24h: Option<f64>,
    /// The last 24 hours that had checks, oldest first.
    pub hours: Vec<HourCell>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecentUptimePage {
    pub items: Vec<RecentUptime>,
}

/// Most monitors one request asks about (a page of the overview).
const MAX_MONITORS: usize = 200;

#[utoipa::path(get, path = "/api/v1/uptime", operation_id = "list_recent_uptime", tag = "monitors",
    params(super::openapi::RecentUptimeQuery),
    responses((status = 200, description = "The last 24 h of each monitor asked for", body = RecentUptimePage)))]
pub async fn recent(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::from_request(&req)?;
    let ids = query
        .all("monitor_id")
        .map(monitor_id_param)
        .collect::<Result<Vec<_>, _>>()?;
    if ids.len() > MAX_MONITORS {
        return Err(ApiError::validation(
            "monitor_id",
            "may be given at most 200 times",
        ));
    }
    let to = OffsetDateTime::now_utc();
    let from = to - Duration::DAY;
    let client = state.db("reading recent uptime").await?;
    let hours = rollups::hours_of_many(&client, &ids, rollup::hour_of(from)).await?;
    let mut items = Vec::with_capacity(ids.len());
    for id in ids {
        let (initial, changes) = rollups::lifecycle(&client, id, from, to).await?;
        items.push(RecentUptime {
            monitor_id: id,
            uptime_24h: uptime::tally(initial, &changes, from, to).uptime(),
            hours: hours
                .iter()
                .filter(|h| h.monitor_id == id)
                .map(|h| HourCell {
                    start: h.start,
                    checks: h.checks,
                    failed_checks: h.failed_checks,
                })
                .collect(),
        });
    }
    Ok(HttpResponse::Ok().json(RecentUptimePage { items }))
}
