-- API keys (mirrors sqlite/0012). Only the SHA-256 of a key's secret is
-- kept, never the secret: the caller presents `wk_<id>_<secret>`, the
-- server finds the row by id and compares hashes. A revoked key keeps its
-- row (revoked_at set), so "no key was ever made" (which allows anonymous
-- loopback use) cannot come back by revoking.

CREATE TABLE api_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL,
    name        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, id);
