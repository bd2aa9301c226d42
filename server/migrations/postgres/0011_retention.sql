-- Retention (mirrors sqlite/0010): finished runs are deleted in the
-- background once older than the server's `[runs] retention`, or their
-- workflow's own `policy.retention` (kept on the run in ms; NULL means the
-- server's). Each rule has an index reading the oldest finished runs first.

ALTER TABLE runs ADD COLUMN retention_ms BIGINT;

CREATE INDEX runs_expiring ON runs (completed_at)
    WHERE retention_ms IS NULL AND status IN ('completed', 'failed', 'partial', 'cancelled');
CREATE INDEX runs_expiring_own ON runs ((completed_at + retention_ms))
    WHERE retention_ms IS NOT NULL AND status IN ('completed', 'failed', 'partial', 'cancelled');

-- Runs retention deleted, so that reading one says why it is gone. Pruned
-- after a week.
CREATE TABLE run_tombstones (
    run_id     TEXT COLLATE "C" PRIMARY KEY,
    tenant_id  TEXT COLLATE "C" NOT NULL,
    deleted_at BIGINT NOT NULL
);
CREATE INDEX run_tombstones_by_age ON run_tombstones (deleted_at);

-- Idempotency keys and create request ids expire after 24 h.
CREATE INDEX run_idempotency_by_age ON run_idempotency (created_at);
CREATE INDEX workflow_create_requests_by_age ON workflow_create_requests (created_at);
