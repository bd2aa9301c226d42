-- Several replicas on one database (mirrors sqlite/0008; SQLite runs one
-- replica owning everything and leaves these tables empty).
--
-- Runs hash into a fixed set of partitions. A replica owns a partition
-- while its lease lasts; every takeover bumps the epoch, and every group
-- commit checks the epochs it was decided under, so a replica that was
-- paused past its lease cannot commit stale decisions.

CREATE TABLE partitions (
    id          SMALLINT PRIMARY KEY,
    owner       TEXT COLLATE "C",
    lease_until BIGINT NOT NULL DEFAULT 0,
    epoch       BIGINT NOT NULL DEFAULT 0
);
INSERT INTO partitions (id) SELECT generate_series(0, 63);

-- Replicas alive: how many share the partitions.
CREATE TABLE replicas (
    id         TEXT COLLATE "C" PRIMARY KEY,
    seen_until BIGINT NOT NULL,
    started_at BIGINT NOT NULL
);

-- Commands for runs another replica owns: written by the replica that
-- received them, applied by the owner, answered in the owner's commit.
CREATE TABLE inbox (
    id         BIGSERIAL PRIMARY KEY,
    partition  SMALLINT NOT NULL,
    tenant_id  TEXT COLLATE "C" NOT NULL,
    run_id     TEXT COLLATE "C" NOT NULL,
    body       TEXT NOT NULL,
    result     TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX inbox_pending ON inbox (partition, id) WHERE result IS NULL;
