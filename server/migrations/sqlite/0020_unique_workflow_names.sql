-- Workflow names become unique per tenant (issue 21): ApplyWorkflow and
-- every RPC that takes a workflow id find a workflow by its name, so one
-- name must name one workflow, whatever its status.
--
-- Existing duplicates are renamed first. In each group of one tenant's
-- workflows sharing a name, the oldest (by created_at, then id) keeps it;
-- every other becomes `<name> (<its id>)`: deterministic, unique because
-- ids are, and it says which workflow it is. The name part is cut so the
-- result stays within the 200 characters a name may have. Empty names
-- (a definition that was not valid JSON, see 0015) are not names and are
-- left alone.
CREATE TABLE workflow_name_renames AS
SELECT tenant_id, id, substr(name, 1, 200 - length(id) - 3) || ' (' || id || ')' AS new_name
FROM (
    SELECT tenant_id, id, name,
           ROW_NUMBER() OVER (PARTITION BY tenant_id, name ORDER BY created_at, id) AS place
    FROM workflows
    WHERE name <> ''
)
WHERE place > 1;

UPDATE workflows
SET name = (SELECT r.new_name FROM workflow_name_renames r WHERE r.tenant_id = workflows.tenant_id AND r.id = workflows.id)
WHERE EXISTS (SELECT 1 FROM workflow_name_renames r WHERE r.tenant_id = workflows.tenant_id AND r.id = workflows.id);

-- The latest version's definition carries the name GetWorkflow serves, and
-- its source (the definition as written, when kept) the name a diff
-- compares; both follow the column. A document that is not a valid JSON
-- object is left as it is rather than failing the upgrade (the CASE keeps
-- json_type from reading text json_valid refused).
UPDATE workflow_versions
SET definition = json_set(definition, '$.name', (
    SELECT r.new_name FROM workflow_name_renames r
    WHERE r.tenant_id = workflow_versions.tenant_id AND r.id = workflow_versions.workflow_id))
WHERE EXISTS (
        SELECT 1 FROM workflow_name_renames r JOIN workflows w ON w.tenant_id = r.tenant_id AND w.id = r.id
        WHERE r.tenant_id = workflow_versions.tenant_id AND r.id = workflow_versions.workflow_id
          AND w.latest_version = workflow_versions.version)
  AND (CASE WHEN json_valid(definition) THEN json_type(definition) END) = 'object';

UPDATE workflow_versions
SET source = json_set(source, '$.name', (
    SELECT r.new_name FROM workflow_name_renames r
    WHERE r.tenant_id = workflow_versions.tenant_id AND r.id = workflow_versions.workflow_id))
WHERE EXISTS (
        SELECT 1 FROM workflow_name_renames r JOIN workflows w ON w.tenant_id = r.tenant_id AND w.id = r.id
        WHERE r.tenant_id = workflow_versions.tenant_id AND r.id = workflow_versions.workflow_id
          AND w.latest_version = workflow_versions.version)
  AND source IS NOT NULL
  AND (CASE WHEN json_valid(source) AND json_type(source) = 'object' THEN json_type(source, '$.name') END) IS NOT NULL;

DROP TABLE workflow_name_renames;

-- The rule itself: creates, renames and rollbacks that race are decided
-- here, whatever the server read before writing.
CREATE UNIQUE INDEX workflows_unique_name ON workflows (tenant_id, name) WHERE name <> '';
