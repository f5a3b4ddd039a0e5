-- Notification channels (a projection of their events, aggregate type
-- `channel`) and the deliveries outbox: one row per notification owed to one
-- channel, written in the same transaction as the event that owes it.
CREATE TABLE channels (
    id                   UUID PRIMARY KEY,
    name                 TEXT NOT NULL,
    kind                 TEXT NOT NULL,
    url                  TEXT,
    -- Write-only values: never in an event, never in a response.
    secret               TEXT,
    routing_key          TEXT,
    email_to             TEXT[] NOT NULL DEFAULT '{}',
    on_kinds             TEXT[] NOT NULL,
    match_tags           TEXT[] NOT NULL DEFAULT '{}',
    remind_every_minutes INTEGER,
    deleted              BOOLEAN NOT NULL DEFAULT FALSE,
    version              BIGINT NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX channels_name_unique ON channels (lower(name)) WHERE NOT deleted;

CREATE TABLE deliveries (
    id              UUID PRIMARY KEY,
    channel_id      UUID NOT NULL REFERENCES channels (id),
    monitor_id      UUID,
    -- The event that owes it (a reminder: the transition to down it recalls).
    event_seq       BIGINT,
    kind            TEXT NOT NULL,
    -- Reminders only: which period of the outage this one is (1, 2, ...).
    reminder_number INTEGER,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    -- While pending: when it may next be claimed. A claim moves it past the
    -- longest attempt, so a notifier that dies mid-send leaves it to another.
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One delivery per event per channel, one per reminder period.
CREATE UNIQUE INDEX deliveries_once ON deliveries (channel_id, event_seq, kind, COALESCE(reminder_number, 0))
    WHERE event_seq IS NOT NULL;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_of_channel ON deliveries (channel_id, created_at DESC, id DESC);
CREATE INDEX deliveries_of_monitor ON deliveries (monitor_id, created_at DESC, id DESC)
    WHERE monitor_id IS NOT NULL;
