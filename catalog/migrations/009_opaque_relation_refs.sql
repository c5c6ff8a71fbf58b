-- Relation refs are opaque strings each engine's crawler chooses (an OID in PostgreSQL,
-- `schema.table` in MySQL); stored plans keep their OIDs, as text.
ALTER TABLE crawl_batches ALTER COLUMN refs TYPE text[] USING refs::text[];
