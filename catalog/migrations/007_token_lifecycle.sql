-- Tokens get ids (audit and rate limits name a token by its id, never by a name two may share),
-- an optional expiry, and a mark for the bootstrap admin token, which a new one replaces.
ALTER TABLE api_tokens
    ADD COLUMN id text,
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN bootstrap boolean NOT NULL DEFAULT false;
UPDATE api_tokens SET id = 'tok_' || substr(encode(token_hash, 'hex'), 1, 32);
ALTER TABLE api_tokens ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX api_tokens_id ON api_tokens (id);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id, id);
-- Before this, the bootstrap token was the operator's admin token named "admin".
UPDATE api_tokens SET bootstrap = true
    WHERE name = 'admin' AND role = 'admin' AND tenant_id = 'default';
