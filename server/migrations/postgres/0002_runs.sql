-- Runs and everything the run writer commits with them (mirrors
-- sqlite/0002). Each table is written by one UNNEST statement per group
-- commit. JSON documents are TEXT, read back byte for byte (see 0001).

CREATE TABLE runs (
    id               TEXT COLLATE "C" PRIMARY KEY,
    tenant_id        TEXT COLLATE "C" NOT NULL,
    workflow_id      TEXT COLLATE "C" NOT NULL,
    workflow_version BIGINT NOT NULL,
    user_id          TEXT   NOT NULL DEFAULT '',
    status           TEXT   NOT NULL,
    input            TEXT,
    output           TEXT,
    shared_state     TEXT,
    error            TEXT,
    cancel_reason    TEXT,
    can_retry_from   TEXT,
    cost_cents       BIGINT NOT NULL DEFAULT 0,
    trigger_label    TEXT   NOT NULL DEFAULT 'manual',
    idempotency_key  TEXT   NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    started_at       BIGINT,
    completed_at     BIGINT
);

CREATE INDEX runs_by_tenant ON runs (tenant_id, created_at DESC, id DESC);
CREATE INDEX runs_by_workflow ON runs (tenant_id, workflow_id, created_at DESC, id DESC);
-- Recovery reads the runs that are not finished.
CREATE INDEX runs_open ON runs (status) WHERE status IN ('pending', 'running', 'paused');

CREATE TABLE run_steps (
    run_id       TEXT COLLATE "C" NOT NULL,
    key          TEXT COLLATE "C" NOT NULL,
    position     BIGINT NOT NULL,
    step_id      TEXT   NOT NULL,
    kind         TEXT   NOT NULL,
    parent_id    TEXT,
    item_index   BIGINT,
    status       TEXT   NOT NULL,
    attempts     BIGINT NOT NULL,
    output       TEXT,
    error        TEXT,
    cost_cents   BIGINT NOT NULL,
    started_at   BIGINT,
    completed_at BIGINT,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE run_events (
    run_id     TEXT COLLATE "C" NOT NULL,
    sequence   BIGINT NOT NULL,
    type       TEXT   NOT NULL,
    payload    TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, sequence)
);

-- Accepted commands in order: replaying them through `transition` from a
-- new RunState rebuilds the run exactly (recovery).
CREATE TABLE run_commands (
    run_id  TEXT COLLATE "C" NOT NULL,
    seq     BIGINT NOT NULL,
    command TEXT   NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE timers (
    run_id    TEXT COLLATE "C" NOT NULL,
    step_key  TEXT COLLATE "C" NOT NULL,
    tenant_id TEXT COLLATE "C" NOT NULL,
    due_at    BIGINT NOT NULL,
    PRIMARY KEY (run_id, step_key)
);

-- The durable outbox of DispatchTask effects: a row exists before any
-- worker can see the task.
CREATE TABLE tasks (
    run_id     TEXT COLLATE "C" NOT NULL,
    step_key   TEXT COLLATE "C" NOT NULL,
    tenant_id  TEXT COLLATE "C" NOT NULL,
    attempt    BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    agent      TEXT,
    task       TEXT,
    input      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, step_key)
);

CREATE TABLE run_idempotency (
    tenant_id       TEXT COLLATE "C" NOT NULL,
    idempotency_key TEXT COLLATE "C" NOT NULL,
    run_id          TEXT COLLATE "C" NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, idempotency_key)
);
