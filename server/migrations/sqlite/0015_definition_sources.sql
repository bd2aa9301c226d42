-- The definition of a version as its author wrote it (nested `config`
-- objects, a dialect without compiled steps), as JSON text, when that
-- differs from the canonical `definition`; NULL when it was written in the
-- canonical form. Version diffs compare these, so their paths name the
-- fields the author wrote.
ALTER TABLE workflow_versions ADD COLUMN source TEXT;
