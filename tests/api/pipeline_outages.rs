//! The pipeline through outages of its stores: probing goes on while
//! PostgreSQL is away (results wait in Redis) and resumes by itself when a
//! restarted, empty Redis comes back.

use std::time::Duration;

use serde_json::json;

use crate::health::ThrowawayRedis;
use crate::helpers::{TestApp, spawn_pipeline, wait_for};
use crate::pipeline::{register, results, wait_for_results};
use crate::postgres_outage::ThrowawayPostgres;
use crate::target::Target;

const PATIENCE: Duration = Duration::from_secs(60);

/// How many results the API lists, or `None` while it answers 503.
async fn stored_results(app: &TestApp, id: &str) -> Option<usize> {
    let (status, body) = app
        .get_json(&format!("/api/v1/monitors/{id}/results?limit=1000"))
        .await;
    (status == 200).then(|| body["items"].as_array().map_or(0, Vec::len))
}

#[actix_web::test]
async fn results_probed_while_postgres_is_down_are_stored_when_it_returns() {
    let postgres = ThrowawayPostgres::start();
    let app = spawn_pipeline(&[("UPWATCH_DATABASE_URL", postgres.url())]).await;
    let target = Target::start();
    let id = register(&app, "steady", &target.url("/health"), json!({})).await;
    wait_for_results(&app, &id, 1).await;

    postgres.stop_server();
    let hits_at_stop = target.hits();
    wait_for("probing to go on without PostgreSQL", PATIENCE, || async {
        (target.hits() >= hits_at_stop + 3).then_some(())
    })
    .await;
    wait_for("results to wait in Redis", PATIENCE, || async {
        (app.results_waiting().await > 0).then_some(())
    })
    .await;
    let probed_during_outage = target.hits();

    postgres.start_server();
    wait_for("every probe's result to be stored", PATIENCE, || async {
        let stored = stored_results(&app, &id).await?;
        (stored >= probed_during_outage).then_some(())
    })
    .await;
    let stored = results(&app, &id).await;
    let mut job_ids: Vec<&str> = stored
        .iter()
        .map(|r| r["job_id"].as_str().unwrap())
        .collect();
    job_ids.sort_unstable();
    job_ids.dedup();
    assert_eq!(job_ids.len(), stored.len(), "no result stored twice");
}

#[actix_web::test]
async fn the_pipeline_recovers_by_itself_after_a_redis_restart() {
    let mut redis = ThrowawayRedis::start();
    let app = spawn_pipeline(&[(
        "UPWATCH_REDIS_URL",
        format!("redis://127.0.0.1:{}", redis.port),
    )])
    .await;
    let target = Target::start();
    let id = register(&app, "steady", &target.url("/health"), json!({})).await;
    wait_for_results(&app, &id, 1).await;

    redis.child.kill().unwrap();
    redis.child.wait().unwrap();
    let hits_at_stop = target.hits();
    redis.restart();
    let before = results(&app, &id).await.len();
    wait_for_results(&app, &id, before + 3).await;
    assert!(target.hits() > hits_at_stop);
    assert_eq!(app.get_json("/readyz").await.0, 200);
}
