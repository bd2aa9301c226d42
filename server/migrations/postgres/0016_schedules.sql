-- Cron schedules (mirrors sqlite/0016; see there for what each column
-- means and why `next_fire_at` moves by compare-and-set).
CREATE TABLE schedules (
    id              TEXT COLLATE "C" PRIMARY KEY,
    tenant_id       TEXT COLLATE "C" NOT NULL,
    workflow_id     TEXT COLLATE "C" NOT NULL,
    cron_expression TEXT   NOT NULL,
    timezone        TEXT   NOT NULL,
    input_data      TEXT,
    enabled         BIGINT NOT NULL,
    overlap         TEXT   NOT NULL,
    catch_up        TEXT   NOT NULL,
    version         BIGINT NOT NULL,
    user_id         TEXT   NOT NULL,
    next_fire_at    BIGINT,
    buffered_at     BIGINT,
    last_fire_at    BIGINT,
    last_run_id     TEXT COLLATE "C",
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX schedules_by_workflow ON schedules (tenant_id, workflow_id, created_at, id);
CREATE INDEX schedules_by_due ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX schedules_buffered ON schedules (buffered_at) WHERE buffered_at IS NOT NULL;

ALTER TABLE runs ADD COLUMN schedule_id TEXT COLLATE "C";
ALTER TABLE runs ADD COLUMN scheduled_at BIGINT;
CREATE INDEX runs_by_schedule ON runs (tenant_id, schedule_id, created_at DESC, id DESC) WHERE schedule_id IS NOT NULL;
