/**
 * One template: what it does, its steps as a graph, and the install form
 * (a workflow name, 1-200 characters, defaulting to the template's). A
 * successful install opens the new workflow's page.
 */
import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { useLocation } from "wouter";
import type { Template } from "weftflow";
import { useWeft } from "../../api/weft";
import { useAction } from "../../api/useAction";
import { ErrorNote } from "../../ui/ErrorNote";
import { DagView } from "../../dag/DagView";
import { definitionGraph } from "../../dag/graph";

const MAX_NAME = 200;

export function TemplateDetail({ template, focus }: { template: Template; focus: boolean }) {
  const heading = useRef<HTMLHeadingElement>(null);
  // Chosen with "View": take keyboard and screen-reader users to it.
  useEffect(() => {
    if (focus) heading.current?.focus();
  }, [focus]);
  const weft = useWeft();
  const [, navigate] = useLocation();
  const graph = useMemo(() => definitionGraph(template.workflow), [template]);
  const [name, setName] = useState(template.workflow?.name || template.name);
  const install = useAction((workflowName: string) => weft.templates.install(template.id, { name: workflowName }));
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const workflow = await install.run(name.trim());
    if (workflow) navigate(`/workflows/${workflow.id}`);
  };
  return (
    <section className="panel template-detail" aria-labelledby="template-title">
      <h2 id="template-title" ref={heading} tabIndex={-1}>{template.name}</h2>
      {template.description && <p>{template.description}</p>}
      {graph.nodes.length > 0 ? (
        <DagView graph={graph} label={`Steps of template ${template.name}`} height={340} />
      ) : (
        <p className="muted">This template has no steps to draw.</p>
      )}
      <form className="row" onSubmit={submit} aria-label={`Install ${template.name}`}>
        <label>
          Workflow name
          <input value={name} required minLength={1} maxLength={MAX_NAME} onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" className="primary" disabled={install.pending || name.trim() === ""}>
          {install.pending ? "Installing…" : "Install"}
        </button>
      </form>
      <ErrorNote error={install.error} title="Not installed" />
    </section>
  );
}
