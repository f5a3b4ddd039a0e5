-- Probe results move to daily range partitions on scheduled_at, so retention
-- drops whole days. A job's scheduled_at is its tick, fixed by its id, so the
-- key (job_id, scheduled_at) is as unique as job_id alone was.
ALTER TABLE probe_results RENAME TO probe_results_unpartitioned;
ALTER INDEX probe_results_by_monitor RENAME TO probe_results_unpartitioned_by_monitor;
ALTER TABLE probe_results_unpartitioned
    RENAME CONSTRAINT probe_results_pkey TO probe_results_unpartitioned_pkey;

CREATE TABLE probe_results (
    job_id       UUID        NOT NULL,
    monitor_id   UUID        NOT NULL,
    scheduled_at TIMESTAMPTZ NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    checked_at   TIMESTAMPTZ NOT NULL,
    up           BOOLEAN     NOT NULL,
    http_status  INTEGER,
    latency_ms   INTEGER     NOT NULL CHECK (latency_ms >= 0),
    error        TEXT,
    worker       TEXT        NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (job_id, scheduled_at)
) PARTITION BY RANGE (scheduled_at);

CREATE INDEX probe_results_by_monitor
    ON probe_results (monitor_id, scheduled_at DESC, job_id DESC);

-- Catches days that have no partition yet; housekeeping moves them out.
CREATE TABLE probe_results_default PARTITION OF probe_results DEFAULT;

INSERT INTO probe_results SELECT * FROM probe_results_unpartitioned;
DROP TABLE probe_results_unpartitioned;

CREATE TRIGGER probe_results_no_update
    BEFORE UPDATE ON probe_results
    FOR EACH ROW EXECUTE FUNCTION probe_results_reject_update();
