/**
 * streamRun survives a dropped connection: a transport whose first stream
 * breaks (UNAVAILABLE) after three events; the iterator reconnects from
 * the last sequence it handed out, with no gap and no duplicate. A refusal
 * that is not transient ends the stream with the typed error instead.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Weft, type StreamEvent } from "weftflow";
import { collect, pureWorkflow, serverUrl } from "./helpers.js";

function dropping(after: number, code: Code): { interceptor: Interceptor; opened: bigint[] } {
  const opened: bigint[] = [];
  let calls = 0;
  const interceptor: Interceptor = (next) => async (request) => {
    if (!request.stream) return next(request);
    calls += 1;
    const first = calls === 1;
    const input = request.message;
    async function* recorded() {
      for await (const m of input) {
        opened.push((m as { afterSequence?: bigint }).afterSequence ?? 0n);
        yield m;
      }
    }
    const response = await next({ ...request, message: recorded() });
    if (!response.stream) return response;
    const source = response.message;
    async function* broken() {
      let n = 0;
      for await (const message of source) {
        if (first && n === after) throw new ConnectError("connection reset", code);
        n += 1;
        yield message;
      }
    }
    return { ...response, message: broken() };
  };
  return { interceptor, opened };
}

test("a dropped stream resumes from the last sequence: no gap, no duplicate", async () => {
  const { interceptor, opened } = dropping(3, Code.Unavailable);
  const weft = new Weft({ baseUrl: serverUrl(), transport: createGrpcTransport({ baseUrl: serverUrl(), interceptors: [interceptor] }) });
  const wf = await weft.workflows.create(pureWorkflow());
  const run = await wf.run({ input: { company: "Acme" } });
  const events: StreamEvent[] = await collect(weft.workflows.streamRun(run.id));
  assert.deepEqual(opened, [0n, 3n], "reopened after the third event");
  assert.deepEqual(events.map((e) => Number(e.sequence)), events.map((_, i) => i + 1));
  assert.equal(events.at(-1)?.type, "run.completed");
});

test("a refusal mid-stream is not retried: it ends the stream with its typed error", async () => {
  const { interceptor, opened } = dropping(1, Code.PermissionDenied);
  const weft = new Weft({ baseUrl: serverUrl(), transport: createGrpcTransport({ baseUrl: serverUrl(), interceptors: [interceptor] }) });
  const wf = await weft.workflows.create(pureWorkflow());
  const run = await wf.run({ input: { company: "Acme" } });
  const seen: StreamEvent[] = [];
  await assert.rejects(async () => {
    for await (const event of weft.workflows.streamRun(run.id)) seen.push(event);
  }, (e: unknown) => e instanceof Error && e.name === "PermissionError");
  assert.equal(seen.length, 1);
  assert.equal(opened.length, 1);
});
