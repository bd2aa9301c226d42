/**
 * The run page (/runs/:id): a run followed live. Its header, the actions
 * that fit its state (from ./actions), the DAG of its exact workflow
 * version with each step's status, progress and spliced mark, a table of
 * the same steps, the selected step's panel, and the timeline. Selecting
 * a step in any of them selects it everywhere.
 */
import { useCallback, useMemo, useRef, useState } from "react";
import { useParams } from "wouter";
import { DagView } from "../../dag/DagView";
import type { Graph, GraphNode } from "../../dag/graph";
import { layout, NODE_HEIGHT } from "../../dag/layout";
import { ErrorNote } from "../../ui/ErrorNote";
import { PendingActionPanel } from "./actions/PendingActionPanel";
import { RunActions } from "./actions/RunActions";
import { isFinished } from "./liveState";
import { RunHeader } from "./RunHeader";
import { baseId, overlays, runGraph, splicedIds } from "./runGraph";
import { StepPanel } from "./StepPanel";
import { StepsTable } from "./StepsTable";
import { Timeline } from "./Timeline";
import { useLiveRun, type LiveRun } from "./useLiveRun";
import "./run.css";

/** What the shape of a graph is, so a status change does not lay it out again. */
function signature(graph: Graph): string {
  return `${graph.nodes.map((n) => `${n.id}:${n.type}:${n.parentId ?? ""}`).join(",")}|${graph.edges.map((e) => e.id).join(",")}`;
}

/** The run's graph, the same object for as long as its shape is the same. */
function useStableGraph(live: LiveRun): Graph {
  const last = useRef<{ key: string; graph: Graph } | undefined>(undefined);
  const steps = live.view?.steps;
  return useMemo(() => {
    const graph = runGraph(live.workflow, steps ?? [], live.live.spliced);
    const key = signature(graph);
    if (last.current?.key === key) return last.current.graph;
    last.current = { key, graph };
    return graph;
  }, [live.workflow, steps, live.live.spliced]);
}

/** A drawing tall enough that a wide fan stays legible, within one screen. */
function dagHeight(graph: Graph): number {
  const ys = [...layout(graph).positions.values()].map((p) => p.y);
  const tall = ys.length ? Math.max(...ys) - Math.min(...ys) + NODE_HEIGHT : 0;
  return Math.round(Math.min(720, Math.max(320, tall * 0.6 + 60)));
}

function ConnectionNote({ live }: { live: LiveRun }) {
  const finished = live.view ? isFinished(live.view.status) : false;
  const text =
    live.connection === "reconnecting"
      ? "Reconnecting… (the connection to the server dropped; the page resumes where it left off)"
      : live.connection === "live" && !finished
        ? "Live: updating as steps change."
        : "";
  return (
    <p role="status" className={live.connection === "reconnecting" ? "notice run-connection" : "run-connection muted"}>
      {text}
    </p>
  );
}

export default function RunPage() {
  const { id: runId = "" } = useParams<{ id: string }>();
  const live = useLiveRun(runId);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const select = useCallback((id: string) => setSelected(id), []);
  const graph = useStableGraph(live);
  const steps = live.view?.steps;
  const spliced = useMemo(() => splicedIds(graph, live.workflow), [graph, live.workflow]);
  const overlayMap = useMemo(() => overlays(graph, steps ?? [], spliced, live.now), [graph, steps, spliced, live.now]);
  const nodes = useMemo(() => new Map<string, GraphNode>(graph.nodes.map((n) => [n.id, n])), [graph]);
  const height = useMemo(() => dagHeight(graph), [graph]);

  const run = live.live.snapshot;
  const view = live.view;
  if (!run || !view) {
    return (
      <>
        <h1>
          Run <code>{runId}</code>
        </h1>
        {live.loadError ? <ErrorNote error={live.loadError} title="Could not load the run" /> : <p aria-busy="true">Loading run…</p>}
      </>
    );
  }
  const selectedStep = selected ? view.steps.find((s) => s.id === selected) : undefined;
  const items = selected
    ? view.steps.filter((s) => s.id !== selected && (s.parentId === selected || (s.itemIndex !== null && baseId(s.id) === selected)))
    : [];
  return (
    // data-sequence: the last event applied (tests compare it with the server's).
    <div className="run-page" data-sequence={live.live.lastSeq}>
      <RunHeader run={run} view={view} workflow={live.workflow} now={live.now} />
      <ConnectionNote live={live} />
      <ErrorNote error={live.streamError} title="Live updates stopped" />
      <PendingActionPanel run={run} onChanged={live.refresh} />
      <RunActions run={run} selectedStep={selected} onChanged={live.refresh} />
      <div className="grid-2 run-body">
        <div className="run-main">
          <h2>Graph</h2>
          {live.workflowError ? (
            <ErrorNote error={live.workflowError} title={`Could not load version ${run.workflowVersion} of the workflow`} />
          ) : !live.workflow ? (
            <p aria-busy="true">Loading the workflow's graph…</p>
          ) : (
            <DagView graph={graph} overlays={overlayMap} selected={selected} onSelect={select} label={`DAG of run ${run.id}`} height={height} />
          )}
          <h2>Steps</h2>
          <StepsTable steps={view.steps} nodes={nodes} selected={selected} onSelect={select} now={live.now} />
          <h2>Timeline</h2>
          <Timeline
            steps={view.steps}
            start={run.startedAt?.getTime()}
            end={view.completedAt?.getTime()}
            now={live.now}
            selected={selected}
            onSelect={select}
          />
        </div>
        <StepPanel
          id={selected}
          step={selectedStep}
          node={selected ? nodes.get(selected) : undefined}
          items={items}
          policy={live.workflow?.policy}
          now={live.now}
          onSelect={select}
        />
      </div>
    </div>
  );
}
