/**
 * /templates: the catalogue (built-ins and the tenant's own), one
 * template viewed at a time (kept in the URL as `?template=`) with its
 * steps drawn, and "Install" as a new workflow, which opens that
 * workflow's page.
 */
import { useMemo, useState } from "react";
import { useLocation, useSearch } from "wouter";
import { useWeft } from "../../api/weft";
import { useLoad } from "../../api/useLoad";
import { ErrorNote } from "../../ui/ErrorNote";
import { TemplateDetail } from "./TemplateDetail";
import "./templates.css";

export default function TemplatesPage() {
  const weft = useWeft();
  const search = useSearch();
  const [, navigate] = useLocation();
  const selectedId = useMemo(() => new URLSearchParams(search).get("template") ?? "", [search]);
  const list = useLoad(() => weft.templates.list({ limit: 200 }), [weft]);
  const templates = list.data?.templates ?? [];
  const selected = templates.find((t) => t.id === selectedId);
  // Whether the user picked the template here (not opened from a link).
  const [picked, setPicked] = useState(false);
  const select = (id: string) => {
    setPicked(true);
    navigate(`/templates?template=${encodeURIComponent(id)}`, { replace: true });
  };
  return (
    <>
      <h1>Templates</h1>
      <ErrorNote error={list.error} title="Cannot list templates" />
      {list.data === undefined && list.loading && <p aria-busy="true">Loading templates…</p>}
      {list.data && templates.length === 0 && <p>No templates on this server.</p>}
      {templates.length > 0 && (
        <div className="templates">
          <table className="templates-table">
            <caption className="muted">
              {list.data?.total} template{list.data?.total === 1 ? "" : "s"}
            </caption>
            <thead>
              <tr>
                <th scope="col">Template</th>
                <th scope="col">Category</th>
                <th scope="col">Tags</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {templates.map((template) => (
                <tr key={template.id} className={template.id === selectedId ? "selected" : undefined} data-template-id={template.id}>
                  <th scope="row">
                    <span className="template-name">{template.name}</span>
                    {template.isBuiltin && <span className="badge">built-in</span>}
                    {template.description && <p className="muted template-description">{template.description}</p>}
                  </th>
                  <td>{template.category || "—"}</td>
                  <td>{template.tags.length ? template.tags.join(", ") : "—"}</td>
                  <td>
                    <button type="button" aria-pressed={template.id === selectedId} aria-label={`View ${template.name}`} onClick={() => select(template.id)}>
                      View
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {selected ? (
            <TemplateDetail key={selected.id} template={selected} focus={picked} />
          ) : (
            selectedId && list.data && <p className="notice">No template with id {selectedId}.</p>
          )}
        </div>
      )}
    </>
  );
}
