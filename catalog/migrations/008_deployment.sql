-- This deployment's id: it keeps the broker's deduplication ids of two deployments that share
-- one NATS apart (each store numbers its outbox from 1).
CREATE TABLE deployment (
    id text PRIMARY KEY
);
INSERT INTO deployment (id) VALUES ('dep_' || replace(gen_random_uuid()::text, '-', ''));
