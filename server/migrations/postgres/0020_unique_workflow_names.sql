-- Workflow names become unique per tenant (mirrors sqlite/0020): the
-- oldest workflow of each group sharing a name keeps it (by created_at,
-- then id); every other becomes `<name> (<its id>)`, its name part cut so
-- the result stays within 200 characters. Empty names are not names.
CREATE TABLE workflow_name_renames AS
SELECT tenant_id, id, left(name, 200 - length(id) - 3) || ' (' || id || ')' AS new_name
FROM (
    SELECT tenant_id, id, name,
           ROW_NUMBER() OVER (PARTITION BY tenant_id, name ORDER BY created_at, id) AS place
    FROM workflows
    WHERE name <> ''
) ranked
WHERE place > 1;

UPDATE workflows w SET name = r.new_name
FROM workflow_name_renames r
WHERE r.tenant_id = w.tenant_id AND r.id = w.id;

-- The latest version's definition, and its source when that is a JSON
-- object with a name, follow the column. Documents are TEXT whose key
-- order the server keeps (see 0001), so the name is replaced through
-- `json` (which keeps order and text), not `jsonb`. A document that is not
-- valid JSON is left as it is rather than failing the upgrade.
DO $$
DECLARE
    r RECORD;
    doc json;
    renamed text;
BEGIN
    FOR r IN
        SELECT v.tenant_id, v.workflow_id, v.version, v.definition, v.source, n.new_name
        FROM workflow_name_renames n
        JOIN workflows w ON w.tenant_id = n.tenant_id AND w.id = n.id
        JOIN workflow_versions v ON v.tenant_id = w.tenant_id AND v.workflow_id = w.id AND v.version = w.latest_version
    LOOP
        BEGIN
            doc := CAST(r.definition AS json);
            IF json_typeof(doc) = 'object' THEN
                SELECT CAST(json_object_agg(e.key, e.value ORDER BY e.place) AS text) INTO renamed FROM (
                    SELECT key, CASE WHEN key = 'name' THEN to_json(r.new_name) ELSE value END AS value, place
                    FROM json_each(doc) WITH ORDINALITY AS t(key, value, place)
                    UNION ALL
                    SELECT 'name', to_json(r.new_name), 0
                    WHERE NOT EXISTS (SELECT 1 FROM json_each(doc) WHERE key = 'name')
                ) e;
                UPDATE workflow_versions SET definition = renamed
                WHERE tenant_id = r.tenant_id AND workflow_id = r.workflow_id AND version = r.version;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
        BEGIN
            doc := CAST(r.source AS json);
            IF doc IS NOT NULL AND json_typeof(doc) = 'object' AND (doc -> 'name') IS NOT NULL THEN
                SELECT CAST(json_object_agg(key, CASE WHEN key = 'name' THEN to_json(r.new_name) ELSE value END
                                            ORDER BY place) AS text) INTO renamed
                FROM json_each(doc) WITH ORDINALITY AS t(key, value, place);
                UPDATE workflow_versions SET source = renamed
                WHERE tenant_id = r.tenant_id AND workflow_id = r.workflow_id AND version = r.version;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            NULL;
        END;
    END LOOP;
END
$$;

DROP TABLE workflow_name_renames;

-- The rule itself: creates, renames and rollbacks that race are decided
-- here, whatever the server read before writing.
CREATE UNIQUE INDEX workflows_unique_name ON workflows (tenant_id, name) WHERE name <> '';
