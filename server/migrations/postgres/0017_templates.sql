-- Tenants' own workflow templates (mirrors sqlite/0017; see there). Names
-- sort byte-wise ("C"), as on SQLite, so both stores list in one order.
CREATE TABLE templates (
    id          TEXT COLLATE "C" PRIMARY KEY,
    tenant_id   TEXT COLLATE "C" NOT NULL,
    name        TEXT COLLATE "C" NOT NULL,
    description TEXT   NOT NULL,
    category    TEXT COLLATE "C" NOT NULL,
    tags        JSONB  NOT NULL,
    definition  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX templates_by_tenant ON templates (tenant_id, name, id);
CREATE INDEX templates_by_category ON templates (tenant_id, category, name, id);
