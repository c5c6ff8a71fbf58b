CREATE TABLE api_tokens (
    token_hash  bytea PRIMARY KEY,
    name        text NOT NULL,
    role        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE databases (
    id                   text PRIMARY KEY,
    name                 text NOT NULL,
    engine               text NOT NULL,
    host                 text NOT NULL,
    port                 integer NOT NULL,
    dbname               text NOT NULL,
    username             text NOT NULL,
    password_key_id      text NOT NULL,
    password_ciphertext  bytea NOT NULL,
    live_generation      bigint,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE crawls (
    id             text PRIMARY KEY,
    database_id    text NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
    generation     bigint NOT NULL,
    state          text NOT NULL,
    requested_at   timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz,
    batches_total  integer,
    batches_done   integer NOT NULL DEFAULT 0,
    tables         bigint NOT NULL DEFAULT 0,
    columns        bigint NOT NULL DEFAULT 0,
    error_class    text,
    error_message  text,
    UNIQUE (database_id, generation)
);
CREATE INDEX crawls_active ON crawls (database_id) WHERE state IN ('queued', 'running');

CREATE TABLE crawl_batches (
    crawl_id       text NOT NULL REFERENCES crawls (id) ON DELETE CASCADE,
    number         integer NOT NULL,
    first_ordinal  bigint NOT NULL,
    refs           bigint[] NOT NULL,
    done           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (crawl_id, number)
);

CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    subject     text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
