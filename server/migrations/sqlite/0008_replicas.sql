-- Several replicas on one database (mirrors postgres/0008). SQLite serves
-- one replica that owns every partition, so these tables stay empty here;
-- they exist so both stores keep one schema history.

CREATE TABLE partitions (
    id          INTEGER PRIMARY KEY,
    owner       TEXT,
    lease_until INTEGER NOT NULL DEFAULT 0,
    epoch       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE replicas (
    id         TEXT PRIMARY KEY,
    seen_until INTEGER NOT NULL,
    started_at INTEGER NOT NULL
);

CREATE TABLE inbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    partition  INTEGER NOT NULL,
    tenant_id  TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    body       TEXT NOT NULL,
    result     TEXT,
    created_at INTEGER NOT NULL
);
