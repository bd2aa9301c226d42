/**
 * The TypeScript client over gRPC (connect-node) against a live server:
 * definitions and versions, runs and their streams, approvals, and the
 * typed errors (schedules, templates and triggers: starters.test.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  RunStatus,
  UnimplementedError,
  Weft,
  WeftError,
  typed,
  workflow,
} from "weftflow";
import { client, collect, pureWorkflow, serverUrl, unique } from "./helpers.js";

test("workflows: create, get, list, update, versions, diff, rollback, delete", async () => {
  const weft = client();
  const name = unique("crud");
  const created = await weft.workflows.create(pureWorkflow(name).description("first"));
  assert.match(created.id, /^wf_/);
  assert.equal(created.version, 1);
  assert.equal(created.steps[0]?.type, "transform");

  const got = await weft.workflows.get(created.id);
  assert.equal(got.name, name);
  assert.deepEqual(got.inputSchema?.["required"], ["company"]);
  const listed = await weft.workflows.list({ limit: 500 });
  assert.ok(listed.some((w) => w.id === created.id), "the new workflow is listed");

  const renamed = await weft.workflows.update(created.id, { name: `${name}-v2` }, { expectedVersion: 1 });
  assert.equal(renamed.version, 2);
  assert.equal(renamed.name, `${name}-v2`);
  assert.equal(renamed.steps.length, 1, "an update without those fields keeps the steps");

  const versions = await weft.workflows.versions(created.id);
  assert.deepEqual(versions.map((v) => v.version), [2, 1], "newest first");
  const diff = await weft.workflows.diff(created.id, 1, 2);
  assert.ok(diff.diff.some((op) => op.path === "/name"), "the diff names the renamed field");

  const rolled = await weft.workflows.rollback(created.id, 1, "back to the first name");
  assert.equal(rolled.version, 3);
  assert.equal(rolled.name, name);
  assert.equal((await weft.workflows.getVersion(created.id, 2)).name, `${name}-v2`);

  await weft.workflows.delete(created.id);
  await assert.rejects(weft.workflows.get(created.id), NotFoundError);
});

test("validate lists every problem without storing anything", async () => {
  const weft = client();
  const bad = workflow(unique("bad"))
    .step({ id: "a", agent: "x", task: "t", dependsOn: ["missing"] })
    .step({ id: "a", agent: "x", task: "t" });
  const answer = await weft.workflows.validate(bad);
  assert.equal(answer.valid, false);
  assert.ok(answer.problems.length >= 2, `two problems expected, got ${JSON.stringify(answer.problems)}`);
  assert.equal((await weft.workflows.validate(pureWorkflow())).valid, true);
});

test("typed errors: not found, invalid argument with field violations, failed precondition, unimplemented", async () => {
  const weft = client();

  const missing = await weft.workflows.getRun("wfrun_doesnotexist").catch((e: unknown) => e);
  assert.ok(missing instanceof NotFoundError, `NotFoundError expected, got ${String(missing)}`);
  assert.ok(missing instanceof WeftError);
  assert.equal(missing.domain, "weft.dev");
  assert.match(missing.reason, /NOT_FOUND$/);

  const before = (await weft.workflows.list({ limit: 1000 })).length;
  const invalid = await weft.workflows
    .create(workflow(unique("invalid")).step({ id: "a", agent: "x", task: "t", dependsOn: ["ghost"] }))
    .catch((e: unknown) => e);
  assert.ok(invalid instanceof InvalidArgumentError, `InvalidArgumentError expected, got ${String(invalid)}`);
  assert.equal(invalid.reason, "VALIDATION_ERROR");
  assert.ok(invalid.fieldViolations.length >= 1);
  assert.ok(invalid.fieldViolations.some((v) => v.field.includes("dependsOn") || v.description.includes("ghost")), JSON.stringify(invalid.fieldViolations));
  assert.equal((await weft.workflows.list({ limit: 1000 })).length, before, "nothing was stored");

  const wf = await weft.workflows.create(pureWorkflow());
  const schemaMiss = await wf.run({ input: { website: "https://acme.com" } }).catch((e: unknown) => e);
  assert.ok(schemaMiss instanceof InvalidArgumentError);
  assert.equal(schemaMiss.reason, "INPUT_SCHEMA_VIOLATION");
  assert.ok(schemaMiss.fieldViolations.length >= 1);

  const run = await wf.run({ input: { company: "Acme" } });
  await collect(weft.workflows.streamRun(run.id));
  const finished = await weft.workflows.cancelRun(run.id).catch((e: unknown) => e);
  assert.ok(finished instanceof FailedPreconditionError, `FailedPreconditionError expected, got ${String(finished)}`);
  assert.equal(finished.reason, "RUN_NOT_ACTIVE");

  // DeliverCallback is served at its REST binding only: over gRPC it is
  // UNIMPLEMENTED, which the layer types.
  const unbuilt = await typed(weft.raw.triggers.deliverCallback({ token: "t" })).catch((e: unknown) => e);
  assert.ok(unbuilt instanceof UnimplementedError, `UnimplementedError expected, got ${String(unbuilt)}`);
});

test("runs: start, stream to the end, get, list, estimate, events, resume from a sequence", async () => {
  const weft = client();
  const wf = await weft.workflows.create(pureWorkflow());
  const estimate = await weft.workflows.estimate(wf.id, { input: { company: "Acme" } });
  assert.equal(estimate.stepCount, 1);

  const run = await wf.run({ userId: "user_1", input: { company: "Acme", website: "https://acme.com" } });
  assert.match(run.id, /^wfrun_/);
  const events = await collect(weft.workflows.streamRun(run.id));
  const types = events.map((e) => e.type);
  assert.equal(types[0], "run.started");
  assert.equal(types.at(-1), "run.completed");
  assert.ok(types.includes("step.completed"));
  assert.deepEqual(events.map((e) => Number(e.sequence)), events.map((_, i) => i + 1), "sequences have no gap");
  const stepDone = events.find((e) => e.type === "step.completed" && e.stepId === "shape");
  assert.deepEqual(stepDone?.output, { company: "Acme", site: "https://acme.com" });

  const got = await weft.workflows.getRun(run.id);
  assert.equal(got.status, RunStatus.COMPLETED);
  assert.equal(got.status, "completed");
  const listed = await weft.workflows.listRuns(wf.id, { status: "completed" });
  assert.deepEqual(listed.map((r) => r.id), [run.id]);
  assert.equal((await weft.runs.events(run.id)).length, events.length);

  const tail = await collect(weft.runs.stream(run.id, { afterSequence: 2 }));
  assert.deepEqual(tail.map((e) => Number(e.sequence)), events.slice(2).map((e) => Number(e.sequence)));

  await assert.rejects(collect(weft.runs.stream("wfrun_nope")), NotFoundError);
});

test("approvals: an approval step pauses the run until decided through the API", async () => {
  const weft = client();
  const wf = await weft.workflows.create(
    workflow(unique("approve"))
      .step({ id: "gate", type: "approval", action: "send_email", timeout: "1h", defaultAction: "deny" })
      .transform({ id: "after", dependsOn: ["gate"], output: { decided: "$.gate.output.decision" } }),
  );
  const run = await wf.run({ input: {} });
  const seen: string[] = [];
  for await (const event of weft.workflows.streamRun(run.id)) {
    seen.push(event.type);
    if (event.type === "approval.pending") {
      const [pending] = await weft.approvals.list({ runId: run.id, status: "pending" });
      assert.ok(pending, "the pending approval is listed");
      assert.equal(pending.action, "send_email");
      assert.equal((await weft.approvals.get(pending.id)).id, pending.id);
      const decided = await weft.approvals.approve(pending.id, { decidedBy: "node test", comment: "fine" });
      assert.equal(decided.decidedBy, "node test");
    }
  }
  assert.ok(seen.includes("approval.decided"));
  const done = await weft.workflows.getRun(run.id);
  assert.equal(done.status, "completed");
  await assert.rejects(weft.approvals.get("apr_nope"), NotFoundError);
});

test("the same client over gRPC-web from Node (HTTP/1.1)", async () => {
  const weft = new Weft({ baseUrl: serverUrl(), transport: "grpc-web" });
  const wf = await weft.workflows.create(pureWorkflow());
  const run = await wf.run({ input: { company: "Acme" } });
  const events = await collect(weft.workflows.streamRun(run.id));
  assert.equal(events.at(-1)?.type, "run.completed");
  const missing = await weft.workflows.get("wf_missing").catch((e: unknown) => e);
  assert.ok(missing instanceof NotFoundError);
  assert.equal(missing.reason, "WORKFLOW_NOT_FOUND");
});
