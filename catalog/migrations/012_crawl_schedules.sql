-- Scheduled crawls: a database may be crawled every crawl_interval seconds; next_crawl_at is when
-- the next one is due (any indexer's watch starts it, once: FOR UPDATE SKIP LOCKED).
ALTER TABLE databases
    ADD COLUMN crawl_interval integer,
    ADD COLUMN next_crawl_at timestamptz;
CREATE INDEX databases_due ON databases (next_crawl_at) WHERE next_crawl_at IS NOT NULL;
