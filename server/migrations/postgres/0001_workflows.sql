-- Workflow definitions and their immutable versions (mirrors sqlite/0001).
-- Timestamps are Unix milliseconds (BIGINT). Every integer is BIGINT so the
-- store reads one Rust type (i64) from both databases.
-- Documents the server reads back whole are TEXT, not JSONB: the server's
-- JSON keeps object key order (serde_json preserve_order), and JSONB would
-- reorder keys and drop duplicates, so a definition would not come back as
-- written. Tags are JSONB because a listing filters on them.
-- Ids and keys are COLLATE "C" so ordering and keyset paging compare bytes,
-- exactly as SQLite does, whatever the database's collation.
CREATE TABLE workflows (
    tenant_id      TEXT COLLATE "C" NOT NULL,
    id             TEXT COLLATE "C" NOT NULL,
    status         TEXT   NOT NULL,
    trigger_type   TEXT   NOT NULL,
    tags           JSONB  NOT NULL DEFAULT '[]',
    latest_version BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- Lists are newest first; this index matches their ORDER BY.
CREATE INDEX workflows_newest ON workflows (tenant_id, created_at DESC, id DESC);

CREATE TABLE workflow_versions (
    tenant_id      TEXT COLLATE "C" NOT NULL,
    workflow_id    TEXT COLLATE "C" NOT NULL,
    version        BIGINT NOT NULL,
    definition     TEXT   NOT NULL,
    change_summary TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, version),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, id) ON DELETE CASCADE
);

-- Client tokens of CreateWorkflow, so a retried create returns the first result.
CREATE TABLE workflow_create_requests (
    tenant_id   TEXT COLLATE "C" NOT NULL,
    request_id  TEXT COLLATE "C" NOT NULL,
    workflow_id TEXT COLLATE "C" NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, request_id)
);
