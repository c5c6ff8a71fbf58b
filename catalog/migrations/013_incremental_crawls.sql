-- Incremental crawls: a crawl reads only the relations whose fingerprints changed and keeps the
-- documents of the rest. Each relation keeps its ordinal (its place among the database's
-- tables, spaced so new ones fit between), its column count and the generation that wrote its
-- documents; readers see the documents written since the last full crawl (the base).
ALTER TABLE crawls
    ADD COLUMN full_crawl boolean NOT NULL DEFAULT false,
    ADD COLUMN base_generation bigint,
    ADD COLUMN planned_on bigint,
    ADD COLUMN superseded text[];  -- incremental: the planned_on relations it does not keep
-- Every crawl so far was full.
UPDATE crawls SET base_generation = generation WHERE started_at IS NOT NULL;

ALTER TABLE databases ADD COLUMN live_base bigint;
UPDATE databases SET live_base = live_generation;

-- NULL for relations recorded before this migration: the next crawl of their database is full.
-- Each crawl records every relation, 100,000 rows at that size, most copied from the live
-- crawl; checking each row's crawl against crawls was 40% of that copy. Crawls are only deleted
-- with their database, which deletes their relations first.
ALTER TABLE crawl_relations DROP CONSTRAINT crawl_relations_crawl_id_fkey;
ALTER TABLE crawl_relations
    ADD COLUMN ordinal bigint,
    ADD COLUMN columns integer,
    ADD COLUMN written_in bigint;

-- A relation a crawl read has its column count with its batch (read_refs, read_columns), and
-- that crawl's generation wrote its documents; one a crawl kept has both on its own row.
ALTER TABLE crawl_batches
    ADD COLUMN ordinals bigint[],
    ADD COLUMN read_refs text[],
    ADD COLUMN read_columns integer[];
UPDATE crawl_batches SET ordinals = ARRAY(
    SELECT first_ordinal + i FROM generate_series(0, cardinality(refs) - 1) AS i);
ALTER TABLE crawl_batches ALTER COLUMN ordinals SET NOT NULL, DROP COLUMN first_ordinal;
