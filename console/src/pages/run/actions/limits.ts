/**
 * The limits the server enforces on what a person types into a run action,
 * checked in the browser first so the message is immediate and nothing is
 * sent that would be refused anyway (the server still checks).
 */

/** Cancel and pause reasons: the server's label limit (api/runs.rs MAX_LABEL_CHARS). */
export const MAX_REASON_CHARS = 256;
/** An approval comment (engine/approvals.rs MAX_COMMENT_CHARS). */
export const MAX_COMMENT_CHARS = 10_000;
/** An event payload becomes the wait step's output, which is capped at 1 MiB of JSON. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Nesting the server accepts in a JSON value. */
export const MAX_PAYLOAD_DEPTH = 64;

export type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

function depth(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  let deepest = 0;
  for (const child of children) {
    deepest = Math.max(deepest, depth(child));
    // Stop early: a hostile paste must not cost a deep walk.
    if (deepest > MAX_PAYLOAD_DEPTH) break;
  }
  return deepest + 1;
}

/**
 * Reads a typed JSON payload: empty means null; otherwise it must parse,
 * fit in {@link MAX_PAYLOAD_BYTES} and nest no deeper than
 * {@link MAX_PAYLOAD_DEPTH}. The message says which rule failed.
 */
export function parsePayload(text: string): Parsed {
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > MAX_PAYLOAD_BYTES) {
    return { ok: false, message: `The payload is ${bytes.toLocaleString()} bytes; at most ${MAX_PAYLOAD_BYTES.toLocaleString()} bytes (1 MiB) are accepted.` };
  }
  if (text.trim() === "") return { ok: true, value: null };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (thrown) {
    const why = thrown instanceof Error ? thrown.message : String(thrown);
    return { ok: false, message: `The payload is not valid JSON: ${why}` };
  }
  if (depth(value) > MAX_PAYLOAD_DEPTH) {
    return { ok: false, message: `The payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels of arrays and objects.` };
  }
  return { ok: true, value };
}
