/**
 * The page the browser test loads (bundled by esbuild for the browser):
 * the SDK over gRPC-web against the live server on another origin (so CORS
 * is exercised too). It runs the scenario and leaves its findings in
 * `window.weftResult` for the test to read.
 */
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnimplementedError,
  typed,
  Weft,
  workflow,
} from "weftflow";

interface Findings {
  workflowId: string;
  version: number;
  updatedVersion: number;
  streamed: { sequence: number; type: string; stepId: string }[];
  sawApprovalPending: boolean;
  status: string;
  output: unknown;
  notFound: string;
  invalidViolations: number;
  invalidReason: string;
  failedPrecondition: string;
  unimplemented: boolean;
  userAgent: string;
}

declare global {
  interface Window {
    weftResult?: { ok: true; findings: Findings } | { ok: false; error: string };
  }
}

async function scenario(server: string): Promise<Findings> {
  const weft = new Weft({ baseUrl: server, transport: "grpc-web" });
  const name = `browser-${Date.now().toString(36)}`;
  const wf = await weft.workflows.create(
    workflow(name)
      .inputSchema({ type: "object", required: ["company"] })
      .transform({ id: "shape", output: { company: "$.input.company" } })
      .step({ id: "gate", type: "approval", action: "publish", dependsOn: ["shape"], timeout: "1h", defaultAction: "deny" })
      .transform({ id: "done", dependsOn: ["gate"], output: { company: "$.shape.output.company", decision: "$.gate.output.decision" } }),
  );
  const updated = await weft.workflows.update(wf.id, { description: "from the browser" });
  const run = await wf.run({ userId: "browser", input: { company: "Acme" } });

  // Live: the run pauses at the approval while we are subscribed; it is
  // decided from inside the loop, and the stream carries on to the end.
  const streamed: Findings["streamed"] = [];
  let sawApprovalPending = false;
  for await (const event of weft.workflows.streamRun(run.id)) {
    streamed.push({ sequence: Number(event.sequence), type: event.type, stepId: event.stepId });
    if (event.type === "approval.pending") {
      sawApprovalPending = true;
      const [pending] = await weft.approvals.list({ runId: run.id, status: "pending" });
      if (!pending) throw new Error("no pending approval listed");
      await weft.approvals.approve(pending.id, { decidedBy: "chromium" });
    }
  }
  const done = await weft.workflows.getRun(run.id);

  const notFound = await weft.workflows.getRun("wfrun_missing").then(
    () => "resolved",
    (e: unknown) => (e instanceof NotFoundError ? `NotFoundError:${e.reason}` : String(e)),
  );
  let invalidViolations = -1;
  let invalidReason = "";
  await weft.workflows.create(workflow("bad").step({ id: "a", agent: "x", task: "t", dependsOn: ["ghost"] })).catch((e: unknown) => {
    if (e instanceof InvalidArgumentError) {
      invalidViolations = e.fieldViolations.length;
      invalidReason = e.reason;
    }
  });
  const failedPrecondition = await weft.workflows.cancelRun(run.id).then(
    () => "resolved",
    (e: unknown) => (e instanceof FailedPreconditionError ? `FailedPreconditionError:${e.reason}` : String(e)),
  );
  // Served at its REST binding only: UNIMPLEMENTED over gRPC-web.
  const unimplemented = await typed(weft.raw.triggers.deliverCallback({ token: "t" })).then(
    () => false,
    (e: unknown) => e instanceof UnimplementedError,
  );
  return {
    workflowId: wf.id,
    version: wf.version,
    updatedVersion: updated.version,
    streamed,
    sawApprovalPending,
    status: done.status,
    output: done.output,
    notFound,
    invalidViolations,
    invalidReason,
    failedPrecondition,
    unimplemented,
    userAgent: navigator.userAgent,
  };
}

const server = new URLSearchParams(location.search).get("server") ?? "";
scenario(server).then(
  (findings) => {
    window.weftResult = { ok: true, findings };
    document.body.textContent = "done";
  },
  (error: unknown) => {
    window.weftResult = { ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
    document.body.textContent = "failed";
  },
);
