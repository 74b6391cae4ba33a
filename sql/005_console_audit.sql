-- The admin console (voiceai_ivr/console, issue 21).
-- Every change made through the console: who (how they logged in and from
-- where; never a secret), when, what (the target and a before/after document).
CREATE TABLE console_audit (
    id          bigserial PRIMARY KEY,
    domain      text NOT NULL,
    actor       text NOT NULL,                          -- e.g. "password@192.0.2.7", "token:1a2b3c4d@192.0.2.7"
    action      text NOT NULL,                          -- destination.update | password.set ...
    target      text NOT NULL DEFAULT '',               -- e.g. the destination's name
    changes     jsonb NOT NULL DEFAULT '{}'::jsonb,     -- {"field": {"from": ..., "to": ...}}
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_audit_domain_created ON console_audit (domain, created_at);

-- A domain's console password (``voiceai-ivr console passwd --domain D``),
-- stored as a salted scrypt hash only.
CREATE TABLE console_passwords (
    domain         text PRIMARY KEY,
    password_hash  text NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The console's callbacks list pages by keyset (created_at, id) newest first;
-- callbacks_domain_created serves the unfiltered list. Filtered by a status or a
-- destination with few rows, that index alone reads the whole domain to fill a
-- page (benchmarks/console_bench.py: 15-17 ms median at 100,000 rows, growing
-- with the table):
-- these two keep such a page at a few rows read.
CREATE INDEX callbacks_domain_status_created ON callbacks (domain, status, created_at DESC, id DESC);
CREATE INDEX callbacks_domain_destination_created ON callbacks (domain, destination_name, created_at DESC, id DESC);
-- The dashboard counts the callbacks closed (completed, expired, ...) in a period.
CREATE INDEX callbacks_domain_completed ON callbacks (domain, completed_at) WHERE completed_at IS NOT NULL;
