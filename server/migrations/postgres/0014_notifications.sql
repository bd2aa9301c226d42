-- Notification webhooks (mirrors sqlite/0014; see there for why each
-- table is as it is). The outbox row is written by a trigger in the same
-- transaction as its run_events row.
CREATE TABLE notification_subscriptions (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL,
    url         TEXT   NOT NULL,
    event_types JSONB  NOT NULL,
    workflow_id TEXT COLLATE "C",
    description TEXT   NOT NULL,
    secret      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX notification_subscriptions_by_tenant ON notification_subscriptions (tenant_id, created_at, id);

CREATE TABLE notification_outbox (
    run_id      TEXT COLLATE "C" NOT NULL,
    sequence    BIGINT NOT NULL,
    tenant_id   TEXT COLLATE "C" NOT NULL,
    workflow_id TEXT COLLATE "C" NOT NULL,
    event_type  TEXT   NOT NULL,
    payload     TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (run_id, sequence)
);

CREATE FUNCTION notification_outbox_from_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO notification_outbox (run_id, sequence, tenant_id, workflow_id, event_type, payload, created_at)
    SELECT NEW.run_id, NEW.sequence, r.tenant_id, r.workflow_id, NEW.type, NEW.payload, NEW.created_at
    FROM runs r
    WHERE r.id = NEW.run_id
      AND EXISTS (SELECT 1 FROM notification_subscriptions s WHERE s.tenant_id = r.tenant_id)
    ON CONFLICT (run_id, sequence) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER notification_outbox_from_events AFTER INSERT ON run_events FOR EACH ROW
WHEN (NEW.type IN ('run.completed', 'run.failed', 'run.partial', 'approval.pending', 'step.cost_exceeded'))
EXECUTE FUNCTION notification_outbox_from_event();

CREATE TABLE notification_deliveries (
    id               TEXT COLLATE "C" PRIMARY KEY,
    tenant_id        TEXT COLLATE "C" NOT NULL,
    subscription_id  TEXT COLLATE "C" NOT NULL,
    run_id           TEXT COLLATE "C" NOT NULL,
    sequence         BIGINT NOT NULL,
    event_type       TEXT   NOT NULL,
    body             TEXT   NOT NULL,
    status           TEXT   NOT NULL,
    attempts         BIGINT NOT NULL,
    last_status_code BIGINT,
    last_error       TEXT,
    created_at       BIGINT NOT NULL,
    next_attempt_at  BIGINT,
    delivered_at     BIGINT,
    ended_at         BIGINT,
    lease_until      BIGINT,
    UNIQUE (subscription_id, run_id, sequence)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_by_tenant ON notification_deliveries (tenant_id, created_at DESC, id DESC);
CREATE INDEX notification_deliveries_ended ON notification_deliveries (ended_at) WHERE status <> 'pending';
