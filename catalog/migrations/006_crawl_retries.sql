-- A crawl whose message failed and waits for its next attempt says so, instead of sitting in
-- `queued` with no error until the attempts run out.
ALTER TABLE crawls
    ADD COLUMN retry_attempts int NOT NULL DEFAULT 0,
    ADD COLUMN retry_error_class text,
    ADD COLUMN retry_at timestamptz;
