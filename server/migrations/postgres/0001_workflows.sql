-- Workflow definitions and their immutable versions.
-- Timestamps are Unix milliseconds; JSON columns hold serialized documents.
CREATE TABLE workflows (
    tenant_id      TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    trigger_type   TEXT    NOT NULL,
    tags           JSONB   NOT NULL DEFAULT '[]',
    latest_version INTEGER NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Lists are newest first; this index matches their ORDER BY.
CREATE INDEX workflows_newest ON workflows (tenant_id, created_at DESC, id DESC);

CREATE TABLE workflow_versions (
    tenant_id      TEXT    NOT NULL,
    workflow_id    TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    definition     JSONB   NOT NULL,
    change_summary TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, version),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, id) ON DELETE CASCADE
);

-- Client tokens of CreateWorkflow, so a retried create returns the first result.
CREATE TABLE workflow_create_requests (
    tenant_id   TEXT    NOT NULL,
    request_id  TEXT    NOT NULL,
    workflow_id TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, request_id)
);
