/**
 * The CodeMirror setup the console's JSON views share (the editor and the
 * read-only version diff): line numbers, JSON highlighting, bracket
 * matching, history, and an accessible name on the text area. Tab is left
 * to the browser (no `indentWithTab`), so Tab always moves focus on.
 */
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { json } from "@codemirror/lang-json";
import { bracketMatching, defaultHighlightStyle, foldGutter, foldKeymap, syntaxHighlighting } from "@codemirror/language";
import { EditorState, type Extension } from "@codemirror/state";
import { EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from "@codemirror/view";

/** The extensions of a JSON view named `label` (its aria-label). */
export function jsonExtensions(label: string, options: { readOnly?: boolean } = {}): Extension[] {
  const common: Extension[] = [
    lineNumbers(),
    foldGutter(),
    drawSelection(),
    json(),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    bracketMatching(),
    EditorView.contentAttributes.of({ "aria-label": label }),
    EditorView.theme({ "&": { fontSize: "0.86rem" }, ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace" } }),
  ];
  if (options.readOnly) return [...common, EditorState.readOnly.of(true), EditorView.editable.of(false)];
  return [...common, highlightActiveLine(), highlightActiveLineGutter(), history(), keymap.of([...defaultKeymap, ...historyKeymap, ...foldKeymap])];
}
