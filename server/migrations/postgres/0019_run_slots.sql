-- Concurrent-run limit per workflow (mirrors sqlite/0019; see there). On
-- Postgres, admission takes a transaction-scoped advisory lock per
-- (tenant, workflow) before it counts slot rows, so two replicas admitting
-- runs of one workflow take turns.
CREATE TABLE run_queue (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      TEXT COLLATE "C" NOT NULL UNIQUE,
    tenant_id   TEXT COLLATE "C" NOT NULL,
    workflow_id TEXT COLLATE "C" NOT NULL,
    max_running BIGINT NOT NULL,
    queued_at   BIGINT NOT NULL
);
CREATE INDEX run_queue_by_workflow ON run_queue (tenant_id, workflow_id, seq);

CREATE TABLE run_slots (
    run_id      TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL,
    workflow_id TEXT COLLATE "C" NOT NULL,
    taken_at    BIGINT NOT NULL
);
CREATE INDEX run_slots_by_workflow ON run_slots (tenant_id, workflow_id);

DROP INDEX runs_open;
CREATE INDEX runs_open ON runs (status) WHERE status IN ('queued', 'pending', 'running', 'paused');
