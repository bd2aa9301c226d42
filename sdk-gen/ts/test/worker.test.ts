/**
 * The worker runtime against a live server: handlers complete tasks, a
 * thrown TaskError fails the step, and retryFrom reruns from a step.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { TaskError, Worker, fromValue, runStatusName, workflow } from "@weft/sdk";
import { client, collect, unique } from "./helpers.js";

test("a worker serves agent steps; a TaskError fails the run; retryFrom runs it again", async () => {
  const weft = client();
  const agent = unique("echo-agent");
  let failNext = true;
  const stop = new AbortController();
  const worker = new Worker(weft, { name: "node-test", concurrency: 2 })
    .agent(agent, async (task) => {
      if (task.input["mode"] === "flaky" && failNext) {
        failNext = false;
        throw new TaskError("upstream down", false, "UPSTREAM_DOWN");
      }
      return { output: { echoed: task.text, company: task.input["company"] ?? null }, cost: 7 };
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(
      workflow(unique("worked"))
        .step({ id: "first", agent, task: "hello {{ input.company }}", inputMap: { company: "$.input.company", mode: "$.input.mode" } })
        .step({ id: "second", agent, dependsOn: ["first"], task: "again", inputMap: { company: "$.first.output.company" } }),
    );
    const run = await wf.run({ input: { company: "Acme", mode: "steady" } });
    const events = await collect(weft.workflows.streamRun(run.id));
    assert.equal(events.at(-1)?.type, "run.completed");
    const done = await weft.workflows.getRun(run.id);
    assert.deepEqual(fromValue(done.steps.find((s) => s.id === "first")?.output), { echoed: "hello Acme", company: "Acme" });
    assert.equal(done.cost?.amount, 14n);

    const flaky = await wf.run({ input: { company: "Beta", mode: "flaky" } });
    const flakyEvents = await collect(weft.workflows.streamRun(flaky.id));
    assert.equal(flakyEvents.at(-1)?.type, "run.failed");
    const failed = await weft.workflows.getRun(flaky.id);
    assert.equal(runStatusName(failed.status), "failed");
    assert.match(failed.steps.find((s) => s.id === "first")?.error ?? "", /upstream down/);

    const retried = await weft.workflows.retryFrom(flaky.id, "first");
    await collect(weft.workflows.streamRun(retried.id));
    assert.equal(runStatusName((await weft.workflows.getRun(retried.id)).status), "completed");
  } finally {
    stop.abort();
    await worker;
  }
});

test("a worker never holds more tasks than its concurrency, and uses all of it", async () => {
  const weft = client();
  const agent = unique("busy-agent");
  let active = 0;
  let most = 0;
  const stop = new AbortController();
  const worker = new Worker(weft, { concurrency: 2 })
    .agent(agent, async () => {
      active += 1;
      most = Math.max(most, active);
      await new Promise((resolve) => setTimeout(resolve, 150));
      active -= 1;
      return { output: { ok: true } };
    })
    .run(stop.signal);
  try {
    const branches = Array.from({ length: 6 }, (_, i) => ({ id: `b${i}`, agent, task: "work" }));
    const wf = await weft.workflows.create(workflow(unique("fan")).step({ id: "fan", type: "parallel", steps: branches }));
    const run = await wf.run({ input: {} });
    const events = await collect(weft.workflows.streamRun(run.id));
    assert.equal(events.at(-1)?.type, "run.completed");
    assert.equal(most, 2);
  } finally {
    stop.abort();
    await worker;
  }
});
