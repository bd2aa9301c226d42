-- Secrets the server makes for itself and must keep across restarts: the
-- webhook signing key when none is configured, so callback URLs and
-- receivers' checks stay valid after a restart. Written once, never
-- changed by the server.

CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
