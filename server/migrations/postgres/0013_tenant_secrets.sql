-- Secrets a tenant keeps for its steps' headers (mirrors sqlite/0013):
-- `sealed` is the value encrypted under the server's [secrets] key; the
-- plaintext is never written here.
CREATE TABLE tenant_secrets (
    tenant_id  TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    sealed     TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

-- The built-in executor claims tasks of every tenant by agent name.
CREATE INDEX tasks_queued_any_tenant ON tasks (agent, created_at) WHERE status = 'queued';
