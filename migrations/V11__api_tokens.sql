-- API tokens: only the SHA-256 of each secret is kept. A revoked token stays
-- (its name is in the event log as an actor) but no longer authenticates.
CREATE TABLE tokens (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
    hash BYTEA NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);

-- One live token per name: the name is the actor its changes are recorded under.
CREATE UNIQUE INDEX tokens_live_name_unique ON tokens (lower(name)) WHERE revoked_at IS NULL;
