-- Concurrent-run limit per workflow (engine/concurrency.rs).
--
-- run_queue: runs accepted over their workflow's limit, in arrival order
-- (seq), written in the commit that creates the run Queued.
-- run_slots: the runs that hold one of their workflow's slots, written in
-- the transaction that grants it and deleted in the commit that ends the
-- run. Admission counts slot rows under the database's write lock, so it
-- holds whichever replica admits.
CREATE TABLE run_queue (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT    NOT NULL UNIQUE,
    tenant_id   TEXT    NOT NULL,
    workflow_id TEXT    NOT NULL,
    -- The limit the run was queued under (its workflow version's, or the
    -- server's default then).
    max_running INTEGER NOT NULL,
    queued_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX run_queue_by_workflow ON run_queue (tenant_id, workflow_id, seq);

CREATE TABLE run_slots (
    run_id      TEXT    PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    workflow_id TEXT    NOT NULL,
    taken_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX run_slots_by_workflow ON run_slots (tenant_id, workflow_id);

-- Queued runs are open: recovery loads them.
DROP INDEX runs_open;
CREATE INDEX runs_open ON runs (status) WHERE status IN ('queued', 'pending', 'running', 'paused');
