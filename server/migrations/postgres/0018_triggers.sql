-- Deployable webhook triggers (mirrors sqlite/0018; see there for why
-- each column is as it is).
CREATE TABLE workflow_triggers (
    tenant_id      TEXT COLLATE "C" NOT NULL,
    workflow_id    TEXT COLLATE "C" NOT NULL,
    webhook_id     TEXT COLLATE "C" NOT NULL UNIQUE,
    webhook_secret TEXT   NOT NULL,
    deployed       BIGINT NOT NULL,
    deployed_at    BIGINT,
    armed_until    BIGINT,
    arm_sequence   BIGINT NOT NULL,
    last_fired_at  BIGINT,
    last_run_id    TEXT COLLATE "C",
    last_delivery  TEXT,
    PRIMARY KEY (tenant_id, workflow_id)
);
