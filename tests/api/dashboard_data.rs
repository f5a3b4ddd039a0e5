//! What the dashboard reads: counts by status, uptime and latency history
//! from roll-ups and the event log, the recent uptime of a page of monitors,
//! and badges.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, spawn_pipeline, wait_for};
use crate::target::Target;

#[actix_web::test]
async fn the_summary_counts_a_paused_monitor_only_as_paused() {
    let app = spawn_app().await;
    let (_, empty) = app.get_json("/api/v1/summary").await;
    assert_eq!(
        empty,
        json!({"up": 0, "down": 0, "unknown": 0, "paused": 0, "total": 0})
    );
    let a = app.create_named("a").await;
    app.create_named("b").await;
    let deleted = app.create_named("c").await;
    app.post_empty(&format!(
        "/api/v1/monitors/{}/pause",
        a["id"].as_str().unwrap()
    ))
    .await;
    app.request(
        Method::DELETE,
        &format!("/api/v1/monitors/{}", deleted["id"].as_str().unwrap()),
        None,
    )
    .await;
    let (_, summary) = app.get_json("/api/v1/summary").await;
    assert_eq!(
        summary,
        json!({"up": 0, "down": 0, "unknown": 1, "paused": 1, "total": 2})
    );
}

#[actix_web::test]
async fn monitors_are_searched_by_name_ignoring_case() {
    let app = spawn_app().await;
    for name in ["Checkout-API", "orders", "50%_off"] {
        app.create_named(name).await;
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, found) = app.get_json("/api/v1/monitors?name=CHECK").await;
    assert_eq!(names(&found), ["Checkout-API"]);
    let (_, literal) = app.get_json("/api/v1/monitors?name=%25_").await;
    assert_eq!(names(&literal), ["50%_off"], "% and _ are not wildcards");
    let (_, none) = app.get_json("/api/v1/monitors?name=zzz").await;
    assert!(names(&none).is_empty());
    let empty = app
        .request(Method::GET, "/api/v1/monitors?name=%20", None)
        .await;
    assert_error(empty, 422, "validation_failed").await;
}

#[actix_web::test]
async fn uptime_comes_from_transitions_and_latency_from_roll_ups() {
    let app = spawn_pipeline(&[]).await;
    let target = Target::start();
    let monitor = app
        .create_monitor(json!({"name": "rolled", "url": target.url("/health"),
            "interval_seconds": 1, "timeout_ms": 500, "failure_threshold": 1}))
        .await;
    let id = monitor["id"].as_str().unwrap().to_owned();
    crate::pipeline::wait_for_status(&app, &id, "up").await;
    let path = format!("/api/v1/monitors/{id}/uptime");
    let (status, history) = app.get_json(&path).await;
    assert_eq!(status, 200, "{history}");
    let items = history["items"].as_array().unwrap();
    assert!(
        (24..=25).contains(&items.len()),
        "hourly buckets over 24 h: {}",
        items.len()
    );
    assert_eq!(history["uptime"], 1.0, "only up time so far: {history}");

    target.answer(503);
    crate::pipeline::wait_for_status(&app, &id, "down").await;
    // Some down time must pass to count.
    let (_, later) = wait_for("down time to count", Duration::from_secs(10), || async {
        let (status, body) = app.get_json(&path).await;
        body["uptime"]
            .as_f64()
            .filter(|u| *u < 1.0)
            .map(|_| (status, body))
    })
    .await;
    let uptime = later["uptime"].as_f64().unwrap();
    assert!(uptime > 0.0 && uptime < 1.0, "{uptime}");

    // Every stored result is counted in the roll-ups exactly once.
    let results = crate::pipeline::results(&app, &id).await;
    let (_, now) = app.get_json(&path).await;
    let counted: i64 = now["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["checks"].as_i64().unwrap())
        .sum();
    let failed: i64 = now["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["failed_checks"].as_i64().unwrap())
        .sum();
    let stored_now = crate::pipeline::results(&app, &id).await.len() as i64;
    assert!(
        counted >= results.len() as i64 && counted <= stored_now,
        "{counted} of {stored_now}"
    );
    assert!(failed >= 1);
    let last = now["items"].as_array().unwrap().last().unwrap();
    assert!(
        last["latency_ms_p50"].is_u64() && last["latency_ms_p95"].is_u64(),
        "{last}"
    );

    let (_, days) = app
        .get_json(&format!(
            "{path}?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z"
        ))
        .await;
    assert_eq!(
        days["items"].as_array().unwrap().len(),
        59,
        "day buckets past 7 days"
    );
    assert_eq!(
        days["uptime"],
        Value::Null,
        "the monitor did not exist then"
    );

    let (_, recent) = app
        .get_json(&format!("/api/v1/uptime?monitor_id={id}"))
        .await;
    let item = &recent["items"][0];
    assert_eq!(item["monitor_id"], id.as_str());
    assert!(item["uptime_24h"].as_f64().unwrap() < 1.0);
    assert!(item["hours"][0]["checks"].as_i64().unwrap() >= 1);

    let (status, svg) = {
        let response = app
            .http
            .get(app.url(&format!("/badge/{id}/status.svg")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["content-type"], "image/svg+xml");
        assert!(
            response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
        (response.status(), response.text().await.unwrap())
    };
    assert_eq!(status, 200);
    assert!(svg.contains("rolled: down"), "{svg}");
    let uptime_badge = app
        .http
        .get(app.url(&format!("/badge/{id}/uptime.svg?window=7d")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(uptime_badge.contains("uptime 7d: "), "{uptime_badge}");
    assert!(uptime_badge.contains('%'), "{uptime_badge}");
}

#[actix_web::test]
async fn bad_history_queries_are_refused() {
    let app = spawn_app().await;
    let id = app.create_named("q").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (query, field) in [
        ("?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
        ("?bucket=week", "bucket"),
        ("?from=yesterday", "from"),
    ] {
        let response = app
            .request(
                Method::GET,
                &format!("/api/v1/monitors/{id}/uptime{query}"),
                None,
            )
            .await;
        let error = assert_error(response, 422, "validation_failed").await;
        assert_eq!(error["error"]["field"], field, "{query}");
    }
    let unknown = app
        .request(
            Method::GET,
            &format!("/api/v1/monitors/{}/uptime", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_error(unknown, 404, "not_found").await;
    let window = app
        .request(
            Method::GET,
            &format!("/badge/{id}/uptime.svg?window=1y"),
            None,
        )
        .await;
    assert_error(window, 422, "validation_failed").await;
}

#[actix_web::test]
async fn badges_are_public_only_when_allowed() {
    const ADMIN: &str = "uw_badge-test-bootstrap-token-0123456789";
    for (public, expected) in [("false", 401), ("true", 200)] {
        let app = spawn_app_with(&[
            ("UPWATCH_AUTH", "tokens".into()),
            ("UPWATCH_BOOTSTRAP_TOKEN", ADMIN.into()),
            ("UPWATCH_PUBLIC_BADGES", public.into()),
        ])
        .await;
        let created = app
            .http
            .post(app.url("/api/v1/monitors"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": "badged", "url": "https://a.example/"}))
            .send()
            .await
            .unwrap();
        let id = created.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let badge = app
            .http
            .get(app.url(&format!("/badge/{id}/status.svg")))
            .send()
            .await
            .unwrap();
        assert_eq!(badge.status().as_u16(), expected, "public badges {public}");
        let api = app
            .http
            .get(app.url("/api/v1/monitors"))
            .send()
            .await
            .unwrap();
        assert_eq!(api.status().as_u16(), 401, "only badges are public");
    }
}

#[actix_web::test]
async fn a_badge_is_drawn_once_per_few_seconds() {
    let app = spawn_app().await;
    let id = app.create_named("cached").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let badge = || async {
        let response = app
            .http
            .get(app.url(&format!("/badge/{id}/status.svg")))
            .send()
            .await
            .unwrap();
        response.text().await.unwrap()
    };
    let first = badge().await;
    assert!(first.contains("cached: unknown"), "{first}");
    app.post_empty(&format!("/api/v1/monitors/{id}/pause"))
        .await;
    let (_, monitor) = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(monitor["paused"], true);
    assert_eq!(
        badge().await,
        first,
        "served from the cache, not drawn again"
    );
}
