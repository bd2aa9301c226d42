-- Runs and everything the run writer commits with them. Every table is
-- written by one multi-row statement per group commit (see ENGINE.md §3).

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT    NOT NULL,
    workflow_id      TEXT    NOT NULL,
    workflow_version INTEGER NOT NULL,
    user_id          TEXT    NOT NULL DEFAULT '',
    status           TEXT    NOT NULL,
    input            TEXT,
    output           TEXT,
    shared_state     TEXT,
    error            TEXT,
    cancel_reason    TEXT,
    can_retry_from   TEXT,
    cost_cents       INTEGER NOT NULL DEFAULT 0,
    trigger_label    TEXT    NOT NULL DEFAULT 'manual',
    idempotency_key  TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    completed_at     INTEGER
) STRICT;

CREATE INDEX runs_by_tenant ON runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX runs_by_workflow ON runs (tenant_id, workflow_id, created_at DESC, id DESC);
-- Recovery reads the runs that are not finished.
CREATE INDEX runs_open ON runs (status) WHERE status IN ('pending', 'running', 'paused');

CREATE TABLE run_steps (
    run_id       TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    step_id      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    parent_id    TEXT,
    item_index   INTEGER,
    status       TEXT    NOT NULL,
    attempts     INTEGER NOT NULL,
    output       TEXT,
    error        TEXT,
    cost_cents   INTEGER NOT NULL,
    started_at   INTEGER,
    completed_at INTEGER,
    PRIMARY KEY (run_id, key)
) STRICT, WITHOUT ROWID;

CREATE TABLE run_events (
    run_id     TEXT    NOT NULL,
    sequence   INTEGER NOT NULL,
    type       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, sequence)
) STRICT, WITHOUT ROWID;

-- Accepted commands in order: replaying them through `transition` from a
-- new RunState rebuilds the run exactly (recovery).
CREATE TABLE run_commands (
    run_id  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    command TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE timers (
    run_id   TEXT    NOT NULL,
    step_key TEXT    NOT NULL,
    tenant_id TEXT   NOT NULL,
    due_at   INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_key)
) STRICT, WITHOUT ROWID;

-- The durable outbox of DispatchTask effects: a row exists before any
-- worker can see the task.
CREATE TABLE tasks (
    run_id     TEXT    NOT NULL,
    step_key   TEXT    NOT NULL,
    tenant_id  TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    agent      TEXT,
    task       TEXT,
    input      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_key)
) STRICT, WITHOUT ROWID;

CREATE TABLE run_idempotency (
    tenant_id       TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    run_id          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
) STRICT, WITHOUT ROWID;
