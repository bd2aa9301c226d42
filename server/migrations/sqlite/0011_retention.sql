-- Retention: finished runs are deleted in the background once they are
-- older than the server's `[runs] retention`, or their workflow's own
-- `policy.retention` (kept on the run, in ms, when the run starts; NULL
-- means the server's). Each rule has an index that reads the oldest
-- finished runs first, so a deletion batch is an index range scan.

ALTER TABLE runs ADD COLUMN retention_ms INTEGER;

CREATE INDEX runs_expiring ON runs (completed_at)
    WHERE retention_ms IS NULL AND status IN ('completed', 'failed', 'partial', 'cancelled');
CREATE INDEX runs_expiring_own ON runs (completed_at + retention_ms)
    WHERE retention_ms IS NOT NULL AND status IN ('completed', 'failed', 'partial', 'cancelled');

-- Runs retention deleted, so that reading one says why it is gone rather
-- than a bare "not found". Pruned after a week.
CREATE TABLE run_tombstones (
    run_id     TEXT    PRIMARY KEY,
    tenant_id  TEXT    NOT NULL,
    deleted_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX run_tombstones_by_age ON run_tombstones (deleted_at);

-- Idempotency keys and create request ids expire after 24 h; these find
-- the expired ones.
CREATE INDEX run_idempotency_by_age ON run_idempotency (created_at);
CREATE INDEX workflow_create_requests_by_age ON workflow_create_requests (created_at);
