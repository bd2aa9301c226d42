-- API keys. Only the SHA-256 of a key's secret is kept, never the secret:
-- the caller presents `wk_<id>_<secret>`, the server finds the row by id and
-- compares hashes. A revoked key keeps its row (revoked_at set), so an
-- audit can still say which key did what, and so "no key was ever made"
-- (which allows anonymous loopback use) cannot come back by revoking.

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, id);
