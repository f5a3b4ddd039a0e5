-- The folder's state per monitor, persisted with each batch so a restart
-- resumes the consecutive counts where they were.
ALTER TABLE monitors
    ADD COLUMN consecutive_successes INTEGER NOT NULL DEFAULT 0
        CHECK (consecutive_successes >= 0),
    ADD COLUMN consecutive_failures  INTEGER NOT NULL DEFAULT 0
        CHECK (consecutive_failures >= 0),
    -- The newest tick folded: older results are stored but drive nothing.
    ADD COLUMN newest_folded_at      TIMESTAMPTZ;
