CREATE TABLE tenants (
    id          text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- The operator's tenant: what existed before tenants belongs to it.
INSERT INTO tenants (id, name) VALUES ('default', 'default');

ALTER TABLE api_tokens
    ADD COLUMN tenant_id text NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE databases
    ADD COLUMN tenant_id text NOT NULL DEFAULT 'default' REFERENCES tenants (id);
ALTER TABLE api_tokens ALTER COLUMN tenant_id DROP DEFAULT;
ALTER TABLE databases ALTER COLUMN tenant_id DROP DEFAULT;
CREATE INDEX databases_tenant ON databases (tenant_id, id);

CREATE TABLE audit_events (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    tenant_id    text NOT NULL,
    actor        text NOT NULL,
    action       text NOT NULL,
    database_id  text,
    detail       jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_tenant ON audit_events (tenant_id, id);
