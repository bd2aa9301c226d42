-- Worker registrations (mirrors sqlite/0009), shared by every replica and
-- kept across restarts, so a poll reaching any replica finds its worker.
-- The registration itself (name, agents, concurrency, cost hints) is one
-- JSON document, stored as text (serde_json escapes U+0000, which Postgres
-- text refuses raw); only what queries filter on is a column. `last_seen`
-- is written at most every few seconds per replica (see engine/workers.rs);
-- rows silent longer than the forget window are deleted.

CREATE TABLE workers (
    tenant_id     TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    registration  TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    last_seen     BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX workers_last_seen ON workers (last_seen);
