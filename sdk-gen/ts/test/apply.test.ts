/**
 * Workflows addressed by name: `apply` creates, updates only when the
 * definition changed (a new version), and otherwise leaves the workflow as
 * it was (same version); runs start by name; a second create of a taken
 * name is refused.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AlreadyExistsError, workflow } from "weftflow";
import { client, collect, unique } from "./helpers.js";

const definition = (name: string, field: string) => workflow(name).transform({ id: "copy", output: { [field]: "$.input.x" } });

test("apply creates, is a no-op for the same definition, and bumps the version for a changed one", async () => {
  const weft = client();
  const name = unique("applied");

  const first = await weft.workflows.apply(definition(name, "x"));
  assert.equal(first.outcome, "created");
  assert.equal(first.workflow.version, 1);
  assert.match(first.workflow.id, /^wf_/);
  assert.equal(first.workflow.name, name);

  const again = await weft.workflows.apply(definition(name, "x"));
  assert.equal(again.outcome, "unchanged");
  assert.equal(again.workflow.id, first.workflow.id);
  assert.equal(again.workflow.version, 1, "an unchanged definition keeps its version");

  const changed = await weft.workflows.apply(definition(name, "y"));
  assert.equal(changed.outcome, "updated");
  assert.equal(changed.workflow.id, first.workflow.id);
  assert.equal(changed.workflow.version, 2);
  assert.deepEqual(changed.workflow.steps[0]?.output, { y: "$.input.x" });
  assert.deepEqual((await weft.workflows.versions(first.workflow.id)).map((v) => v.version), [2, 1]);
});

test("a workflow is found and run by name", async () => {
  const weft = client();
  const name = unique("by-name");
  const { workflow: wf } = await weft.workflows.apply(definition(name, "x"));
  assert.equal((await weft.workflows.get(name)).id, wf.id);
  const run = await weft.workflows.run(name, { input: { x: 7 } });
  assert.equal(run.workflowId, wf.id);
  await collect(weft.runs.stream(run.id));
  const done = await weft.runs.get(run.id);
  assert.equal(done.status, "completed");
  assert.deepEqual(done.output, { x: 7 });
});

test("creating a second workflow with a taken name is ALREADY_EXISTS", async () => {
  const weft = client();
  const name = unique("taken");
  await weft.workflows.create(definition(name, "x"));
  await assert.rejects(weft.workflows.create(definition(name, "x")), AlreadyExistsError);
});
