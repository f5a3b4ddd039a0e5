-- Version drift: the version each result reported, and each monitor's drift.
ALTER TABLE probe_results ADD COLUMN observed_version TEXT;
ALTER TABLE monitors
    ADD COLUMN observed_version TEXT,
    ADD COLUMN drift BOOLEAN NOT NULL DEFAULT FALSE;
