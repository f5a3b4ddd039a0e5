//! The `notify` scenario: transition recorded → webhook received, under a
//! background probe load, and how many deliveries per second one notifier
//! sends to a receiver that answers at once.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::fleet::{Common, Fleet};
use crate::measure::{ms_since_recorded, pause, percentile, report};
use crate::scenarios::register_load_and_flips;
use crate::webhooks::{Arrivals, arrived, start_receiver};

async fn wait_for_arrivals(arrivals: &Arrivals, wanted: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived(arrivals) < wanted {
        if Instant::now() > deadline {
            bail!("{wanted} webhooks did not arrive within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

pub async fn notify(
    common: &Common,
    load: usize,
    flips: usize,
    burst: usize,
) -> anyhow::Result<()> {
    let (base, arrivals) = start_receiver()?;
    let hook = format!("{base}/hook");
    let fleet = Fleet::start(common, &[]).await?;
    let body = json!({"name": "bench", "kind": "webhook", "url": hook,
        "secret": "bench-secret-0123456789", "match_tags": ["flip"]});
    let response = fleet
        .http
        .post(format!("{}/channels", fleet.api))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body)?)
        .send()
        .await?
        .error_for_status()?;
    let channel: Value = serde_json::from_slice(&response.bytes().await?)?;
    register_load_and_flips(&fleet, load, flips).await?;
    // The first `up` of each is not news: nothing arrives for it.
    pause(Duration::from_secs(10)).await;
    for (round, status) in [503, 200].into_iter().enumerate() {
        for i in 0..flips {
            fleet.flip(&format!("flip{i}"), status).await?;
        }
        wait_for_arrivals(&arrivals, flips * (round + 1)).await?;
    }
    let received: Vec<(i64, OffsetDateTime)> = arrivals
        .lock()
        .map_err(|_| anyhow::anyhow!("receiver poisoned"))?
        .iter()
        .filter_map(|arrival| arrival.seq.map(|s| (s, arrival.at)))
        .collect();
    let latencies = ms_since_recorded(&fleet.db, &received).await?;

    // Throughput: a burst of owed deliveries, sent by the one notifier.
    let channel_id: uuid::Uuid = channel["id"].as_str().unwrap_or_default().parse()?;
    let before = arrived(&arrivals);
    let started = Instant::now();
    fleet
        .db
        .batch_execute(&format!(
            "INSERT INTO deliveries (id, channel_id, kind)
             SELECT gen_random_uuid(), '{channel_id}', 'test' FROM generate_series(1, {burst});
             NOTIFY upwatch_deliveries;"
        ))
        .await?;
    wait_for_arrivals(&arrivals, before + burst).await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row = fleet
            .db
            .query_one(
                "SELECT count(*) FROM deliveries WHERE status <> 'delivered'",
                &[],
            )
            .await?;
        if row.get::<_, i64>(0) == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the burst was not all recorded delivered within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let burst_seconds = started.elapsed().as_secs_f64();

    let mut fields = Map::new();
    fields.insert("load_monitors_at_1s".into(), json!(load));
    fields.insert("transitions_measured".into(), json!(latencies.len()));
    fields.insert("webhook_p50_ms".into(), json!(percentile(&latencies, 50.0)));
    fields.insert("webhook_p99_ms".into(), json!(percentile(&latencies, 99.0)));
    fields.insert(
        "webhook_max_ms".into(),
        json!(percentile(&latencies, 100.0)),
    );
    fields.insert("burst_deliveries".into(), json!(burst));
    fields.insert("burst_seconds".into(), json!(burst_seconds));
    fields.insert(
        "deliveries_per_second".into(),
        json!(burst as f64 / burst_seconds),
    );
    fleet.finish().await?;
    report(&common.out, "notify", fields)
}
