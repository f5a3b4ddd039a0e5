//! Status badges: `/badge/{id}/status.svg` and `/badge/{id}/uptime.svg`,
//! small SVGs for READMEs and wikis, cached for a few seconds. Open to all
//! while auth is off or `UPWATCH_PUBLIC_BADGES=true`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use time::{Duration, OffsetDateTime};

use super::AppState;
use super::error::ApiError;
use super::extract::{QueryParams, monitor_id};
use crate::domain::Status;
use crate::domain::uptime;
use crate::store::{monitors, rollups};

/// How long a client, a proxy or this process keeps a badge.
const CACHE_SECONDS: u32 = 5;
/// Badges kept at most; beyond, the cache starts over.
const CACHE_ENTRIES: usize = 10_000;

/// Badges drawn in the last few seconds, so a popular README does not
/// query PostgreSQL for every view.
#[derive(Debug, Default)]
pub struct BadgeCache {
    drawn: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, String)>>,
}

impl BadgeCache {
    fn get(&self, key: &str) -> Option<String> {
        let drawn = self.drawn.lock().ok()?;
        let (at, svg) = drawn.get(key)?;
        (at.elapsed().as_secs() < u64::from(CACHE_SECONDS)).then(|| svg.clone())
    }

    fn put(&self, key: String, svg: &str) {
        if let Ok(mut drawn) = self.drawn.lock() {
            if drawn.len() >= CACHE_ENTRIES {
                drawn.clear();
            }
            drawn.insert(key, (std::time::Instant::now(), svg.to_owned()));
        }
    }

    /// The badge under `key`, drawn by `draw` unless one is fresh.
    async fn through<F>(&self, key: String, draw: F) -> Result<HttpResponse, ApiError>
    where
        F: std::future::Future<Output = Result<String, ApiError>>,
    {
        if let Some(svg) = self.get(&key) {
            return Ok(badge(svg));
        }
        let svg = draw.await?;
        self.put(key, &svg);
        Ok(badge(svg))
    }
}

const GREEN: &str = "#2e7d32";
const RED: &str = "#c62828";
const GREY: &str = "#6b7280";
const AMBER: &str = "#b26a00";

/// A two-part badge: `label | value`, the value on `colour`.
fn svg(label: &str, value: &str, colour: &str) -> String {
    // Verdana 11px averages about 7 px a character.
    let width = |text: &str| 10 + 7 * text.chars().count();
    let (left, right) = (width(label), width(value));
    let total = left + right;
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let (label, value) = (escape(label), escape(value));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{label}: {value}"><title>{label}: {value}</title><rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="{colour}"/><g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11"><text x="{lx}" y="14">{label}</text><text x="{rx}" y="14">{value}</text></g></svg>"##,
        lx = left / 2,
        rx = left + right / 2,
    )
}

fn badge(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, format!("max-age={CACHE_SECONDS}")))
        .body(body)
}

async fn live_monitor(
    state: &AppState,
    raw: &str,
) -> Result<(deadpool_postgres::Object, monitors::MonitorView), ApiError> {
    let id = monitor_id(raw)?;
    let client = state.db("drawing a badge").await?;
    let view = monitors::find(&client, id, false)
        .await?
        .filter(|v| !v.monitor.deleted)
        .ok_or_else(|| ApiError::not_found("no monitor with this id"))?;
    Ok((client, view))
}

#[utoipa::path(get, path = "/badge/{id}/status.svg", operation_id = "status_badge", tag = "monitors",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, description = "The monitor's status as an SVG badge", content_type = "image/svg+xml", body = String)))]
pub async fn status(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = format!("status {}", path.as_str());
    state.badges.through(key, draw_status(&state, &path)).await
}

async fn draw_status(state: &AppState, raw: &str) -> Result<String, ApiError> {
    let (_, view) = live_monitor(state, raw).await?;
    let (value, colour) = if view.monitor.paused {
        ("paused", GREY)
    } else {
        match view.health.status {
            Status::Up => ("up", GREEN),
            Status::Down => ("down", RED),
            Status::Unknown => ("unknown", GREY),
        }
    };
    Ok(svg(view.monitor.config.name.as_ref(), value, colour))
}

#[utoipa::path(get, path = "/badge/{id}/uptime.svg", operation_id = "uptime_badge", tag = "monitors",
    params(("id" = uuid::Uuid, Path), ("window" = Option<String>, Query, description = "`24h` (default), `7d` or `30d`")),
    responses((status = 200, description = "The monitor's uptime over the window as an SVG badge", content_type = "image/svg+xml", body = String)))]
pub async fn uptime(
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = QueryParams::from_request(&req)?;
    let window = query.single("window")?.unwrap_or("24h").to_owned();
    let key = format!("uptime {window} {}", path.as_str());
    state
        .badges
        .through(key, draw_uptime(&state, &path, &window))
        .await
}

async fn draw_uptime(state: &AppState, raw: &str, window: &str) -> Result<String, ApiError> {
    let (label, span) = match window {
        "24h" => ("uptime 24h", Duration::DAY),
        "7d" => ("uptime 7d", Duration::days(7)),
        "30d" => ("uptime 30d", Duration::days(30)),
        other => {
            return Err(ApiError::validation(
                "window",
                format!("must be 24h, 7d or 30d, got `{other}`"),
            ));
        }
    };
    let (client, view) = live_monitor(state, raw).await?;
    let to = OffsetDateTime::now_utc();
    let from = to - span;
    let (initial, changes) = rollups::lifecycle(&client, view.monitor.id, from, to).await?;
    let share = uptime::tally(initial, &changes, from, to).uptime();
    let (value, colour) = match share {
        None => ("no data".to_owned(), GREY),
        Some(share) => {
            let colour = if share >= 0.999 {
                GREEN
            } else if share >= 0.99 {
                AMBER
            } else {
                RED
            };
            (percent(share), colour)
        }
    };
    Ok(svg(label, &value, colour))
}

/// `99.95%`: two decimals, never rounding a shortfall up to 100.
fn percent(share: f64) -> String {
    let hundredths = (share * 10_000.0).floor() / 100.0;
    format!("{hundredths:.2}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortfall_never_shows_as_a_hundred_percent() {
        assert_eq!(percent(1.0), "100.00%");
        assert_eq!(percent(0.99999), "99.99%");
        assert_eq!(percent(0.5), "50.00%");
    }

    #[test]
    fn names_are_escaped_in_the_svg() {
        let drawn = svg("a<b>&c", "up", GREEN);
        assert!(drawn.contains("a&lt;b&gt;&amp;c"));
        assert!(!drawn.contains("a<b>"));
    }
}
