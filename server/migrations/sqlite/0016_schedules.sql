-- Cron schedules (ScheduleService, engine/schedules).
--
-- `next_fire_at` is the durable timer: the tick the schedule fires next,
-- ms since the epoch, NULL while disabled. A fire starts its run with the
-- idempotency key `<id>:<tick>` and then moves `next_fire_at` on with a
-- compare-and-set on the old value, so a crash between the two, or two
-- replicas racing, start one run per tick. `buffered_at` is the tick a
-- BUFFER_ONE schedule holds back while its previous run is unfinished.
-- Enums are stored by name ('skip', 'allow', 'buffer_one'; 'once',
-- 'none'); `enabled` is 0 or 1.
CREATE TABLE schedules (
    id              TEXT    PRIMARY KEY,
    tenant_id       TEXT    NOT NULL,
    workflow_id     TEXT    NOT NULL,
    cron_expression TEXT    NOT NULL,
    timezone        TEXT    NOT NULL,
    input_data      TEXT,
    enabled         INTEGER NOT NULL,
    overlap         TEXT    NOT NULL,
    catch_up        TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    user_id         TEXT    NOT NULL,
    next_fire_at    INTEGER,
    buffered_at     INTEGER,
    last_fire_at    INTEGER,
    last_run_id     TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX schedules_by_workflow ON schedules (tenant_id, workflow_id, created_at, id);
CREATE INDEX schedules_by_due ON schedules (next_fire_at) WHERE next_fire_at IS NOT NULL;
CREATE INDEX schedules_buffered ON schedules (buffered_at) WHERE buffered_at IS NOT NULL;

-- Runs a schedule started: which schedule, and the tick the run stands
-- for (after downtime, the latest missed tick). NULL for other runs.
ALTER TABLE runs ADD COLUMN schedule_id TEXT;
ALTER TABLE runs ADD COLUMN scheduled_at INTEGER;
CREATE INDEX runs_by_schedule ON runs (tenant_id, schedule_id, created_at DESC, id DESC) WHERE schedule_id IS NOT NULL;
