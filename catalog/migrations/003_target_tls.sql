ALTER TABLE databases
    ADD COLUMN sslmode text NOT NULL DEFAULT 'prefer',
    ADD COLUMN ca_cert text;
