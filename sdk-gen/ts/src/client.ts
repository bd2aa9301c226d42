/**
 * `Weft`: the client. One transport, shared by a typed client per service,
 * behind the documented surface: `weft.workflows.*` (definitions and, as
 * the documents write them, runs), `weft.runs`, `weft.approvals`,
 * `weft.schedules`, `weft.templates`, `weft.triggers` and `weft.workers`. Every failure rejects with a typed {@link WeftError}.
 *
 * ```ts
 * const weft = new Weft({ baseUrl: "http://127.0.0.1:7070", transport: "grpc" });
 * const wf = await weft.workflows.create(workflow("w").step({...}).build());
 * const run = await wf.run({ userId: "u1", input: { website: "https://acme.com" } });
 * for await (const event of weft.workflows.streamRun(run.id)) console.log(event.type);
 * ```
 */
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { defaultTransportKind, makeTransport, type TransportKind } from "#transport";
import { traceInterceptor } from "./tracing.js";
import { ApprovalService } from "./gen/weft/v1/approval_service_pb.js";
import { RunService } from "./gen/weft/v1/run_service_pb.js";
import { ScheduleService } from "./gen/weft/v1/schedule_service_pb.js";
import { TemplateService } from "./gen/weft/v1/template_service_pb.js";
import { TriggerService } from "./gen/weft/v1/trigger_service_pb.js";
import { WorkerService } from "./gen/weft/v1/worker_service_pb.js";
import { WorkflowService } from "./gen/weft/v1/workflow_service_pb.js";
import { Approvals } from "./approvals.js";
import { Runs } from "./runs.js";
import { Schedules } from "./schedules.js";
import { Templates } from "./templates.js";
import { Triggers } from "./triggers.js";
import { Workers } from "./workers.js";
import { Workflows } from "./workflows.js";

export type { TransportKind };

/** How to reach a Weft server. */
export interface WeftOptions {
  /** `http://host:port` of the server (gRPC, gRPC-web and REST share it). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>` on every call. */
  apiKey?: string;
  /**
   * "grpc" (Node, HTTP/2; the default there), "grpc-web" (browsers, the
   * default there; also works in Node), or a ready Connect transport.
   */
  transport?: TransportKind | Transport;
  /** Extra headers for every call (e.g. `x-request-id`). */
  headers?: Record<string, string>;
}

/** The generated Connect clients, for anything the layer does not wrap. */
export interface RawClients {
  readonly workflows: Client<typeof WorkflowService>;
  readonly runs: Client<typeof RunService>;
  readonly workers: Client<typeof WorkerService>;
  readonly approvals: Client<typeof ApprovalService>;
  readonly schedules: Client<typeof ScheduleService>;
  readonly templates: Client<typeof TemplateService>;
  readonly triggers: Client<typeof TriggerService>;
}

/**
 * Whether a client's transport can stream requests (gRPC over HTTP/2):
 * true for "grpc", false for "grpc-web", absent for a transport given
 * ready-made. The worker streams only where it can. Not exported by the
 * package.
 */
export const transportStreams = new WeakMap<Weft, boolean>();

/** A connection to one Weft server. */
export class Weft {
  /** Workflow definitions, versions, and the documented run methods. */
  readonly workflows: Workflows;
  /** Runs: read, list, cancel, retry, resume, stream. */
  readonly runs: Runs;
  /** Human approvals of approval steps and gated tools. */
  readonly approvals: Approvals;
  /** Cron schedules that start runs. */
  readonly schedules: Schedules;
  /** Ready-made definitions, built in or saved, and installing them. */
  readonly templates: Templates;
  /** Deploying workflows and arming their webhooks. */
  readonly triggers: Triggers;
  /** Registered workers, and agents whose tasks wait for one. */
  readonly workers: Workers;
  /** The generated clients, one per service. */
  readonly raw: RawClients;

  constructor(options: WeftOptions) {
    const transport = typeof options.transport === "object"
      ? options.transport
      : makeTransport(options.transport ?? defaultTransportKind, options.baseUrl.replace(/\/+$/, ""), headerInterceptors(options));
    if (typeof options.transport !== "object") transportStreams.set(this, (options.transport ?? defaultTransportKind) === "grpc");
    this.raw = {
      workflows: createClient(WorkflowService, transport),
      runs: createClient(RunService, transport),
      workers: createClient(WorkerService, transport),
      approvals: createClient(ApprovalService, transport),
      schedules: createClient(ScheduleService, transport),
      templates: createClient(TemplateService, transport),
      triggers: createClient(TriggerService, transport),
    };
    this.runs = new Runs(this.raw.runs);
    this.workflows = new Workflows(this.raw.workflows, this.runs);
    this.approvals = new Approvals(this.raw.approvals);
    this.schedules = new Schedules(this.raw.schedules);
    this.templates = new Templates(this.raw.templates);
    this.triggers = new Triggers(this.raw.triggers);
    this.workers = new Workers(this.raw.workers);
  }
}

function headerInterceptors(options: WeftOptions): Interceptor[] {
  const headers: [string, string][] = Object.entries(options.headers ?? {});
  if (options.apiKey) headers.push(["authorization", `Bearer ${options.apiKey}`]);
  // The caller's trace context on the calls that start a run (tracing.ts);
  // after the fixed headers, so a traceparent given there wins.
  if (headers.length === 0) return [traceInterceptor];
  return [
    (next) => (request) => {
      for (const [name, value] of headers) request.header.set(name, value);
      return next(request);
    },
    traceInterceptor,
  ];
}
