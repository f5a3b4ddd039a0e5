-- The event log records changes to more than monitors (channels and tokens
-- come next), each with the schema version of its data and who made it.
ALTER TABLE events RENAME COLUMN monitor_id TO aggregate_id;
ALTER TABLE events RENAME COLUMN monitor_seq TO aggregate_seq;
ALTER TABLE events RENAME CONSTRAINT events_monitor_seq_unique TO events_aggregate_seq_unique;
ALTER TABLE events
    ADD COLUMN aggregate_type TEXT NOT NULL DEFAULT 'monitor',
    ADD COLUMN schema_version SMALLINT NOT NULL DEFAULT 1,
    ADD COLUMN actor TEXT;

-- Existing events were recorded before actors: the API's commands were
-- anonymous (no authentication), status changes the pipeline's. The log is
-- append-only; this one-time backfill of the new column is the exception.
ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete;
UPDATE events SET actor = CASE WHEN type = 'status_changed' THEN 'system' ELSE 'anonymous' END;
ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete;

ALTER TABLE events
    ALTER COLUMN actor SET NOT NULL,
    ALTER COLUMN aggregate_type DROP DEFAULT,
    ALTER COLUMN schema_version DROP DEFAULT;
