-- Paused runs show what they wait for, and approvals are kept where a
-- worker and the approval API can read them (mirrors sqlite/0005). Both
-- are written by the run writer in the commit that opens or decides them.

ALTER TABLE runs ADD COLUMN pending_action TEXT;

CREATE TABLE approvals (
    id         TEXT COLLATE "C" PRIMARY KEY,
    tenant_id  TEXT COLLATE "C" NOT NULL,
    run_id     TEXT COLLATE "C" NOT NULL,
    step_key   TEXT COLLATE "C" NOT NULL,
    kind       TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    tool       TEXT   NOT NULL DEFAULT '',
    arguments  TEXT   NOT NULL DEFAULT 'null',
    message    TEXT   NOT NULL DEFAULT '',
    options    TEXT   NOT NULL DEFAULT '[]',
    status     TEXT   NOT NULL,
    decision   TEXT   NOT NULL DEFAULT '',
    option     TEXT   NOT NULL DEFAULT '',
    decided_by TEXT   NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    decided_at BIGINT
);

-- Listing approvals newest first, and dropping a run's with the run.
CREATE INDEX approvals_by_tenant ON approvals (tenant_id, created_at DESC, id DESC);
CREATE INDEX approvals_by_run ON approvals (run_id);
