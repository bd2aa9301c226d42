/**
 * The worker runtime against a live server: what a handler returns (a bare
 * value is the output, whatever its shape; an Outcome adds cost and state
 * writes), how it fails (NonRetryableError now, RetryableError and any
 * other throw through the step's retries), and retryFrom.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NonRetryableError, RetryableError, Worker, outcome, workflow, type JsonObject } from "weftflow";
import { client, collect, unique } from "./helpers.js";

test("a worker serves agent steps; a NonRetryableError fails the run; retryFrom runs it again", async () => {
  const weft = client();
  const agent = unique("echo-agent");
  let failNext = true;
  const stop = new AbortController();
  const worker = new Worker(weft, { name: "node-test", concurrency: 2 })
    .agent(agent, async (task) => {
      if (task.input["mode"] === "flaky" && failNext) {
        failNext = false;
        throw new NonRetryableError("upstream down", { code: "UPSTREAM_DOWN" });
      }
      return outcome({ output: { echoed: task.text, company: task.input["company"] ?? null }, cost: 7 });
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(
      workflow(unique("worked"))
        .agent({ id: "first", agent, task: "hello {{ input.company }}", inputMap: { company: "$.input.company", mode: "$.input.mode" }, retries: 2 })
        .agent({ id: "second", agent, dependsOn: ["first"], task: "again", inputMap: { company: "$.first.output.company" } }),
    );
    const run = await wf.run({ input: { company: "Acme", mode: "steady" } });
    const events = await collect(weft.workflows.streamRun(run.id));
    assert.equal(events.at(-1)?.type, "run.completed");
    const done = await weft.workflows.getRun(run.id);
    assert.deepEqual(done.steps.find((s) => s.id === "first")?.output, { echoed: "hello Acme", company: "Acme" });
    assert.deepEqual(done.cost, { amount: 14, currency: "usd" });

    const flaky = await wf.run({ input: { company: "Beta", mode: "flaky" } });
    const flakyEvents = await collect(weft.workflows.streamRun(flaky.id));
    assert.equal(flakyEvents.at(-1)?.type, "run.failed");
    const failed = await weft.workflows.getRun(flaky.id);
    assert.equal(failed.status, "failed");
    const first = failed.steps.find((s) => s.id === "first");
    assert.match(first?.error ?? "", /upstream down/);
    assert.equal(first?.attempts, 1, "a NonRetryableError skips the step's retries");

    const retried = await weft.workflows.retryFrom(flaky.id, "first");
    await collect(weft.workflows.streamRun(retried.id));
    assert.equal((await weft.workflows.getRun(retried.id)).status, "completed");
  } finally {
    stop.abort();
    await worker;
  }
});

test("handler results: a bare value, even one shaped {output}, is the output; an Outcome carries cost and state", async () => {
  const weft = client();
  const agent = unique("shapes-agent");
  const stop = new AbortController();
  const worker = new Worker(weft)
    .agent(agent, (task) => {
      switch (task.input["kind"]) {
        case "number":
          return 42;
        case "wrapped":
          return { output: 1 };
        case "nothing":
          return;
        case "loose":
          // What JSON.stringify makes of it: the Date as its JSON, undefined dropped.
          return { at: new Date(0), gone: undefined } as unknown as JsonObject;
        default:
          return outcome({ output: "with extras", cost: { amount: 5, currency: "usd" }, stateWrites: { seen: true } });
      }
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(
      workflow(unique("shapes"))
        .agent({ id: "number", agent, task: "t", inputMap: { kind: "$.input.number" } })
        .agent({ id: "wrapped", agent, task: "t", inputMap: { kind: "$.input.wrapped" } })
        .agent({ id: "nothing", agent, task: "t", inputMap: { kind: "$.input.nothing" } })
        .agent({ id: "loose", agent, task: "t", inputMap: { kind: "$.input.loose" } })
        .agent({ id: "extras", agent, task: "t", inputMap: { kind: "$.input.extras" }, stateWrites: ["seen"] }),
    );
    const run = await wf.run({ input: { number: "number", wrapped: "wrapped", nothing: "nothing", loose: "loose", extras: "extras" } });
    await collect(weft.workflows.streamRun(run.id));
    const done = await weft.runs.get(run.id);
    assert.equal(done.status, "completed", JSON.stringify(done.error));
    const output = (id: string) => done.steps.find((s) => s.id === id)?.output;
    assert.equal(output("number"), 42);
    assert.deepEqual(output("wrapped"), { output: 1 }, "{output: 1} is an output with a field named output");
    assert.equal(output("nothing"), null);
    assert.deepEqual(output("loose"), { at: "1970-01-01T00:00:00.000Z" });
    assert.equal(output("extras"), "with extras");
    assert.deepEqual(done.steps.find((s) => s.id === "extras")?.cost, { amount: 5, currency: "usd" });
    assert.equal(done.sharedState["seen"], true);
  } finally {
    stop.abort();
    await worker;
  }
});

test("an answer the server refuses as invalid fails the step at once, with the server's reason", async () => {
  const weft = client();
  const agent = unique("undeclared-agent");
  const stop = new AbortController();
  // "other" is not among the step's stateWrites: CompleteTask is INVALID_ARGUMENT.
  const worker = new Worker(weft).agent(agent, () => outcome({ output: 1, stateWrites: { other: 1 } })).run(stop.signal);
  try {
    const wf = await weft.workflows.create(workflow(unique("undeclared")).agent({ id: "write", agent, task: "t", stateWrites: ["mine"], retries: 3 }));
    const started = Date.now();
    const run = await wf.run({ input: {} });
    await collect(weft.runs.stream(run.id));
    const done = await weft.runs.get(run.id);
    assert.equal(done.status, "failed");
    const step = done.steps[0];
    assert.match(step?.error ?? "", /refused the handler's answer/);
    assert.equal(step?.attempts, 1, "not retried: the same answer would be refused again");
    assert.ok(Date.now() - started < 20_000, "failed at once, not when the lease ran out");
  } finally {
    stop.abort();
    await worker;
  }
});

test("RetryableError and any other throw are retried by the step's retries", async () => {
  const weft = client();
  const agent = unique("retry-agent");
  const calls = new Map<string, number>();
  const stop = new AbortController();
  const worker = new Worker(weft)
    .agent(agent, (task) => {
      const step = task.task.stepId;
      const n = (calls.get(step) ?? 0) + 1;
      calls.set(step, n);
      if (n === 1 && step === "typed") throw new RetryableError("try again", { code: "BUSY" });
      if (n === 1 && step === "plain") throw new Error("socket hang up");
      return { attempt: n };
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(
      workflow(unique("retries")).agent({ id: "typed", agent, task: "t", retries: 2 }).agent({ id: "plain", agent, task: "t", retries: 2 }),
    );
    const run = await wf.run({ input: {} });
    await collect(weft.workflows.streamRun(run.id));
    const done = await weft.runs.get(run.id);
    assert.equal(done.status, "completed");
    for (const id of ["typed", "plain"]) {
      const step = done.steps.find((s) => s.id === id);
      assert.deepEqual(step?.output, { attempt: 2 }, `${id} succeeded on its second attempt`);
      assert.equal(step?.attempts, 2);
    }
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
      return { ok: true };
    })
    .run(stop.signal);
  try {
    const branches = Array.from({ length: 6 }, (_, i) => ({ id: `b${i}`, agent, task: "work" }));
    const wf = await weft.workflows.create(workflow(unique("fan")).parallel({ id: "fan", steps: branches }));
    const run = await wf.run({ input: {} });
    const events = await collect(weft.workflows.streamRun(run.id));
    assert.equal(events.at(-1)?.type, "run.completed");
    assert.equal(most, 2);
  } finally {
    stop.abort();
    await worker;
  }
});
