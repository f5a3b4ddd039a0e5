-- A monitor's check as one value, whatever its kind (domain::check::Check as
-- JSON, tagged by `kind`), instead of one column per HTTP field: a new kind
-- of check needs no new columns.
ALTER TABLE monitors ADD COLUMN check_config JSONB;
UPDATE monitors SET check_config = jsonb_build_object(
    'kind', 'http',
    'url', url,
    'method', method,
    'expected_status', to_jsonb(expected_status));
ALTER TABLE monitors ALTER COLUMN check_config SET NOT NULL;
ALTER TABLE monitors DROP COLUMN url, DROP COLUMN method, DROP COLUMN expected_status;
