/**
 * A run whose agent nobody serves says so: its step is "ready" (not
 * "running"), and once it has waited past the server's `[tasks]
 * unclaimed_after` (default 10 s, the setting scripts/test-sdks runs with)
 * the step's `waitingFor` names the missing worker and the run emits
 * `task.unclaimed` once. A worker arriving later completes the run.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker, workflow, type RunEvent, type StepRun } from "weftflow";
import { client, collect, unique } from "./helpers.js";

/** The server's default `unclaimed_after`, plus room for a busy machine. */
const WITHIN_MS = 10_000 + 10_000;

test("an unserved agent: the step is ready, says what it waits for, and a late worker completes it", async () => {
  const weft = client();
  const agent = unique("late-agent");
  const wf = await weft.workflows.create(workflow(unique("unserved")).agent({ id: "research", agent, task: "look it up" }));
  const run = await wf.run({ input: {} });

  // The step's waitingFor and the event are written apart (the event by the
  // server's sweep), so wait for both.
  let step: StepRun | undefined;
  let unclaimed: RunEvent[] = [];
  const deadline = Date.now() + WITHIN_MS;
  for (;;) {
    step = (await weft.runs.get(run.id)).steps.find((s) => s.id === "research");
    assert.notEqual(step?.status, "running", "a task nobody holds is not running");
    unclaimed = (await weft.runs.events(run.id)).filter((e) => e.type === "task.unclaimed");
    if ((step?.waitingFor && unclaimed.length > 0) || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.equal(step?.status, "ready");
  assert.equal(step?.waitingFor, `a worker for agent '${agent}'`);
  // Once, however long it waits: a second sweep must not repeat it.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  unclaimed = (await weft.runs.events(run.id)).filter((e) => e.type === "task.unclaimed");
  assert.equal(unclaimed.length, 1, "task.unclaimed is emitted once");
  assert.equal(unclaimed[0]?.stepId, "research");
  assert.equal(unclaimed[0]?.data["agent"], agent);

  const stop = new AbortController();
  const worker = new Worker(weft).agent(agent, () => ({ found: true })).run(stop.signal);
  try {
    const events = await collect(weft.runs.stream(run.id));
    assert.equal(events.at(-1)?.type, "run.completed");
    const done = await weft.runs.get(run.id);
    assert.equal(done.status, "completed");
    assert.deepEqual(done.output, { found: true });
    assert.equal(done.steps[0]?.waitingFor, "", "a step that started waits for nothing");
  } finally {
    stop.abort();
    await worker;
  }
});
