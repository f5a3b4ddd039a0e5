-- Every batch updates the roll-up row of each monitor it folds: room on the
-- page lets PostgreSQL update it in place (a HOT update, no index entry).
-- The histograms are now added inline by the upsert.
ALTER TABLE result_rollups SET (fillfactor = 50);
DROP FUNCTION upwatch_add_histograms(INTEGER[], INTEGER[]);
