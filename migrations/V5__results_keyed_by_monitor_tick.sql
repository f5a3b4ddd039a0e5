-- A job's id is derived from (monitor, tick), so (monitor_id, scheduled_at)
-- identifies a result exactly as job_id does. One unique index on it now
-- serves both de-duplication and each monitor's newest-first history, where
-- every stored result used to write two (the random job_id key was the
-- costlier of the two).
ALTER TABLE probe_results DROP CONSTRAINT probe_results_pkey;
DROP INDEX probe_results_by_monitor;
ALTER TABLE probe_results ADD PRIMARY KEY (monitor_id, scheduled_at);

-- The folder rewrites a monitor's health with every result. Free room on
-- each page lets those rewrites stay on the page (HOT updates): no new index
-- entries, far less WAL. Applies to pages written from now on.
ALTER TABLE monitors SET (fillfactor = 50);
