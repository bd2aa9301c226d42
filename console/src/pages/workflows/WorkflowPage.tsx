/**
 * One workflow (/workflows/:id): its name, status, version, tags and
 * description, links to start a run, edit it and see its runs, and three
 * tabs: the graph (with the chosen step's definition), the raw definition
 * JSON, and the version history with diffs and rollback. The tab shown is
 * in the address (`?tab=versions`) so it can be linked to.
 */
import { useMemo } from "react";
import { Link, useLocation, useParams, useSearch } from "wouter";
import { useWeft } from "../../api/weft";
import { useLoad } from "../../api/useLoad";
import { ErrorNote } from "../../ui/ErrorNote";
import { StatusBadge } from "../../ui/Status";
import { pretty, when } from "../../ui/format";
import { toDocument } from "./document";
import { GraphTab } from "./GraphTab";
import { panelId, tabId, Tabs, type TabSpec } from "./Tabs";
import { VersionsTab } from "./VersionsTab";
import { Tags } from "./Tags";
import "./workflows.css";

type Tab = "graph" | "json" | "versions";
const TABS: TabSpec<Tab>[] = [
  { id: "graph", label: "Graph" },
  { id: "json", label: "JSON" },
  { id: "versions", label: "Versions" },
];

export default function WorkflowPage() {
  const { id = "" } = useParams<{ id: string }>();
  const weft = useWeft();
  const search = useSearch();
  const [, navigate] = useLocation();
  const tabParam = new URLSearchParams(search).get("tab");
  const tab: Tab = TABS.some((t) => t.id === tabParam) ? (tabParam as Tab) : "graph";
  const selectTab = (next: Tab) => navigate(`/workflows/${id}${next === "graph" ? "" : `?tab=${next}`}`, { replace: true });

  const workflow = useLoad(() => weft.workflows.get(id), [id]);
  const wf = workflow.data;
  const document = useMemo(() => (wf ? toDocument(wf.raw) : undefined), [wf]);

  if (workflow.error && !wf) return <ErrorNote error={workflow.error} title="Could not load the workflow" />;
  if (!wf || !document) return <p aria-busy="true">Loading the workflow…</p>;

  return (
    <div>
      <div className="wf-head">
        <h1>{wf.name}</h1>
        <StatusBadge status={wf.status} />
        <span>Version {wf.version}</span>
        {wf.tags.length > 0 && <Tags tags={wf.tags} />}
      </div>
      <p className="muted">
        <code>{wf.id}</code> · updated {when(wf.updatedAt)}
        {wf.changeSummary && <> · “{wf.changeSummary}”</>}
      </p>
      {wf.description && <p className="wf-description">{wf.description}</p>}
      <nav className="wf-links" aria-label="Workflow actions">
        <Link href={`/workflows/${wf.id}/run`} className="button primary">
          Start a run
        </Link>
        <Link href={`/workflows/${wf.id}/edit`} className="button">
          Edit
        </Link>
        <Link href={`/runs?workflow=${encodeURIComponent(wf.id)}`} className="button">
          Runs
        </Link>
      </nav>
      <Tabs tabs={TABS} selected={tab} onSelect={selectTab} label="Workflow views" />
      <div role="tabpanel" id={panelId(tab)} aria-labelledby={tabId(tab)} className="tabpanel" tabIndex={tab === "graph" ? undefined : 0}>
        {tab === "graph" && <GraphTab document={document} name={wf.name} />}
        {tab === "json" && <pre aria-label="Definition JSON">{pretty(document)}</pre>}
        {tab === "versions" && <VersionsTab workflowId={wf.id} latest={wf.version} onRolledBack={workflow.reload} />}
      </div>
    </div>
  );
}
