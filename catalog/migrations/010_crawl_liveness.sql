-- No crawl waits forever, and a lost index is noticed (docs/reliability.md):
-- a crawl whose batches are all done is 'finishing' until it is published or held;
-- a crawl requested while another was already planned waits for it (queued_after), so it is
-- planned after the request; progressed_at is when a crawl last moved on, for the stall sweeper;
-- index_lost_at marks a database whose live documents went missing from the search index.
ALTER TABLE crawls
    ADD COLUMN queued_after text,
    ADD COLUMN progressed_at timestamptz;
CREATE INDEX crawls_queued_after ON crawls (queued_after) WHERE queued_after IS NOT NULL;
DROP INDEX crawls_active;
CREATE INDEX crawls_active ON crawls (database_id) WHERE state IN ('queued', 'running', 'finishing');
ALTER TABLE databases ADD COLUMN index_lost_at timestamptz;
