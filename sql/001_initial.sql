-- voiceai_ivr initial schema. Every table is scoped by tenant domain
-- (FusionPBX is multi-domain). Applied by `voiceai-ivr db migrate` inside one
-- transaction; never edit this file once released: add a new NNN_name.sql.

CREATE TABLE domains (
    domain          text PRIMARY KEY CHECK (domain ~ '^[A-Za-z0-9.-]{1,253}$'),
    timezone        text NOT NULL DEFAULT 'America/Sao_Paulo',
    region          text NOT NULL DEFAULT 'BR',          -- default phone region
    hours           jsonb,                               -- {"mon-fri": ["08:00-12:00", ...]}
    holidays        jsonb,                               -- {"calendar": "BR", "dates": [...]}
    settings        jsonb NOT NULL DEFAULT '{}'::jsonb,  -- whatsapp / missed-call switches ...
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE secretaries (
    id                   bigserial PRIMARY KEY,
    domain               text NOT NULL REFERENCES domains(domain) ON DELETE CASCADE,
    name                 text NOT NULL,
    language             text NOT NULL DEFAULT 'pt-BR' CHECK (language IN ('pt-BR', 'en-US')),
    timezone             text,                            -- NULL: the domain's
    greeting             text,                            -- NULL: the prompt file's
    music_on_hold        text NOT NULL DEFAULT 'local_stream://moh',
    announce             boolean NOT NULL DEFAULT true,   -- announce the caller to the agent
    ring_timeout         integer NOT NULL DEFAULT 25 CHECK (ring_timeout BETWEEN 5 AND 300),
    fallback_destination text,                            -- destination name
    callback_enabled     boolean NOT NULL DEFAULT true,
    recording            boolean NOT NULL DEFAULT false,
    hours                jsonb,                           -- NULL: the domain's
    holidays             jsonb,                           -- NULL: the domain's
    settings             jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (domain, name)
);

CREATE TABLE secretary_dids (
    secretary_id  bigint NOT NULL REFERENCES secretaries(id) ON DELETE CASCADE,
    domain        text NOT NULL REFERENCES domains(domain) ON DELETE CASCADE,
    did           text NOT NULL CHECK (did ~ '^\+?[0-9]{2,20}$'),
    PRIMARY KEY (domain, did)
);
CREATE INDEX secretary_dids_secretary ON secretary_dids (secretary_id);

CREATE TABLE destinations (
    id              bigserial PRIMARY KEY,
    domain          text NOT NULL REFERENCES domains(domain) ON DELETE CASCADE,
    name            text NOT NULL,
    aliases         text[] NOT NULL DEFAULT '{}',
    type            text NOT NULL CHECK (type IN ('extension', 'ring_group', 'queue', 'external', 'voicemail')),
    target          text NOT NULL,
    gateway         text,                                 -- external only
    ring_timeout    integer CHECK (ring_timeout IS NULL OR ring_timeout BETWEEN 5 AND 300),
    priority        integer NOT NULL DEFAULT 0,
    enabled         boolean NOT NULL DEFAULT true,
    hours           jsonb,                                -- NULL: the secretary's/domain's
    fallback_action text,                                 -- callback | voicemail | destination:<name> | hangup
    menu_key        smallint CHECK (menu_key IS NULL OR menu_key BETWEEN 1 AND 9),
    settings        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (domain, name),
    CHECK (type <> 'external' OR (gateway IS NOT NULL AND gateway <> ''))
);
CREATE UNIQUE INDEX destinations_menu_key ON destinations (domain, menu_key) WHERE menu_key IS NOT NULL;

-- One row per call the IVR handled (the call log).
CREATE TABLE calls (
    id              bigserial PRIMARY KEY,
    call_uuid       text NOT NULL UNIQUE,
    domain          text NOT NULL,
    secretary_id    bigint REFERENCES secretaries(id) ON DELETE SET NULL,
    did             text,
    caller_number   text,
    caller_name     text,
    language        text,
    mode            text NOT NULL DEFAULT 'socket',       -- socket | python | sim
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    outcome         text,                                 -- transferred | callback_created | caller_hangup | ended | abandoned | error
    hangup_cause    text,
    intents         jsonb NOT NULL DEFAULT '[]'::jsonb,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX calls_domain_started ON calls (domain, started_at);

-- Every attempt to reach a person or department during a call.
CREATE TABLE transfer_attempts (
    id               bigserial PRIMARY KEY,
    call_uuid        text NOT NULL,
    domain           text NOT NULL,
    destination_id   bigint REFERENCES destinations(id) ON DELETE SET NULL,
    destination_name text NOT NULL,
    dial_string      text,
    agent_uuid       text,
    status           text NOT NULL,                       -- accepted | busy | no_answer | offline | rejected | ...
    hangup_cause     text,
    sip_status       text,
    wait_seconds     numeric(10, 3),
    started_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    details          jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX transfer_attempts_call ON transfer_attempts (call_uuid);
CREATE INDEX transfer_attempts_domain_started ON transfer_attempts (domain, started_at);

CREATE TABLE callbacks (
    id                bigserial PRIMARY KEY,
    public_id         uuid NOT NULL UNIQUE,
    domain            text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'in_progress', 'completed', 'failed', 'expired', 'cancelled')),
    number_e164       text NOT NULL CHECK (number_e164 ~ '^\+[1-9][0-9]{6,14}$'),
    caller_name       text,
    window_start      timestamptz NOT NULL,
    window_end        timestamptz NOT NULL,
    reason            text NOT NULL DEFAULT '',
    transcript        text NOT NULL DEFAULT '',
    category          text,
    language          text NOT NULL DEFAULT 'pt-BR',
    destination_id    bigint REFERENCES destinations(id) ON DELETE SET NULL,
    destination_name  text,
    agent_extension   text,                               -- responsible agent, when known
    call_uuid         text,                               -- the call that captured it
    recording_path    text,
    source            text NOT NULL DEFAULT 'ivr',        -- ivr | spool | api
    spool_id          uuid UNIQUE,                        -- set when replayed from the spool: replay is exactly-once
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3,
    next_attempt_at   timestamptz NOT NULL,
    lease_owner       text,
    lease_until       timestamptz,
    last_outcome      text,
    ticket_id         text,                               -- helpdesk ticket, once created
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    CHECK (window_end > window_start)
);
-- One open request per customer and domain: a second request updates the first.
CREATE UNIQUE INDEX callbacks_one_open_per_number ON callbacks (domain, number_e164)
    WHERE status IN ('pending', 'in_progress');
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status = 'pending';
CREATE INDEX callbacks_domain_created ON callbacks (domain, created_at);

CREATE TABLE callback_attempts (
    id               bigserial PRIMARY KEY,
    callback_id      bigint NOT NULL REFERENCES callbacks(id) ON DELETE CASCADE,
    attempt_no       integer NOT NULL,
    domain           text NOT NULL,
    dispatcher       text NOT NULL,                       -- host:pid that made it
    trigger          text NOT NULL DEFAULT 'cron',        -- cron | api
    agent_extension  text,
    agent_uuid       text,
    customer_uuid    text,
    outcome          text,                                -- NULL while in progress; completed | agent_unavailable | ...
    hangup_cause     text,
    sip_status       text,
    started_at       timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz,
    details          jsonb NOT NULL DEFAULT '{}'::jsonb,
    UNIQUE (callback_id, attempt_no)
);

-- Everything the helpdesk must hear about, written in the same transaction as
-- the fact it reports; delivered later with an idempotency key.
CREATE TABLE helpdesk_outbox (
    id               bigserial PRIMARY KEY,
    domain           text NOT NULL,
    kind             text NOT NULL,                       -- callback.created | callback.attempt | callback.result | transfer.completed | call.missed | whatsapp.send ...
    idempotency_key  text NOT NULL UNIQUE,
    callback_id      bigint REFERENCES callbacks(id) ON DELETE SET NULL,
    call_uuid        text,
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_error       text,
    response         jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX helpdesk_outbox_due ON helpdesk_outbox (next_attempt_at) WHERE status = 'pending';
