/**
 * Trace continuation for task handlers: each task's handler runs inside a
 * span (`weft.task <agent>`) whose parent is the run's W3C Trace Context,
 * which the server sends as `Task.traceContext` (an OpenTelemetry text-map
 * carrier: `traceparent`, maybe `tracestate`). The worker's span, and every
 * span the handler makes, then joins the run's trace.
 *
 * Only when `@opentelemetry/api` can be loaded: it is an optional peer
 * dependency, imported lazily with a specifier bundlers do not follow, so
 * an application without it (or a browser without an import map for it)
 * loads nothing and traces nothing, and fails nowhere. The API module is
 * only a facade: what happens to the spans is whatever tracer provider the
 * application registered (none: they are no-ops).
 *
 * A missing, empty or malformed context is never an error: the span is
 * then a root span.
 *
 * The other way round, the client sends the current span's context as W3C
 * `traceparent` (and `tracestate`) headers on the calls that start a run,
 * so a run started inside a span joins the caller's trace.
 */
import type { Interceptor } from "@connectrpc/connect";
import type * as Otel from "@opentelemetry/api";
import type { Task } from "./gen/weft/v1/worker_pb.js";

type Api = typeof Otel;

/**
 * A variable, not a literal: bundlers (esbuild, webpack, Vite) then leave
 * the import alone instead of failing to resolve a package the
 * application does not have.
 */
const API_MODULE: string = "@opentelemetry/api";
const TRACER_NAME = "weftflow";

/** The loaded API, once {@link loadTracing} found it. */
let api: Api | undefined;
let loading: Promise<boolean> | undefined;

/**
 * Loads `@opentelemetry/api` if the application has it (once; later calls
 * share the first). Resolves whether it did; never rejects.
 */
export function loadTracing(): Promise<boolean> {
  loading ??= import(/* webpackIgnore: true */ /* @vite-ignore */ API_MODULE).then(
    (loaded: Api) => {
      // A module without the trace API is not the one we mean.
      if (typeof loaded?.trace?.getTracer !== "function") return false;
      api = loaded;
      return true;
    },
    () => false,
  );
  return loading;
}

/** A handler's span, open while the handler runs. */
export interface TaskSpan {
  /** Calls `call` with the span as the active context (and so its promise's continuations). */
  run<T>(call: () => T): T;
  /** Ends the span: `error` is recorded on it; `stopped` says the run was cancelled or the lease lost. */
  end(ending: { error?: unknown; stopped?: boolean }): void;
}

/**
 * Starts the span of `task`'s handler, child of the run's trace context;
 * undefined when the OpenTelemetry API is not loaded.
 */
export function startTaskSpan(task: Task): TaskSpan | undefined {
  const otel = api;
  if (otel === undefined) return undefined;
  const parent = parentContext(otel, task.traceContext);
  const span = otel.trace.getTracer(TRACER_NAME).startSpan(
    `weft.task ${task.agent}`,
    {
      kind: otel.SpanKind.CONSUMER,
      attributes: {
        "weft.run_id": task.runId,
        "weft.workflow_id": task.workflowId,
        "weft.step_id": task.stepId,
        "weft.task_id": task.taskId,
        "weft.agent": task.agent,
        "weft.attempt": task.attempt,
      },
    },
    parent,
  );
  const active = otel.trace.setSpan(parent, span);
  let ended = false;
  return {
    run: (call) => otel.context.with(active, call),
    end: ({ error, stopped }) => {
      if (ended) return;
      ended = true;
      if (error !== undefined) {
        span.recordException(error instanceof Error ? error : String(error));
        span.setStatus({ code: otel.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      }
      if (stopped) span.setAttribute("weft.stopped", true);
      span.end();
    },
  };
}

/**
 * The context the carrier names, over the root context (never the
 * worker's ambient one: a span around `worker.run()` is no task's parent).
 * The registered propagator first; when it finds no span context (none is
 * registered, or it reads another format), `traceparent` parsed here.
 */
function parentContext(otel: Api, carrier: { [key: string]: string }): Otel.Context {
  const root = otel.ROOT_CONTEXT;
  if (!carrier || Object.keys(carrier).length === 0) return root;
  let extracted = root;
  try {
    extracted = otel.propagation.extract(root, carrier);
  } catch {
    // A propagator that throws on bad input: treated as no context.
  }
  if (otel.trace.getSpanContext(extracted) !== undefined) return extracted;
  const remote = parseTraceparent(otel, carrier["traceparent"], carrier["tracestate"]);
  return remote ? otel.trace.setSpanContext(root, remote) : root;
}

/** `version-traceid-spanid-flags`, lowercase hex, as W3C Trace Context writes it. */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * A W3C `traceparent` (and `tracestate`) as a remote span context, or
 * undefined when it is malformed: version ff, a version 00 with more
 * fields, an all-zero trace or span id.
 */
function parseTraceparent(otel: Api, traceparent: string | undefined, tracestate: string | undefined): Otel.SpanContext | undefined {
  const match = TRACEPARENT.exec(traceparent?.trim() ?? "");
  if (!match) return undefined;
  const [, version, traceId = "", spanId = "", flags = "", rest] = match;
  if (version === "ff" || (version === "00" && rest !== undefined)) return undefined;
  const spanContext: Otel.SpanContext = { traceId, spanId, traceFlags: parseInt(flags, 16), isRemote: true };
  if (!otel.isSpanContextValid(spanContext)) return undefined;
  if (tracestate && typeof otel.createTraceState === "function") {
    try {
      spanContext.traceState = otel.createTraceState(tracestate);
    } catch {
      // A malformed tracestate is dropped; the traceparent still holds.
    }
  }
  return spanContext;
}

/** The methods whose calls start a run: they carry the caller's trace context. */
const RUN_STARTS: ReadonlySet<string> = new Set(["StartRun", "ExecuteWorkflow", "ExecuteWorkflowStream", "RetryRunFrom"]);

/**
 * Adds the active span's context as `traceparent` / `tracestate` headers to
 * the calls that start a run (when the OpenTelemetry API is there and a
 * span is active; a `traceparent` the application set is kept). Always the
 * W3C format, whatever propagator is registered: it is what the server
 * reads.
 */
export const traceInterceptor: Interceptor = (next) => async (request) => {
  if (!RUN_STARTS.has(request.method.name)) return next(request);
  // Read before any await, while the caller's context is the active one.
  let active = api?.context.active();
  if (active === undefined && (await loadTracing())) active = api?.context.active();
  const otel = api;
  if (otel !== undefined && active !== undefined && !request.header.has("traceparent")) {
    const span = otel.trace.getSpanContext(active);
    if (span !== undefined && otel.isSpanContextValid(span)) {
      const flags = (span.traceFlags & 0xff).toString(16).padStart(2, "0");
      request.header.set("traceparent", `00-${span.traceId}-${span.spanId}-${flags}`);
      const state = span.traceState?.serialize();
      if (state) request.header.set("tracestate", state);
    }
  }
  return next(request);
};
