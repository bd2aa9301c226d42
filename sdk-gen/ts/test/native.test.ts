/**
 * What the client hands back is plain data: string statuses, JSON values,
 * Dates, seconds and {amount, currency}, with the generated message kept
 * out of sight at `.raw`, so printing a run shows what a person reads.
 */
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { test } from "node:test";
import { DeadlineExceededError, RunStatus, StepStatus, Worker, workflow, type JsonObject } from "weftflow";
import { client, collect, unique } from "./helpers.js";

test("a finished run is native: status 'completed', output {x: 1}", async () => {
  const weft = client();
  const wf = await weft.workflows.create(workflow(unique("native")).transform({ id: "copy", output: { x: "$.input.x" } }));
  const started = await wf.run({ input: { x: 1 } });
  await collect(weft.runs.stream(started.id));
  const run = await weft.runs.get(started.id);

  assert.equal(run.status, "completed");
  assert.equal(run.status, RunStatus.COMPLETED);
  assert.deepEqual(run.output, { x: 1 });
  assert.deepEqual(run.input, { x: 1 });
  assert.equal(run.workflowId, wf.id);
  assert.ok(run.createdAt instanceof Date && run.completedAt instanceof Date);
  assert.ok(run.completedAt.getTime() >= run.createdAt.getTime());
  assert.equal(typeof run.duration, "number");
  assert.equal(run.error, null);
  assert.equal(run.pendingAction, null);

  const [step] = run.steps;
  assert.equal(step?.id, "copy");
  assert.equal(step?.status, StepStatus.COMPLETED);
  assert.deepEqual(step?.output, { x: 1 });
  assert.equal(step?.waitingFor, "");
  assert.ok(step?.startedAt instanceof Date);
  assert.equal(step?.input, null, "the engine ran the transform: no task input");
  assert.equal(step?.workerId, "", "and no worker");

  // The generated message is there, but neither JSON nor logs show it.
  assert.equal(run.raw.$typeName, "weft.v1.Run");
  assert.equal(step?.raw.$typeName, "weft.v1.StepRun");
  const json = JSON.stringify(run);
  assert.doesNotMatch(json, /\$typeName|"raw"|"kind"/);
  assert.deepEqual(JSON.parse(json).output, { x: 1 });
  assert.match(JSON.parse(json).createdAt, /^\d{4}-\d\d-\d\dT/);
  const printed = inspect(run, { depth: 4 });
  assert.doesNotMatch(printed, /\$typeName|raw:/);
  assert.match(printed, /status: 'completed'/);
});

test("events, workflows and versions are native too", async () => {
  const weft = client();
  const name = unique("native-wf");
  const wf = await weft.workflows.create(
    workflow(name)
      .description("native")
      .policy({ maxTotalCost: { amount: 500, currency: "usd" } })
      .transform({ id: "copy", output: { x: "$.input.x" } }),
  );
  assert.equal(wf.status, "active");
  assert.equal(wf.version, 1);
  assert.deepEqual(wf.steps, [{ id: "copy", type: "transform", output: { x: "$.input.x" } }]);
  assert.deepEqual(wf.policy?.maxTotalCost, { amount: 500, currency: "usd" });
  assert.equal(wf.onFailure, "stop");
  assert.ok(wf.createdAt instanceof Date);
  assert.doesNotMatch(JSON.stringify(wf), /\$typeName|"raw"|"run"/);
  assert.equal(typeof wf.run, "function");

  const run = await wf.run({ input: { x: 2 } });
  const events = await collect(weft.workflows.streamRun(run.id));
  assert.deepEqual(events.map((e) => e.sequence), events.map((_, i) => i + 1), "sequences are numbers, 1, 2, 3…");
  const completed = events.at(-1);
  assert.equal(completed?.type, "run.completed");
  assert.equal(completed?.status, "completed");
  assert.deepEqual(completed?.output, { x: 2 });
  assert.ok(completed?.timestamp instanceof Date);
  assert.equal(completed?.raw.$typeName, "weft.v1.RunEvent");

  const [version] = await weft.workflows.versions(wf.id);
  assert.equal(version?.version, 1);
  assert.ok(version?.createdAt instanceof Date);
  assert.equal((await weft.workflows.getVersion(wf.id, 1)).name, name);
});

test("an approval is native: kind, status and decision as strings", async () => {
  const weft = client();
  const wf = await weft.workflows.create(
    workflow(unique("native-approval")).approval({ id: "gate", action: "ship", timeout: "1h", defaultAction: "deny" }),
  );
  const run = await wf.run({ input: {} });
  for await (const event of weft.runs.stream(run.id)) {
    if (event.type !== "approval.pending") continue;
    const paused = await weft.runs.get(run.id);
    assert.equal(paused.status, "paused");
    assert.equal(paused.pendingAction?.type, "approval");
    const [pending] = await weft.approvals.list({ runId: run.id, status: "pending" });
    assert.ok(pending);
    assert.equal(pending.kind, "step");
    assert.equal(pending.status, "pending");
    assert.equal(pending.decision, null);
    assert.equal(pending.defaultAction, "deny");
    assert.equal(pending.id, paused.pendingAction?.approvalId);
    const decided = await weft.approvals.approve(pending.id, { decidedBy: "native test" });
    assert.equal(decided.status, "approved");
    assert.equal(decided.decision, "approve");
    assert.ok(decided.decidedAt instanceof Date);
  }
  assert.equal((await weft.runs.get(run.id)).status, "completed");
});

test("execute waits for the end and answers the native run; its timeout is typed and carries the run id", async () => {
  const weft = client();
  const wf = await weft.workflows.create(workflow(unique("execute")).transform({ id: "copy", output: { x: "$.input.x" } }));
  const run = await wf.execute({ input: { x: 3 }, timeoutSeconds: 30 });
  assert.equal(run.status, "completed");
  assert.deepEqual(run.output, { x: 3 });

  const agent = unique("absent-agent");
  const stuck = await weft.workflows.create(workflow(unique("execute-stuck")).agent({ id: "ask", agent, task: "t" }));
  const timedOut = await weft.workflows.execute(stuck.name, { input: {}, timeoutSeconds: 1, cancelOnTimeout: true }).catch((e: unknown) => e);
  assert.ok(timedOut instanceof DeadlineExceededError, `DeadlineExceededError expected, got ${String(timedOut)}`);
  assert.equal(timedOut.reason, "EXECUTION_TIMEOUT");
  const runId = timedOut.metadata["runId"] ?? "";
  assert.match(runId, /^wfrun_/);
  assert.equal((await weft.runs.get(runId)).status, "cancelled");
});

test("an agent step names its worker and the input the worker was handed", async () => {
  const weft = client();
  const agent = unique("native-agent");
  const workerId = unique("native-worker");
  const handed: JsonObject[] = [];
  const stop = new AbortController();
  const worker = new Worker(weft, { id: workerId, name: "native-test" })
    .agent(agent, (task) => {
      handed.push(task.input);
      return { ok: true };
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(
      workflow(unique("native-worked")).agent({ id: "ask", agent, task: "t", inputMap: { company: "$.input.company" } }),
    );
    const started = await wf.run({ input: { company: "Acme" } });
    await collect(weft.runs.stream(started.id));
    const ask = (await weft.runs.get(started.id)).steps.find((s) => s.id === "ask");
    assert.equal(ask?.status, "completed");
    assert.equal(ask?.workerId, workerId);
    assert.deepEqual(handed, [{ company: "Acme" }]);
    assert.deepEqual(ask?.input, handed[0], "the step's input is what the worker got");
  } finally {
    stop.abort();
    await worker;
  }
});
