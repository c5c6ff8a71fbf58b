CREATE TABLE dead_letters (
    id               bigserial PRIMARY KEY,
    subject          text NOT NULL,
    reason           text NOT NULL,
    crawl_id         text,
    stream_sequence  bigint,
    deliveries       integer NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_crawl ON dead_letters (crawl_id);
