-- Every append to the event log tells the schedulers' watchers (LISTEN
-- upwatch_events) at its commit, so they read the log when it changed
-- instead of polling it. Per statement: a bulk append notifies once.
CREATE FUNCTION upwatch_notify_event_appended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('upwatch_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_appended
AFTER INSERT ON events
FOR EACH STATEMENT EXECUTE FUNCTION upwatch_notify_event_appended();
