-- Hourly roll-ups of the probe results, kept beyond the results' retention:
-- per monitor and hour, how many checks, how many failed, and the latency
-- distribution in fixed buckets (domain/rollup.rs), enough for p50/p95.
-- Written by the folder in the same transaction as the results it counts.
CREATE TABLE result_rollups (
    monitor_id    UUID        NOT NULL,
    hour          TIMESTAMPTZ NOT NULL,
    checks        INTEGER     NOT NULL,
    failed_checks INTEGER     NOT NULL,
    latency_hist  INTEGER[]   NOT NULL,
    PRIMARY KEY (monitor_id, hour)
);

-- Adds two histograms bucket by bucket.
CREATE FUNCTION upwatch_add_histograms(a INTEGER[], b INTEGER[]) RETURNS INTEGER[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT array_agg(COALESCE(x, 0) + COALESCE(y, 0) ORDER BY i)
    FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;

-- Uptime reads a monitor's events in a time window.
CREATE INDEX events_by_aggregate_time ON events (aggregate_id, recorded_at);
