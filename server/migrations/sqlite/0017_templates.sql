-- Tenants' own workflow templates (TemplateService). Built-in templates
-- ship in the binary and have no rows. `definition` is the workflow
-- definition document as JSON text, copied into each installed workflow;
-- `tags` a JSON array of strings, filtered the way workflows' tags are.
-- Listings are by tenant, ordered by name then id, optionally by category.
CREATE TABLE templates (
    id          TEXT    PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    category    TEXT    NOT NULL,
    tags        TEXT    NOT NULL,
    definition  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX templates_by_tenant ON templates (tenant_id, name, id);
CREATE INDEX templates_by_category ON templates (tenant_id, category, name, id);
