/**
 * The workflow editor (/workflows/new and /workflows/:id/edit): the
 * definition's JSON in CodeMirror beside the live graph of what is typed.
 * Every edit is checked (useChecks) and each problem is marked on its step
 * in the text and on its node in the graph, and listed under the editor.
 * Save creates or updates the workflow, then opens its page. Leaving with
 * text that differs from what was last loaded or saved asks first
 * (useLeaveGuard).
 */
import { useCallback, useMemo, useRef, useState } from "react";
import { Link, useLocation, useParams } from "wouter";
import { parseTree } from "jsonc-parser";
import type { Diagnostic } from "@codemirror/lint";
import { useWeft } from "../../api/weft";
import { useLeaveGuard } from "../../app/leaveGuard";
import { useAction } from "../../api/useAction";
import { useLoad } from "../../api/useLoad";
import { DagView, type StepOverlay } from "../../dag/DagView";
import { ErrorNote } from "../../ui/ErrorNote";
import { documentText } from "../workflows/document";
import { JsonEditor, type JsonEditorHandle } from "./JsonEditor";
import { ProblemList } from "./ProblemList";
import { checkLocally, type Problem } from "./problems";
import { saveDefinition } from "./save";
import { STARTER } from "./starter";
import { useChecks } from "./useChecks";
import { stepNode } from "./locate";
import "./editor.css";

export default function EditorPage() {
  const { id } = useParams<{ id?: string }>();
  // One editor per workflow: moving between /new and /:id/edit starts afresh.
  return <Editor key={id ?? "new"} id={id} />;
}

function Editor({ id }: { id: string | undefined }) {
  const weft = useWeft();
  const [, navigate] = useLocation();
  const existing = useLoad(async () => (id ? weft.workflows.get(id) : undefined), [id]);
  // The text is the page's own once loaded; `undefined` until then.
  const [edited, setEdited] = useState<string | undefined>(undefined);
  const loadedText = useMemo(() => (id ? (existing.data ? documentText(existing.data.raw) : undefined) : STARTER), [id, existing.data]);
  const text = edited ?? loadedText;
  const { checked, checking, error: checkError } = useChecks(text);
  const [summary, setSummary] = useState("");
  const editor = useRef<JsonEditorHandle>(null);

  // What leaving would lose: the text now against the text last saved, or
  // else loaded. Read through refs so the guard, registered once, sees the
  // latest text, and a save clears it before navigating in the same tick.
  const textNow = useRef(text);
  textNow.current = text;
  const loadedNow = useRef(loadedText);
  loadedNow.current = loadedText;
  const savedText = useRef<string | undefined>(undefined);
  const unsaved = useCallback(() => textNow.current !== undefined && textNow.current !== (savedText.current ?? loadedNow.current), []);
  useLeaveGuard(unsaved);

  const diagnostics: Diagnostic[] = useMemo(
    () =>
      (checked?.problems ?? []).flatMap((p) =>
        p.marks.map((m) => ({ from: m.range.from, to: m.range.to, severity: "error" as const, source: p.code, message: p.message })),
      ),
    [checked],
  );

  const overlays = useMemo(() => {
    const map = new Map<string, StepOverlay>();
    for (const problem of checked?.problems ?? []) {
      for (const mark of problem.marks) {
        if (!mark.stepId) continue;
        const overlay = map.get(mark.stepId) ?? { problems: [] };
        overlay.problems = [...(overlay.problems ?? []), problem.message];
        map.set(mark.stepId, overlay);
      }
    }
    return map;
  }, [checked]);

  const choose = useCallback((problem: Problem) => editor.current?.jump(problem.at.from, problem.at.to), []);
  const selectStep = useCallback(
    (stepId: string) => {
      if (text === undefined) return;
      const node = stepNode(parseTree(text), stepId);
      if (node) editor.current?.jump(node.offset, node.offset);
    },
    [text],
  );

  const save = useAction(async () => {
    if (text === undefined) return undefined;
    const local = checkLocally(text);
    if (!local.workflow) throw new Error("Fix the JSON problems listed under the editor before saving.");
    const savedId = await saveDefinition(weft, local.workflow, existing.data?.id, summary.trim());
    savedText.current = text;
    return savedId;
  });

  const onSave = async () => {
    const savedId = await save.run();
    if (savedId) navigate(`/workflows/${savedId}`);
  };

  if (id && existing.error) return <ErrorNote error={existing.error} title="Could not load the workflow" />;
  if (text === undefined) return <p aria-busy="true">Loading the workflow…</p>;

  const title = id ? `Edit ${existing.data?.name ?? id}` : "New workflow";
  const localProblems = checked?.source === "syntax" || checked?.source === "fields";
  return (
    <div className="editor-page">
      <h1>{title}</h1>
      <p className="muted">
        {id && existing.data ? (
          <>
            Version {existing.data.version}: saving writes version {existing.data.version + 1}.{" "}
            <Link href={`/workflows/${existing.data.id}`}>Back to the workflow</Link>
          </>
        ) : (
          <>
            Write the definition as JSON; the graph and the problems follow as you type. <Link href="/workflows">Back to workflows</Link>
          </>
        )}
      </p>
      <div className="editor-grid">
        <div className="editor-text">
          <p id="editor-keys" className="muted editor-keys">
            Tab moves into and out of the editor (Tab does not indent here; if your keyboard setup traps it, press Esc then Tab).
          </p>
          <JsonEditor
            ref={editor}
            value={text}
            onChange={setEdited}
            diagnostics={diagnostics}
            label="Workflow definition (JSON)"
            describedBy="editor-keys"
          />
          <ProblemList problems={checked?.problems} checking={checking} onChoose={choose} />
          {checkError !== undefined && <ErrorNote error={checkError} title="The server could not check the definition" />}
        </div>
        <div className="editor-graph">
          <h2>Graph</h2>
          <DagView
            graph={checked?.graph ?? { nodes: [], edges: [] }}
            overlays={overlays}
            onSelect={selectStep}
            label="Graph of the definition being edited"
            height={520}
          />
          <p className="muted">Choose a step to put the cursor on it in the text.</p>
        </div>
      </div>
      <section className="editor-save" aria-labelledby="save-heading">
        <h2 id="save-heading">Save</h2>
        <div className="toolbar">
          {id && (
            <label>
              Change summary
              <input value={summary} onChange={(e) => setSummary(e.target.value)} placeholder="What changed and why" size={50} />
            </label>
          )}
          <button type="button" className="primary" onClick={onSave} disabled={save.pending || localProblems}>
            {save.pending ? "Saving…" : id ? "Save new version" : "Create workflow"}
          </button>
          {localProblems && <span className="muted">Fix the JSON problems first.</span>}
        </div>
        <ErrorNote error={save.error} title="Not saved" />
      </section>
    </div>
  );
}
