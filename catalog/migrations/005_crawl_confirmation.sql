-- When an editor confirmed a crawl the fail-safe held: the indexer publishes a held crawl only
-- with this set, so a confirmation message alone (forged on the bus) publishes nothing.
ALTER TABLE crawls ADD COLUMN confirmed_at timestamptz;
