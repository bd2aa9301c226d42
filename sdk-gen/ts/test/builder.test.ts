/** The builder makes the messages the documents describe (no server). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FailureMode } from "weftflow/gen/weft/v1/workflow_pb";
import { fromValue, workflow } from "weftflow";

test("steps carry what each call sets", () => {
  const built = workflow("w")
    .inputSchema({ type: "object" })
    .policy({ allowTools: ["web_search"], maxTotalCost: { amount: 1000, currency: "usd" } })
    .step({ id: "research", type: "parallel", steps: [{ id: "a", agent: "x", task: "t" }] })
    .transform({ id: "shape", dependsOn: ["research"], output: { a: "$.a.output" } })
    .step({ id: "each", type: "map", over: "$.shape.output.items", as: "item", concurrency: 3, step: { id: "one", agent: "y", task: "{{ item }}" } })
    .condition({ id: "route", expression: "$.shape.output.n > 1", onTrue: { next: "each" }, onFalse: { next: "stop" } })
    .step({ id: "hook", type: "webhook", url: "https://example.com", body: { n: 1 } })
    .step({ id: "score", agent: "s", task: "t", onStepFailure: { action: "goto", target: "fb" }, retries: 2 })
    .onFailure("continue")
    .build();
  assert.equal(built.name, "w");
  assert.equal(built.inputSchema?.["type"], "object");
  assert.equal(built.policy?.maxTotalCost?.amount, 1000n);
  assert.equal(built.steps[0]?.steps[0]?.type, "agent", "type defaults to agent");
  assert.equal(built.steps[1]?.type, "transform");
  assert.equal(built.steps[1]?.output["a"], "$.a.output");
  assert.equal(built.steps[2]?.step?.task, "{{ item }}");
  assert.equal(built.steps[3]?.type, "condition");
  assert.equal(built.steps[3]?.onFalse?.next, "stop");
  assert.deepEqual(fromValue(built.steps[4]?.body), { n: 1 });
  assert.equal(built.steps[5]?.onStepFailure?.target, "fb");
  assert.equal(built.onFailure, FailureMode.CONTINUE);
});
