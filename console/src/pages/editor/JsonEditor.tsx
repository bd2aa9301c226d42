/**
 * The definition's text editor: CodeMirror 6 with JSON support, the
 * problems of the last check shown as lint marks (set from outside, since
 * the check runs in the page), and `jump(offset)` to put the cursor on a
 * problem. The page owns the text; this only reports edits.
 */
import { useEffect, useImperativeHandle, useRef, type Ref } from "react";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { EditorSelection, EditorState } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { jsonExtensions } from "./codemirror";

export interface JsonEditorHandle {
  /** Focuses the editor with the cursor on `from..to`, scrolled into view. */
  jump(from: number, to: number): void;
}

export interface JsonEditorProps {
  /** The text; replacing it from outside (a load) resets the editor. */
  value: string;
  onChange(text: string): void;
  diagnostics: Diagnostic[];
  label: string;
  describedBy?: string;
  ref?: Ref<JsonEditorHandle>;
}

export function JsonEditor({ value, onChange, diagnostics, label, describedBy, ref }: JsonEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;

  useEffect(() => {
    if (!host.current) return;
    const created = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          jsonExtensions(label),
          lintGutter(),
          describedBy ? EditorView.contentAttributes.of({ "aria-describedby": describedBy }) : [],
          EditorView.updateListener.of((update) => {
            if (update.docChanged) onChangeRef.current(update.state.doc.toString());
          }),
        ],
      }),
    });
    view.current = created;
    return () => {
      created.destroy();
      view.current = null;
    };
    // The view is made once; text and marks flow in through the effects below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    const current = view.current;
    if (current && current.state.doc.toString() !== value) {
      current.dispatch({ changes: { from: 0, to: current.state.doc.length, insert: value } });
    }
  }, [value]);

  useEffect(() => {
    const current = view.current;
    if (!current) return;
    const length = current.state.doc.length;
    // Marks computed for an older text may point past the end; clamp them.
    const clamped = diagnostics
      .map((d) => ({ ...d, from: Math.min(d.from, length), to: Math.min(d.to, length) }))
      .filter((d) => d.from <= d.to);
    current.dispatch(setDiagnostics(current.state, clamped));
  }, [diagnostics]);

  useImperativeHandle(ref, () => ({
    jump(from, to) {
      const current = view.current;
      if (!current) return;
      const length = current.state.doc.length;
      const anchor = Math.min(from, length);
      current.dispatch({
        selection: EditorSelection.single(anchor, Math.min(Math.max(anchor, to), length)),
        effects: EditorView.scrollIntoView(anchor, { y: "center" }),
      });
      current.focus();
    },
  }));

  return <div ref={host} className="json-editor" />;
}
