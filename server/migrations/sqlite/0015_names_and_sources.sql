-- The definition of a version as its author wrote it (nested `config`
-- objects, a dialect without compiled steps), as JSON text, when that
-- differs from the canonical `definition`; NULL when it was written in the
-- canonical form. Version diffs compare these, so their paths name the
-- fields the author wrote.
ALTER TABLE workflow_versions ADD COLUMN source TEXT;

-- The latest version's name beside the workflow, written with every
-- version, so that lists sort by it and StartRun finds a workflow by name
-- without reading definitions. Filled here from the definitions; one that
-- is not valid JSON leaves the name empty rather than failing the upgrade.
ALTER TABLE workflows ADD COLUMN name TEXT NOT NULL DEFAULT '';
UPDATE workflows SET name = COALESCE((
    SELECT CASE WHEN json_valid(v.definition) THEN CAST(json_extract(v.definition, '$.name') AS TEXT) END
    FROM workflow_versions v
    WHERE v.tenant_id = workflows.tenant_id AND v.workflow_id = workflows.id AND v.version = workflows.latest_version
), '');
CREATE INDEX workflows_by_name ON workflows (tenant_id, name, id);
