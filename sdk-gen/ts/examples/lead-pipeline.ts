/**
 * The lead pipeline from TypeScript: apply it (create, or update by name)
 * with the builder, estimate it, run it with a worker (in this process),
 * print its events as they stream, approve the CRM update through the API
 * when the run pauses for it, and exit 0 only if the run completed.
 *
 *   WEFT_URL=http://127.0.0.1:7070 node dist/examples/lead-pipeline.js Stripe https://stripe.com
 *
 * `--no-worker` leaves the agents to a worker elsewhere (dist/examples/worker.js).
 */
import { Weft, formatMoney } from "weftflow";
import { leadPipelineWorker } from "./agents.js";
import { leadPipeline } from "./pipeline.js";

/** Approves what the run waits on (its pending action) as this example. */
async function approvePending(weft: Weft, runId: string): Promise<void> {
  const pending = (await weft.workflows.getRun(runId)).pendingAction;
  if (!pending) return;
  console.log(`  approving ${pending.type} on step ${pending.step} (${pending.message})`);
  await weft.runs.resume(runId, { step: pending.step, input: { option: "approve", decidedBy: "lead-pipeline example" } });
}

async function main(): Promise<boolean> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
  const [company = "Stripe", website = "https://stripe.com"] = args;
  const weft = new Weft({ baseUrl: process.env.WEFT_URL ?? "http://127.0.0.1:7070", transport: "grpc" });

  const stop = new AbortController();
  const worker = process.argv.includes("--no-worker") ? Promise.resolve() : leadPipelineWorker(weft).run(stop.signal);
  try {
    // By name: the first run creates it, later ones find it (a new version
    // only if the definition changed).
    const { workflow: wf, outcome } = await weft.workflows.apply(leadPipeline());
    console.log(`${outcome} ${wf.id} version ${wf.version}`);

    const input = { company, website };
    const estimate = await weft.workflows.estimate(wf.id, { input });
    console.log(`estimate: ${estimate.agentCallsMin}..${estimate.agentCallsMax} agent calls, cost ${formatMoney(estimate.minCost)} to ${formatMoney(estimate.maxCost)}`);

    const run = await wf.run({ userId: "user_456", input });
    console.log(`run ${run.id} started`);
    for await (const event of weft.workflows.streamRun(run.id)) {
      console.log(`  #${event.sequence} ${event.type}${event.stepId ? ` ${event.stepId}` : ""}`);
      if (event.type === "approval.pending") await approvePending(weft, run.id);
    }

    const done = await weft.workflows.getRun(run.id);
    const status = done.status;
    console.log(`run ${status}, total cost ${formatMoney(done.cost)}, output ${JSON.stringify(done.output)}`);
    return status === "completed";
  } finally {
    stop.abort();
    await worker;
  }
}

main().then(
  (ok) => process.exit(ok ? 0 : 1),
  (error: unknown) => {
    console.error("lead-pipeline:", error);
    process.exit(1);
  },
);
