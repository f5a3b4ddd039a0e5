-- The append-only event log: the source of truth for every monitor.
CREATE TABLE events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor_id  UUID        NOT NULL,
    monitor_seq BIGINT      NOT NULL CHECK (monitor_seq > 0),
    type        TEXT        NOT NULL,
    data        JSONB       NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    -- Optimistic concurrency: two writers of the same next event cannot both win.
    CONSTRAINT events_monitor_seq_unique UNIQUE (monitor_id, monitor_seq)
);

CREATE FUNCTION events_reject_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on events is not allowed', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_reject_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();

-- The monitors projection: the state the events give, updated in the same
-- transaction as each append; it can be rebuilt by replaying the log.
CREATE TABLE monitors (
    id                 UUID PRIMARY KEY,
    name               TEXT        NOT NULL,
    url                TEXT        NOT NULL,
    method             TEXT        NOT NULL,
    interval_seconds   INTEGER     NOT NULL,
    timeout_ms         INTEGER     NOT NULL,
    expected_status    INTEGER[],
    failure_threshold  INTEGER     NOT NULL,
    recovery_threshold INTEGER     NOT NULL,
    tags               TEXT[]      NOT NULL DEFAULT '{}',
    paused             BOOLEAN     NOT NULL DEFAULT false,
    deleted            BOOLEAN     NOT NULL DEFAULT false,
    version            BIGINT      NOT NULL,
    status             TEXT        NOT NULL DEFAULT 'unknown'
                       CHECK (status IN ('unknown', 'up', 'down')),
    status_since       TIMESTAMPTZ,
    last_checked_at    TIMESTAMPTZ,
    last_latency_ms    INTEGER,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

-- Names are unique among live monitors, case-insensitively; a deleted
-- monitor's name can be taken again.
CREATE UNIQUE INDEX monitors_name_unique ON monitors (lower(name)) WHERE NOT deleted;
CREATE INDEX monitors_tags ON monitors USING GIN (tags) WHERE NOT deleted;
