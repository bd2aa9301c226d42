-- Secrets the server makes for itself and must keep across restarts, such
-- as the webhook signing key when none is configured (mirrors sqlite/0007).
-- Written once, never changed by the server.

CREATE TABLE server_secrets (
    name       TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
