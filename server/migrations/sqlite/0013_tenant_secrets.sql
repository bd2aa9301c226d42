-- Secrets a tenant keeps for its steps' headers ({{ secrets.NAME }}),
-- managed through SecretService. `sealed` is the value encrypted with
-- XChaCha20-Poly1305 under the server's [secrets] key, bound to its
-- tenant and name; the plaintext is never written here.
CREATE TABLE tenant_secrets (
    tenant_id  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    sealed     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- The built-in executor claims webhook, http_request and script tasks of
-- every tenant by agent name; tasks_queued leads with the tenant.
CREATE INDEX tasks_queued_any_tenant ON tasks (agent, created_at) WHERE status = 'queued';
