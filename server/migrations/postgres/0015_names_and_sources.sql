-- Definition sources as written and workflow names (mirrors sqlite/0015).
-- `source` is the definition of a version as its author wrote it (nested
-- `config` objects, a dialect without compiled steps) when that differs
-- from the canonical `definition`; NULL otherwise. Version diffs compare
-- these, so their paths name the fields the author wrote.
ALTER TABLE workflow_versions ADD COLUMN source TEXT;

-- The latest version's name beside the workflow, written with every
-- version, so that lists sort by it (byte order, as SQLite) and StartRun
-- finds a workflow by name without reading definitions. Filled here from
-- the definitions; one that is not valid JSON leaves the name empty rather
-- than failing the upgrade.
ALTER TABLE workflows ADD COLUMN name TEXT COLLATE "C" NOT NULL DEFAULT '';
DO $$
DECLARE
    r RECORD;
BEGIN
    FOR r IN
        SELECT w.tenant_id, w.id, v.definition FROM workflows w JOIN workflow_versions v
          ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id AND v.version = w.latest_version
    LOOP
        BEGIN
            UPDATE workflows SET name = COALESCE(CAST(r.definition AS JSONB) ->> 'name', '')
            WHERE tenant_id = r.tenant_id AND id = r.id;
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END LOOP;
END
$$;
CREATE INDEX workflows_by_name ON workflows (tenant_id, name, id);
