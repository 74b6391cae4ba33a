-- Console sessions that survive a restart and are shared by every API process
-- of the installation (issue 21).
-- The key that signs session cookies and CSRF tokens: one row, made by the
-- first console that starts (32 random bytes from Python's secrets module,
-- INSERT ... ON CONFLICT DO NOTHING, so concurrent first starts agree) and read
-- by every console at start.
CREATE TABLE console_keys (
    id          smallint PRIMARY KEY CHECK (id = 1),
    signing_key bytea NOT NULL CHECK (length(signing_key) >= 32),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per open session: a cookie is accepted only while its row exists and
-- has not expired. Logging out deletes the row, so every process refuses the
-- cookie from then on; expired rows are deleted when someone logs in.
CREATE TABLE console_sessions (
    sid         text PRIMARY KEY,
    domain      text NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
