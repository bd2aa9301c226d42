/**
 * `weft.workers.list()`: the registered workers, and the agents whose
 * tasks nobody claims (`agentQueues`, `served: false`): what a user looks
 * at when a run does not move.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Worker, workflow, type WorkerList } from "weftflow";
import { client, unique } from "./helpers.js";

/** Lists until `ready` holds (registration and queueing are not instant), at most 10 s. */
async function listUntil(list: () => Promise<WorkerList>, ready: (page: WorkerList) => boolean): Promise<WorkerList> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const page = await list();
    if (ready(page) || Date.now() > deadline) return page;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test("a running worker is listed with its agents", async () => {
  const weft = client();
  const agent = unique("listed-agent");
  const name = unique("listed-worker");
  const stop = new AbortController();
  const worker = new Worker(weft, { name, concurrency: 3 }).agent(agent, () => null).run(stop.signal);
  try {
    const page = await listUntil(() => weft.workers.list({ agent }), (p) => p.workers.length > 0);
    const [listed] = page.workers;
    assert.ok(listed, "the worker is listed under its agent");
    assert.equal(listed.name, name);
    assert.deepEqual(listed.agents, [agent]);
    assert.equal(listed.concurrency, 3);
    assert.ok(listed.registeredAt instanceof Date);
    assert.doesNotMatch(JSON.stringify(listed), /\$typeName/);
  } finally {
    stop.abort();
    await worker;
  }
});

test("an agent with queued tasks and no worker shows in agentQueues as not served", async () => {
  const weft = client();
  const agent = unique("queued-agent");
  const wf = await weft.workflows.create(workflow(unique("queued")).agent({ id: "wait", agent, task: "t" }));
  const run = await wf.run({ input: {} });
  try {
    const page = await listUntil(() => weft.workers.list({ agent }), (p) => p.agentQueues.length > 0);
    assert.equal(page.workers.length, 0);
    const [queue] = page.agentQueues;
    assert.equal(queue?.agent, agent);
    assert.equal(queue?.queued, 1);
    assert.equal(queue?.liveWorkers, 0);
    assert.equal(queue?.served, false);
    assert.ok(queue?.oldestQueuedAt instanceof Date);
  } finally {
    await weft.runs.cancel(run.id);
  }
});
