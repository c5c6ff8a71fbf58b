-- Each crawl's relations with their fingerprints (kept for the live crawl and those running), and
-- the changes each completed crawl found against the crawl before it (the change history).
CREATE TABLE crawl_relations (
    crawl_id     text NOT NULL REFERENCES crawls (id) ON DELETE CASCADE,
    ref          text NOT NULL,
    schema_name  text NOT NULL,
    name         text NOT NULL,
    fingerprint  text,  -- NULL: not computed (a first crawl has nothing to compare with)
    PRIMARY KEY (crawl_id, ref)
);

CREATE TABLE schema_changes (
    id           bigserial PRIMARY KEY,
    database_id  text NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
    crawl_id     text NOT NULL,
    generation   bigint NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now(),
    kind         text NOT NULL,  -- added | dropped | renamed | altered
    schema_name  text NOT NULL,
    name         text NOT NULL,
    old_schema   text,
    old_name     text,
    old_generation bigint NOT NULL,  -- the crawl it was found against
    detail       jsonb  -- altered and renamed: what differs, column by column (catalog.schema_diff)
);
CREATE INDEX schema_changes_database ON schema_changes (database_id, id);
CREATE INDEX schema_changes_age ON schema_changes (changed_at);
