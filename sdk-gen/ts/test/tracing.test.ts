/**
 * Trace continuation in the worker, without a server: the worker's task
 * handling (worker-task.ts `execute`, which the stream and the polling
 * worker share) is fed Tasks whose traceContext we choose, and the spans an
 * in-memory exporter receives are checked: the handler's span is a child of
 * the run's context, carries the task's ids, is active inside the handler,
 * records a handler's error; an empty or malformed context gives a root
 * span and the task still completes.
 */
import assert from "node:assert/strict";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { createClient, createRouterTransport } from "@connectrpc/connect";
import { context, createTraceState, propagation, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { TaskSchema, type Task } from "../src/gen/weft/v1/worker_pb.js";
import { HeartbeatResponseSchema } from "../src/gen/weft/v1/worker_service_pb.js";
import { RunService } from "../src/gen/weft/v1/run_service_pb.js";
import { loadTracing, startTaskSpan, traceInterceptor } from "../src/tracing.js";
import type { Handler } from "../src/worker.js";
import { execute, type CompleteInit, type FailInit, type Shared } from "../src/worker-task.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN_ID = "00f067aa0ba902b7";
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;

const exporter = new InMemorySpanExporter();

/** What the fake link was told: the task's completions and failures. */
interface Reports {
  completed: CompleteInit[];
  failed: FailInit[];
}

/** Runs one task through `execute` with `handler` serving its agent; a link that answers at once. */
async function runTask(task: Task, handler: Handler): Promise<Reports> {
  const reports: Reports = { completed: [], failed: [] };
  const shared: Shared = {
    handlers: new Map([[task.agent, handler]]),
    heartbeatMs: 60_000,
    leaseMs: 60_000,
    link: {
      heartbeat: async () => create(HeartbeatResponseSchema, {}),
      complete: async (request) => void reports.completed.push(request),
      fail: async (request) => void reports.failed.push(request),
      checkToolUse: async () => {
        throw new Error("not used");
      },
    },
  };
  await execute(shared, task, performance.now() + 60_000);
  return reports;
}

function task(traceContext: Record<string, string>, agent = "traced-agent"): Task {
  return create(TaskSchema, { taskId: "task_1", runId: "wfrun_1", workflowId: "wf_1", stepId: "research", agent, attempt: 2, leaseToken: 7n, traceContext });
}

/** The one span the exporter got since the last reset. */
function onlySpan(): ReadableSpan {
  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 1, `one span exported, got ${spans.map((s) => s.name).join(", ")}`);
  exporter.reset();
  return spans[0]!;
}

test("without @opentelemetry/api loaded the worker makes no span and the task still completes", async () => {
  assert.equal(startTaskSpan(task({ traceparent: TRACEPARENT })), undefined);
  const reports = await runTask(task({ traceparent: TRACEPARENT }), () => "plain");
  assert.equal(reports.completed.length, 1);
});

test("where @opentelemetry/api cannot be found, loading tracing resolves false and makes no span", async () => {
  // The compiled tracing module alone, in a directory with no node_modules
  // above it: the application without the optional peer dependency.
  const dir = await mkdtemp(join(tmpdir(), "weft-no-otel-"));
  try {
    const copy = join(dir, "tracing.js");
    await copyFile(fileURLToPath(new URL("../src/tracing.js", import.meta.url)), copy);
    const alone = (await import(pathToFileURL(copy).href)) as typeof import("../src/tracing.js");
    assert.equal(await alone.loadTracing(), false);
    assert.equal(alone.startTaskSpan(task({ traceparent: TRACEPARENT })), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("with a tracer provider registered, the handler's span is a child of the task's trace context", async () => {
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  assert.ok(trace.setGlobalTracerProvider(provider));
  assert.ok(context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()));
  assert.ok(propagation.setGlobalPropagator(new W3CTraceContextPropagator()));
  assert.equal(await loadTracing(), true, "@opentelemetry/api is installed (a devDependency)");

  let activeInHandler: string | undefined;
  const reports = await runTask(task({ traceparent: TRACEPARENT, tracestate: "vendor=abc" }), async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    // After an await, still the handler's span: its own spans nest under it.
    activeInHandler = trace.getActiveSpan()?.spanContext().spanId;
    return { done: true };
  });
  assert.equal(reports.completed.length, 1);
  assert.equal(reports.failed.length, 0);

  const span = onlySpan();
  assert.equal(span.name, "weft.task traced-agent");
  assert.equal(span.kind, SpanKind.CONSUMER);
  assert.equal(span.spanContext().traceId, TRACE_ID);
  assert.equal(span.parentSpanContext?.spanId, PARENT_SPAN_ID);
  assert.equal(span.parentSpanContext?.isRemote, true);
  assert.equal(span.parentSpanContext?.traceState?.get("vendor"), "abc");
  assert.equal(activeInHandler, span.spanContext().spanId);
  assert.deepEqual(
    { ...span.attributes },
    { "weft.run_id": "wfrun_1", "weft.workflow_id": "wf_1", "weft.step_id": "research", "weft.task_id": "task_1", "weft.agent": "traced-agent", "weft.attempt": 2 },
  );
  assert.equal(span.status.code, SpanStatusCode.UNSET);
});

test("a handler's error is recorded on its span, and the task fails as before", async () => {
  const reports = await runTask(task({ traceparent: TRACEPARENT }), () => {
    throw new Error("upstream down");
  });
  assert.equal(reports.failed.length, 1);
  assert.equal(reports.failed[0]?.error, "upstream down");
  const span = onlySpan();
  assert.equal(span.spanContext().traceId, TRACE_ID);
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.status.message, "upstream down");
  assert.equal(span.events.find((e) => e.name === "exception")?.attributes?.["exception.message"], "upstream down");
});

test("an empty or malformed trace context gives a root span, never a failed task", async () => {
  const contexts: Record<string, string>[] = [
    {},
    { traceparent: "" },
    { traceparent: "garbage" },
    { traceparent: `00-${"0".repeat(32)}-${PARENT_SPAN_ID}-01` }, // all-zero trace id
    { traceparent: `ff-${TRACE_ID}-${PARENT_SPAN_ID}-01` }, // version ff is invalid
    { traceparent: `00-${TRACE_ID.toUpperCase()}-${PARENT_SPAN_ID}-01` }, // not lowercase hex
    { tracestate: "vendor=abc" }, // a tracestate without a traceparent
  ];
  for (const carrier of contexts) {
    const reports = await runTask(task(carrier), () => "ok");
    assert.equal(reports.completed.length, 1, `completed with ${JSON.stringify(carrier)}`);
    const span = onlySpan();
    assert.equal(span.parentSpanContext, undefined, `a root span for ${JSON.stringify(carrier)}`);
    assert.notEqual(span.spanContext().traceId, TRACE_ID);
  }
});

test("with no propagator registered, the worker reads the W3C traceparent itself", async () => {
  propagation.disable();
  try {
    await runTask(task({ traceparent: TRACEPARENT, tracestate: "vendor=xyz" }), () => "ok");
    const span = onlySpan();
    assert.equal(span.spanContext().traceId, TRACE_ID);
    assert.equal(span.parentSpanContext?.spanId, PARENT_SPAN_ID);
    assert.equal(span.parentSpanContext?.traceState?.get("vendor"), "xyz");
    // And a malformed one is a root span there too.
    await runTask(task({ traceparent: `00-${TRACE_ID}-${PARENT_SPAN_ID}-01-extra` }), () => "ok");
    assert.equal(onlySpan().parentSpanContext, undefined);
  } finally {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
});

test("a task's span does not take the worker's ambient span as parent", async () => {
  const tracer = trace.getTracer("test");
  await tracer.startActiveSpan("around worker.run", async (outer) => {
    await runTask(task({}), () => "ok");
    outer.end();
  });
  const spans = exporter.getFinishedSpans();
  exporter.reset();
  const taskSpan = spans.find((s) => s.name === "weft.task traced-agent");
  assert.ok(taskSpan);
  assert.equal(taskSpan.parentSpanContext, undefined);
});

test("calls that start a run carry the active span's context as traceparent; other calls and calls outside a span do not", async () => {
  const seen: { method: string; traceparent: string | null; tracestate: string | null }[] = [];
  const transport = createRouterTransport(
    ({ service }) => {
      const record = (method: string, headers: Headers) => seen.push({ method, traceparent: headers.get("traceparent"), tracestate: headers.get("tracestate") });
      service(RunService, {
        startRun: (_request, call) => (record("StartRun", call.requestHeader), {}),
        executeWorkflow: (_request, call) => (record("ExecuteWorkflow", call.requestHeader), {}),
        getRun: (_request, call) => (record("GetRun", call.requestHeader), {}),
      });
    },
    { transport: { interceptors: [traceInterceptor] } },
  );
  const runs = createClient(RunService, transport);
  const tracer = trace.getTracer("test");
  let ids = "";
  await tracer.startActiveSpan("caller", async (span) => {
    ids = `${span.spanContext().traceId}-${span.spanContext().spanId}`;
    await runs.startRun({ workflowId: "wf_1" });
    await runs.getRun({ runId: "wfrun_1" });
    // With a tracestate, it goes along.
    const withState = trace.setSpanContext(context.active(), { ...span.spanContext(), traceState: createTraceState("vendor=abc") });
    await context.with(withState, () => runs.executeWorkflow({ workflowId: "wf_1" }));
    span.end();
  });
  await runs.startRun({ workflowId: "wf_1" });
  exporter.reset();
  assert.deepEqual(seen, [
    { method: "StartRun", traceparent: `00-${ids}-01`, tracestate: null },
    { method: "GetRun", traceparent: null, tracestate: null },
    { method: "ExecuteWorkflow", traceparent: `00-${ids}-01`, tracestate: "vendor=abc" },
    { method: "StartRun", traceparent: null, tracestate: null },
  ]);
});
