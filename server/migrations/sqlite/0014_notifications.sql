-- Notification webhooks (NotificationService, engine/notify).
--
-- Subscriptions of a tenant: where to POST which events. `secret` signs
-- the deliveries (HMAC-SHA256, like webhook steps) and is kept as text,
-- as the server's own webhook secret is (server_secrets): the receiver
-- verifies with it, so the server must be able to read it back.
CREATE TABLE notification_subscriptions (
    id          TEXT    PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    event_types TEXT    NOT NULL,
    workflow_id TEXT,
    description TEXT    NOT NULL,
    secret      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX notification_subscriptions_by_tenant ON notification_subscriptions (tenant_id, created_at, id);

-- The durable outbox: one row per event that may be notified, written by
-- the trigger below in the same transaction as the run_events row, so the
-- group commit that records a run's end (or an approval, or a cost
-- overrun) records its notification too, whichever code path wrote the
-- event. Only tenants with a subscription get rows. The dispatcher turns
-- each row into one delivery per matching subscription and deletes it.
CREATE TABLE notification_outbox (
    run_id      TEXT    NOT NULL,
    sequence    INTEGER NOT NULL,
    tenant_id   TEXT    NOT NULL,
    workflow_id TEXT    NOT NULL,
    event_type  TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, sequence)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER notification_outbox_from_events AFTER INSERT ON run_events
WHEN NEW.type IN ('run.completed', 'run.failed', 'run.partial', 'approval.pending', 'step.cost_exceeded')
BEGIN
    INSERT INTO notification_outbox (run_id, sequence, tenant_id, workflow_id, event_type, payload, created_at)
    SELECT NEW.run_id, NEW.sequence, r.tenant_id, r.workflow_id, NEW.type, NEW.payload, NEW.created_at
    FROM runs r
    WHERE r.id = NEW.run_id
      AND EXISTS (SELECT 1 FROM notification_subscriptions s WHERE s.tenant_id = r.tenant_id)
    ON CONFLICT (run_id, sequence) DO NOTHING;
END;

-- The delivery log: one row per (subscription, event). `body` is fixed when
-- the row is made, so every attempt sends the same bytes. A pending row is
-- due at next_attempt_at; a dispatcher claims it by setting lease_until.
CREATE TABLE notification_deliveries (
    id               TEXT    PRIMARY KEY,
    tenant_id        TEXT    NOT NULL,
    subscription_id  TEXT    NOT NULL,
    run_id           TEXT    NOT NULL,
    sequence         INTEGER NOT NULL,
    event_type       TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    attempts         INTEGER NOT NULL,
    last_status_code INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    next_attempt_at  INTEGER,
    delivered_at     INTEGER,
    ended_at         INTEGER,
    lease_until      INTEGER,
    UNIQUE (subscription_id, run_id, sequence)
) STRICT;
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notification_deliveries_by_tenant ON notification_deliveries (tenant_id, created_at DESC, id DESC);
CREATE INDEX notification_deliveries_ended ON notification_deliveries (ended_at) WHERE status <> 'pending';
