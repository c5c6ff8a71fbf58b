-- A crawl's changes are read by crawl: to describe them, and to count them for its history.
CREATE INDEX schema_changes_crawl ON schema_changes (crawl_id);
