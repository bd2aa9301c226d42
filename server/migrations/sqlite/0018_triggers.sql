-- Deployable webhook triggers (TriggerService, engine/triggers).
--
-- One row per workflow that was ever deployed. `webhook_id` names the
-- inbound URL (`/hooks/{webhook_id}`), unique across tenants because the
-- inbound call carries no tenant. `webhook_secret` is what a caller
-- presents or signs with; for a workflow whose graph has a webhook
-- trigger block it is a copy of the block's, refreshed on deploy and arm
-- (the block stays the truth). `armed_until` is the end of the one-call
-- window, cleared by the compare-and-set that claims it; `arm_sequence`
-- counts arms, so each window has its own run idempotency key.
-- `last_delivery` fingerprints the signed call that fired last, so its
-- repeat answers the same run.
CREATE TABLE workflow_triggers (
    tenant_id      TEXT    NOT NULL,
    workflow_id    TEXT    NOT NULL,
    webhook_id     TEXT    NOT NULL UNIQUE,
    webhook_secret TEXT    NOT NULL,
    deployed       INTEGER NOT NULL,
    deployed_at    INTEGER,
    armed_until    INTEGER,
    arm_sequence   INTEGER NOT NULL,
    last_fired_at  INTEGER,
    last_run_id    TEXT,
    last_delivery  TEXT,
    PRIMARY KEY (tenant_id, workflow_id)
) STRICT;
