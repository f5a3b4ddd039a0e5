-- Probe results, append-only: one row per job, a duplicate job id is a no-op.
CREATE TABLE probe_results (
    job_id       UUID PRIMARY KEY,
    monitor_id   UUID        NOT NULL,
    scheduled_at TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    checked_at   TIMESTAMPTZ NOT NULL,
    up           BOOLEAN     NOT NULL,
    http_status  INTEGER,
    latency_ms   INTEGER     NOT NULL CHECK (latency_ms >= 0),
    error        TEXT,
    worker       TEXT        NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

-- Newest first per monitor, with the job id as tie-breaker for paging.
CREATE INDEX probe_results_by_monitor
    ON probe_results (monitor_id, scheduled_at DESC, job_id DESC);

CREATE FUNCTION probe_results_reject_update() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'probe results are append-only: UPDATE is not allowed'
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER probe_results_no_update
    BEFORE UPDATE ON probe_results
    FOR EACH ROW EXECUTE FUNCTION probe_results_reject_update();
