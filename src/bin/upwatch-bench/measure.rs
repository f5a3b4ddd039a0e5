//! Numbers read from the database after a run, and how they are reported.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use upwatch::domain::IntervalSeconds;
use upwatch::domain::schedule::offset_ms;

/// Probe results whose tick fell in a window.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeStats {
    pub count: i64,
    pub lag_p50_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
}

pub async fn probe_stats(
    db: &tokio_postgres::Client,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<ProbeStats> {
    let row = db
        .query_one(
            "SELECT count(*),
                    COALESCE(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag), 0),
                    COALESCE(percentile_cont(0.99) WITHIN GROUP (ORDER BY lag), 0),
                    COALESCE(max(lag), 0)
             FROM (SELECT extract(epoch FROM started_at - scheduled_at)::float8 * 1000 AS lag
                   FROM probe_results WHERE scheduled_at >= $1 AND scheduled_at < $2) t",
            &[&from, &to],
        )
        .await
        .context("reading probe statistics")?;
    Ok(ProbeStats {
        count: row.get(0),
        lag_p50_ms: row.get(1),
        lag_p99_ms: row.get(2),
        lag_max_ms: row.get(3),
    })
}

/// How many ticks the schedule holds for these monitors in [from, to).
pub fn scheduled_ticks(
    ids: &[String],
    interval: IntervalSeconds,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> u64 {
    let ms = |t: OffsetDateTime| u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let (from, to) = (ms(from), ms(to));
    let step = interval.as_millis();
    ids.iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .map(|id| {
            let offset = offset_ms(id, interval);
            // Ticks are offset + k·step; count those in [from, to).
            let first = if from <= offset {
                0
            } else {
                (from - offset).div_ceil(step)
            };
            let end = if to <= offset {
                0
            } else {
                (to - offset).div_ceil(step)
            };
            end.saturating_sub(first)
        })
        .sum()
}

/// Bytes the results table takes per stored result.
pub async fn bytes_per_result(db: &tokio_postgres::Client) -> anyhow::Result<f64> {
    let row = db
        .query_one(
            "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0)::float8,
                    (SELECT count(*) FROM probe_results)::float8
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'probe_results'",
            &[],
        )
        .await?;
    let (bytes, rows): (f64, f64) = (row.get(0), row.get(1));
    Ok(if rows > 0.0 { bytes / rows } else { 0.0 })
}

/// Percentile of a sorted slice (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds one thread takes for a fixed piece of arithmetic: how fast
/// the machine was when the report was written. Shared machines change speed
/// from minute to minute; this lets runs be compared.
pub fn cpu_reference_ms() -> f64 {
    let started = std::time::Instant::now();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200_000_000u64 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state = std::hint::black_box(state);
    }
    std::hint::black_box(state);
    started.elapsed().as_secs_f64() * 1000.0
}

/// Prints the report as a two-column table and writes it as JSON, with the
/// machine's speed at the time (see [`cpu_reference_ms`]).
pub fn report(
    out: &std::path::Path,
    scenario: &str,
    mut fields: Map<String, Value>,
) -> anyhow::Result<()> {
    fields.insert("cpu_reference_ms".into(), json!(cpu_reference_ms()));
    println!("\n{scenario}");
    println!("{}", "-".repeat(60));
    for (key, value) in &fields {
        let shown = match value {
            Value::Number(n) if n.is_f64() => format!("{:.2}", n.as_f64().unwrap_or(0.0)),
            other => other.to_string(),
        };
        println!("{key:<36} {shown}");
    }
    std::fs::create_dir_all(out)?;
    let stamp = OffsetDateTime::now_utc().unix_timestamp();
    let path = out.join(format!("{scenario}-{stamp}.json"));
    let mut document = Map::new();
    document.insert("scenario".into(), Value::from(scenario));
    document.insert("at".into(), Value::from(stamp));
    document.extend(fields);
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&Value::Object(document))?,
    )?;
    println!("written to {}", path.display());
    Ok(())
}

pub async fn pause(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// For each (event seq, arrival time): milliseconds from the event's
/// `recorded_at` (just before its commit) to its arrival, sorted.
pub async fn ms_since_recorded(
    db: &tokio_postgres::Client,
    arrivals: &[(i64, time::OffsetDateTime)],
) -> anyhow::Result<Vec<f64>> {
    let seqs: Vec<i64> = arrivals.iter().map(|(seq, _)| *seq).collect();
    let rows = db
        .query(
            "SELECT seq, recorded_at FROM events WHERE seq = ANY($1)",
            &[&seqs],
        )
        .await?;
    let recorded: std::collections::HashMap<i64, time::OffsetDateTime> =
        rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let mut latencies: Vec<f64> = arrivals
        .iter()
        .filter_map(|(seq, at)| {
            recorded
                .get(seq)
                .map(|r| (*at - *r).as_seconds_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Ok(latencies)
}

/// CPU seconds (user + system) used so far by the processes with `pids`.
pub fn cpu_of(pids: &[u32]) -> f64 {
    let ticks_per_second = 100.0;
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .map(|stat| {
            // Fields after the command name, which is in parentheses.
            let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = after.split_whitespace().collect();
            let ticks = |i: usize| {
                fields
                    .get(i)
                    .and_then(|f| f.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            (ticks(11) + ticks(12)) / ticks_per_second
        })
        .sum()
}
