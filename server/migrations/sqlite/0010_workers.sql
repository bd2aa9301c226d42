-- Worker registrations (mirrors postgres/0009), kept in the database so a
-- restart or another replica still knows a worker. The registration itself
-- (name, agents, concurrency, cost hints) is one JSON document; only what
-- queries filter on is a column. `last_seen` is written at most every few
-- seconds per replica (see engine/workers.rs); rows silent longer than the
-- forget window are deleted.

CREATE TABLE workers (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    registration  TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX workers_last_seen ON workers (last_seen);
