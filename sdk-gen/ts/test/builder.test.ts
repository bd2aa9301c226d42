/** The builder makes the messages the documents describe, and stored steps read back as its specs (no server). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { FailureMode } from "weftflow/gen/weft/v1/workflow_pb";
import { fromValue, workflow } from "weftflow";
// Not exported by the package: the reading side of what the builder writes.
import { fromStep } from "../src/native-workflow.js";

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

test("one builder method per step kind, its type implied", () => {
  const item = { id: "one", agent: "y", task: "{{ item }}" };
  const built = workflow("kinds")
    .agent({ id: "agent", agent: "a", task: "t" })
    .planner({ id: "planner", agent: "p", task: "plan" })
    .parallel({ id: "parallel", steps: [{ id: "b1", agent: "a", task: "t" }] })
    .map({ id: "map", over: "$.input.items", step: item })
    .loop({ id: "loop", step: item, maxIterations: 3, untilCondition: "$.loop.output.done == true" })
    .delay({ id: "delay", duration: 5 })
    .approval({ id: "approval", action: "ship" })
    .wait({ id: "wait", event: "signed" })
    .webhook({ id: "webhook", url: "https://example.com/hook" })
    .httpRequest({ id: "http", url: "https://example.com/api", method: "GET" })
    .script({ id: "script", language: "python", script: "print(1)" })
    .condition({ id: "condition", expression: "$.input.n > 1" })
    .transform({ id: "transform", output: { n: "$.input.n" } })
    .build();
  assert.deepEqual(
    built.steps.map((s) => [s.id, s.type]),
    [
      ["agent", "agent"],
      ["planner", "planner"],
      ["parallel", "parallel"],
      ["map", "map"],
      ["loop", "loop"],
      ["delay", "delay"],
      ["approval", "approval"],
      ["wait", "wait"],
      ["webhook", "webhook"],
      ["http", "http_request"],
      ["script", "script"],
      ["condition", "condition"],
      ["transform", "transform"],
    ],
  );
  assert.equal(built.steps[4]?.untilCondition, "$.loop.output.done == true");

  // What each kind cannot do without is required by the types: these lines
  // must not compile (tsc fails the build if they ever do).
  // @ts-expect-error an agent step needs its agent
  workflow("w").agent({ id: "a", task: "t" });
  // @ts-expect-error a map step needs the step run per item
  workflow("w").map({ id: "m", over: "$.input.items" });
  // @ts-expect-error a wait step needs the event it waits for
  workflow("w").wait({ id: "w" });
});

test("a stored workflow's steps read back in the shape the builder takes", () => {
  const spec = {
    id: "loop",
    type: "loop" as const,
    dependsOn: ["first"],
    step: { id: "again", agent: "y", task: "t", type: "agent" as const },
    maxIterations: 3,
    whileCondition: "$.loop.output.more == true",
    body: { n: 1 },
  };
  const step = workflow("w").step(spec).build().steps[0];
  assert.ok(step);
  assert.deepEqual(fromStep(step), spec, "JSON's `while` reads back as whileCondition; defaults are left out");
});
