/**
 * The run page, end to end: a live server with a worker, Chromium on the
 * console. Statuses are read from what the page shows (the DAG nodes'
 * `data-status`, the panel's text) and checked against the run read back
 * through the SDK; no test reloads the page (a marker set on `window`
 * before must still be there at the end), so every change seen arrived
 * live over StreamRunEvents.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { Page } from "playwright-core";
import { NonRetryableError, outcome, RetryableError, Worker, workflow, type Cost, type Handler, type JsonObject, type StepSpec, type Weft } from "weftflow";
import { client, openConsole, runCleanups, startServer, unique, type Console, type LiveServer, seriousAxeViolations } from "./harness.js";

const cleanups: (() => Promise<unknown>)[] = [];
after(() => runCleanups(cleanups));

/** Serves `agent` with `handler` until the test file ends. */
function serve(weft: Weft, agent: string, handler: Handler, concurrency = 20): void {
  const stop = new AbortController();
  const running = new Worker(weft, { concurrency, name: `${agent}-worker` }).agent(agent, handler).run(stop.signal);
  cleanups.push(async () => {
    stop.abort();
    await running;
  });
}

/** A promise with its resolver outside, to release a gated handler. */
function gate(): { promise: Promise<void>; open(): void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** As the console writes money: "1.20 USD". */
const money = (cost: Cost | null) => `${((cost?.amount ?? 0) / 100).toFixed(2)} ${(cost?.currency ?? "usd").toUpperCase()}`;


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function opened(server: LiveServer, runId: string): Promise<Console> {
  const ui = await openConsole(server);
  cleanups.push(() => ui.close());
  await ui.open(`/runs/${runId}`);
  await ui.page.getByRole("heading", { level: 1, name: new RegExp(runId) }).waitFor();
  // Set once: a reload would lose it, so its presence at the end proves the page updated by itself.
  await ui.page.evaluate(() => ((window as unknown as { __marker: number }).__marker = 1));
  return ui;
}

async function notReloaded(page: Page): Promise<void> {
  assert.equal(await page.evaluate(() => (window as unknown as { __marker?: number }).__marker), 1, "the page was not reloaded");
}

/** The DAG node of step `id` (a button in the drawing). */
function node(page: Page, id: string) {
  return page.locator(`figure.dag button[data-step-id="${id}"]`);
}

/** Waits until the DAG node of `id` shows `status`. */
async function nodeStatus(page: Page, id: string, status: string, timeout = 20_000): Promise<void> {
  await page.waitForFunction(
    ([id, status]) => document.querySelector(`figure.dag button[data-step-id="${id}"]`)?.getAttribute("data-status") === status,
    [id, status] as const,
    { timeout },
  );
}

async function runHeaderSays(page: Page, status: string): Promise<void> {
  await page.locator(`h1 [data-status="${status}"]`).waitFor({ timeout: 20_000 });
}

test("a 20-step DAG turns completed live, node by node", async () => {
  const server = await startServer();
  cleanups.push(() => server.stop());
  const weft = client(server);
  const agent = unique("steady");
  const first = gate();
  serve(weft, agent, async (task) => {
    // The chain's first step waits until the page has seen it running.
    if (task.text === "chain-1") await first.promise;
    await sleep(100);
    return { did: task.text };
  });
  const chain: StepSpec[] = [1, 2, 3, 4, 5].map((i) => ({
    id: `chain-${i}`,
    agent,
    task: `chain-${i}`,
    ...(i > 1 ? { dependsOn: [`chain-${i - 1}`] } : {}),
  }));
  const fan: StepSpec[] = Array.from({ length: 15 }, (_, i) => ({ id: `fan-${i + 1}`, agent, task: `fan-${i + 1}`, dependsOn: ["chain-5"] }));
  let builder = workflow(unique("twenty"));
  for (const step of [...chain, ...fan]) builder = builder.step(step);
  const wf = await weft.workflows.create(builder);
  const run = await wf.run();

  const ui = await opened(server, run.id);
  const { page } = ui;
  await nodeStatus(page, "chain-1", "running");
  assert.equal(await page.locator("figure.dag button[data-step-id]").count(), 20, "all 20 steps are drawn");
  assert.equal(await node(page, "fan-1").getAttribute("data-status"), "pending", "later steps wait");
  await ui.screenshot("run-dag-running");
  // Record, every frame, the statuses each node shows, to prove each one turned completed on screen.
  await page.evaluate(() => {
    const seen: Record<string, string[]> = {};
    (window as unknown as { __seen: typeof seen }).__seen = seen;
    const look = () => {
      for (const button of Array.from(document.querySelectorAll("figure.dag button[data-step-id]"))) {
        const id = button.getAttribute("data-step-id") ?? "";
        const status = button.getAttribute("data-status") ?? "";
        const trail = (seen[id] ??= []);
        if (trail.at(-1) !== status) trail.push(status);
      }
      requestAnimationFrame(look);
    };
    look();
  });
  first.open();

  // Watch the nodes flip: the chain in order, then every fan step.
  for (const i of [2, 3, 4, 5]) await nodeStatus(page, `chain-${i}`, "completed");
  await page.waitForFunction(
    () => {
      const nodes = Array.from(document.querySelectorAll("figure.dag button[data-step-id]"));
      return nodes.length === 20 && nodes.every((n) => n.getAttribute("data-status") === "completed");
    },
    undefined,
    { timeout: 30_000 },
  );
  await runHeaderSays(page, "completed");
  await notReloaded(page);
  const seen = await page.evaluate(() => (window as unknown as { __seen: Record<string, string[]> }).__seen);
  assert.equal(Object.keys(seen).length, 20);
  for (const [id, trail] of Object.entries(seen)) {
    assert.notEqual(trail[0], "completed", `${id} was seen before it completed: ${trail.join(" → ")}`);
    assert.equal(trail.at(-1), "completed", `${id} ended completed: ${trail.join(" → ")}`);
  }
  const done = await weft.runs.get(run.id);
  assert.equal(done.status, "completed");
  assert.equal(done.steps.filter((s) => s.status === "completed").length, 20);
  // The steps table agrees with the graph.
  assert.equal(await page.locator('table.run-steps tbody [data-status="completed"]').count(), 20);
  // Nothing announces a reconnection when nothing dropped.
  assert.equal(await page.getByRole("status").filter({ hasText: "Reconnecting" }).count(), 0);
  await ui.screenshot("run-dag-finished");
  assert.deepEqual(ui.logs.filter((l) => l.startsWith("pageerror")), []);
  assert.deepEqual(await seriousAxeViolations(page), [], "no serious accessibility violations");
});

test("a map over 5 items shows done/total progressing to 5/5", async () => {
  const server = await startServer();
  cleanups.push(() => server.stop());
  const weft = client(server);
  const agent = unique("item");
  const gates = Array.from({ length: 5 }, gate);
  serve(weft, agent, async (task) => {
    const index = Number(task.input.x);
    await gates[index]?.promise;
    return { item: index };
  });
  const wf = await weft.workflows.create(
    workflow(unique("mapped"))
      .step({ id: "each", type: "map", over: "$.input.xs", as: "x", concurrency: 5, step: { id: "work", agent, task: "item", inputMap: { x: "$.x" } } })
      .step({ id: "total", type: "transform", dependsOn: ["each"], output: { all: "$.each.output" } }),
  );
  const run = await wf.run({ input: { xs: [0, 1, 2, 3, 4] } });
  const ui = await opened(server, run.id);
  const { page } = ui;
  const progress = () => node(page, "each").locator(".dag-node-progress").textContent();
  await page.waitForFunction(() => document.querySelector('figure.dag button[data-step-id="each"] .dag-node-progress')?.textContent?.trim() === "0/5 done");
  for (let i = 0; i < 5; i++) {
    gates[i]?.open();
    const want = `${i + 1}/5 done`;
    await page.waitForFunction(
      (want) => document.querySelector('figure.dag button[data-step-id="each"] .dag-node-progress')?.textContent?.trim() === want,
      want,
      { timeout: 15_000 },
    );
    // What the page says matches the server: exactly i+1 items done.
    const read = await weft.runs.get(run.id);
    assert.equal(read.steps.filter((s) => s.parentId === "each" && s.status === "completed").length, i + 1);
  }
  assert.equal((await progress())?.trim(), "5/5 done");
  await nodeStatus(page, "each", "completed");
  await nodeStatus(page, "total", "completed");
  assert.match((await node(page, "each").textContent()) ?? "", /5\/5 done/);
  await ui.screenshot("run-map-finished");
  await notReloaded(page);
});

test("the page resumes after the server restarts mid-run, with a reconnecting notice meanwhile", async () => {
  const server = await startServer();
  cleanups.push(() => server.stop());
  const weft = client(server);
  const agent = unique("survivor");
  // The server goes down twice while a step runs: killed at "two", stopped gracefully at "four".
  const held = new Map([
    ["two", gate()],
    ["four", gate()],
  ]);
  serve(weft, agent, async (task) => {
    await held.get(task.text)?.promise;
    return { did: task.text };
  });
  const ids = ["one", "two", "three", "four", "five"];
  let builder = workflow(unique("restarted"));
  ids.forEach((id, i) => (builder = builder.step({ id, agent, task: id, ...(i > 0 ? { dependsOn: [ids[i - 1] ?? ""] } : {}) })));
  const run = await (await weft.workflows.create(builder)).run();
  const ui = await opened(server, run.id);
  const { page } = ui;
  const reconnecting = page.getByRole("status").filter({ hasText: "Reconnecting" });

  for (const [step, signal] of [["two", "SIGKILL"], ["four", "SIGTERM"]] as const) {
    await nodeStatus(page, step, "running");
    assert.equal(await reconnecting.count(), 0, "no notice while connected");
    await server.kill(signal);
    await reconnecting.waitFor({ timeout: 15_000 });
    await server.restart();
    // The worker's finished task reaches the restarted server (its SDK retries), the run goes on.
    held.get(step)?.open();
    await reconnecting.waitFor({ state: "detached", timeout: 20_000 });
    await nodeStatus(page, step, "completed", 30_000);
  }
  await nodeStatus(page, "five", "completed", 30_000);
  await runHeaderSays(page, "completed");
  await notReloaded(page);
  assert.equal((await weft.runs.get(run.id)).status, "completed");
  // The page applied every event up to the last the server recorded: nothing was lost across the restarts.
  const events = await weft.runs.events(run.id);
  assert.equal(events.at(-1)?.type, "run.completed");
  assert.equal(await page.locator(".run-page").getAttribute("data-sequence"), String(events.at(-1)?.sequence));
  assert.equal(await page.locator("table.run-steps tbody tr").count(), ids.length, "one row per step");
  assert.equal(await reconnecting.count(), 0);
});

test("the side panel shows the selected step's output and attempts, by click and by keyboard", async () => {
  const server = await startServer();
  cleanups.push(() => server.stop());
  const weft = client(server);
  const agent = unique("flaky");
  const token = unique("answer");
  const tries = new Map<string, number>();
  serve(weft, agent, (task) => {
    const n = (tries.get(task.text) ?? 0) + 1;
    tries.set(task.text, n);
    // "shaky" fails its first attempt, then succeeds: two attempts.
    if (task.text === "shaky" && n === 1) throw new RetryableError("first try fails");
    return outcome({ output: { token, step: task.text, attempt: n }, cost: 35 });
  });
  const wf = await weft.workflows.create(
    workflow(unique("panel"))
      .policy({ maxTotalCost: { amount: 500, currency: "usd" }, maxCostPerStep: { amount: 100, currency: "usd" } })
      .step({ id: "steady", agent, task: "steady" })
      .step({ id: "shaky", agent, task: "shaky", retries: 2, dependsOn: ["steady"] }),
  );
  const run = await wf.run();
  const ui = await opened(server, run.id);
  const { page } = ui;
  await runHeaderSays(page, "completed");
  const read = await weft.runs.get(run.id);
  const shaky = read.steps.find((s) => s.id === "shaky");
  assert.equal(shaky?.attempts, 2, "the server counted two attempts");

  await node(page, "shaky").click();
  const panel = page.getByRole("complementary", { name: "Step shaky" });
  await panel.waitFor();
  await panel.getByText(token).first().waitFor();
  assert.equal((await panel.locator('[data-field="attempts"]').textContent())?.trim(), String(shaky.attempts));
  assert.match((await panel.getByRole("region", { name: "Step output" }).textContent()) ?? "", /"attempt": 2/);
  // The input its last attempt was handed and the worker that claimed it, as the server recorded them.
  assert.ok(shaky.workerId, "the server recorded the worker");
  assert.notEqual(shaky.input, null, "the server recorded the input");
  assert.equal(await panel.getByRole("region", { name: "Step input" }).locator("pre").textContent(), JSON.stringify(shaky.input, null, 2));
  assert.equal((await panel.locator('[data-field="worker"]').textContent())?.trim(), shaky.workerId);
  assert.equal(await node(page, "shaky").getAttribute("aria-pressed"), "true");

  // Costs against the workflow's caps, as the server totals them.
  const runMeter = page.getByRole("meter", { name: "Run cost against its cap" });
  await page.waitForFunction(
    (want) => document.querySelector('[role="meter"][aria-label="Run cost against its cap"]')?.getAttribute("aria-valuetext") === want,
    `${money(read.cost)} of 5.00 USD cap`,
  );
  assert.ok((read.cost?.amount ?? 0) > 0, "the run cost something");
  assert.equal(await runMeter.getAttribute("aria-valuemax"), "5");
  await page.getByText(`${money(read.cost)} of 5.00 USD cap`).waitFor();
  const stepMeter = panel.getByRole("meter", { name: "Cost of step shaky against the per-step cap" });
  assert.equal(await stepMeter.getAttribute("aria-valuetext"), `${money(shaky.cost)} of 1.00 USD per-step cap`);
  await ui.screenshot("run-step-panel");

  // Keyboard: Tab until a DAG node has focus (from the top of the page), then Enter selects it.
  await page.locator("body").click({ position: { x: 1, y: 1 } });
  let focused = "";
  for (let i = 0; i < 80 && focused !== "steady"; i++) {
    await page.keyboard.press("Tab");
    focused = await page.evaluate(() => (document.activeElement?.closest("figure.dag") ? (document.activeElement.getAttribute("data-step-id") ?? "") : ""));
  }
  assert.equal(focused, "steady", "a DAG node is reachable by Tab");
  await page.keyboard.press("Enter");
  const steadyPanel = page.getByRole("complementary", { name: "Step steady" });
  await steadyPanel.waitFor();
  await steadyPanel.getByText('"step": "steady"').waitFor();
  assert.equal((await steadyPanel.locator('[data-field="attempts"]').textContent())?.trim(), "1");
  await notReloaded(page);
});

test("a condition's branch not taken is shown as skipped", async () => {
  const server = await startServer();
  cleanups.push(() => server.stop());
  const weft = client(server);
  const wf = await weft.workflows.create(
    workflow(unique("branching"))
      .step({ id: "check", type: "condition", expression: "$.input.score >= 70", onTrue: { next: "high" }, onFalse: { next: "low" } })
      .step({ id: "high", type: "transform", output: { tier: "$.input.score" } })
      .step({ id: "low", type: "transform", output: { tier: "$.input.score" } })
      .step({ id: "after-low", type: "transform", dependsOn: ["low"], output: { x: "$.low.output" } }),
  );
  const run = await wf.run({ input: { score: 82 } });
  const ui = await opened(server, run.id);
  const { page } = ui;
  await runHeaderSays(page, "completed");
  const read = await weft.runs.get(run.id);
  for (const step of read.steps) await nodeStatus(page, step.id, step.status);
  assert.equal(await node(page, "low").getAttribute("data-status"), "skipped");
  assert.equal(await node(page, "after-low").getAttribute("data-status"), "skipped");
  assert.equal(await node(page, "high").getAttribute("data-status"), "completed");
  assert.match((await node(page, "low").getAttribute("class")) ?? "", /dag-node-skipped/, "greyed out");
  assert.match((await node(page, "low").textContent()) ?? "", /skipped/, "said in words, not by colour alone");
});

test("steps a planner splices in are drawn, marked spliced, and followed live", async () => {
  const server = await startServer();
  cleanups.push(() => server.stop());
  const weft = client(server);
  const planner = unique("planner");
  const helper = unique("helper");
  const release = gate();
  const plan: JsonObject[] = [
    { id: "research", type: "agent", agent: helper, task: "research" },
    { id: "sum", type: "transform", dependsOn: ["research"], output: { facts: "$.research.output.facts" } },
  ];
  serve(weft, planner, () => ({ steps: plan }));
  serve(weft, helper, async () => {
    await release.promise;
    return { facts: ["founded 2010"] };
  });
  const wf = await weft.workflows.create(
    workflow(unique("planned"))
      .step({ id: "plan", type: "planner", agent: planner, task: "plan it" })
      .step({ id: "report", type: "transform", dependsOn: ["plan"], output: { summary: "$.sum.output" } }),
  );
  const run = await wf.run();
  const ui = await opened(server, run.id);
  const { page } = ui;
  // Not in the definition: drawn once the plan is spliced, while it runs.
  await nodeStatus(page, "research", "running");
  for (const id of ["research", "sum"]) {
    assert.match((await node(page, id).getAttribute("class")) ?? "", /dag-node-spliced/);
    assert.match((await node(page, id).textContent()) ?? "", /spliced in by a planner/);
  }
  assert.doesNotMatch((await node(page, "report").getAttribute("class")) ?? "", /dag-node-spliced/, "the definition's own steps are not marked");
  release.open();
  for (const id of ["research", "sum", "report"]) await nodeStatus(page, id, "completed");
  await runHeaderSays(page, "completed");
  const read = await weft.runs.get(run.id);
  assert.equal(read.steps.find((s) => s.id === "research")?.parentId, "plan", "the server agrees the planner added it");
  await notReloaded(page);
});

/** Whether the DAG node of `id` lies wholly inside the drawing's visible pane. */
async function inView(page: Page, id: string): Promise<boolean> {
  const pane = await page.locator("figure.dag .react-flow").boundingBox();
  const box = await node(page, id).boundingBox();
  if (!pane || !box) return false;
  return box.x >= pane.x && box.y >= pane.y && box.x + box.width <= pane.x + pane.width && box.y + box.height <= pane.y + pane.height;
}

test("the DAG refits to show the steps a planner splices in", async () => {
  const server = await startServer();
  cleanups.push(() => server.stop());
  const weft = client(server);
  const planner = unique("planner");
  const helper = unique("helper");
  const planned = gate();
  // Five steps in a chain after "plan": the drawing grows well past the
  // view fitted to the first two steps.
  const chain = ["one", "two", "three", "four", "five"];
  const plan: JsonObject[] = chain.map((id, i) => ({ id, type: "agent", agent: helper, task: id, ...(i > 0 ? { dependsOn: chain.slice(i - 1, i) } : {}) }));
  serve(weft, planner, async () => {
    await planned.promise;
    return { steps: plan };
  });
  const release = gate();
  serve(weft, helper, async () => {
    await release.promise;
    return { ok: true };
  });
  cleanups.push(async () => {
    planned.open();
    release.open();
  });
  const wf = await weft.workflows.create(
    workflow(unique("growing"))
      .step({ id: "plan", type: "planner", agent: planner, task: "plan it" })
      .step({ id: "report", type: "transform", dependsOn: ["plan"], output: { done: "$.five.output" } }),
  );
  const run = await wf.run();
  const ui = await opened(server, run.id);
  const { page } = ui;
  // The page is drawn and fitted to the definition's two steps before the plan lands.
  await nodeStatus(page, "plan", "running");
  await page.waitForFunction(() => document.querySelector("figure.dag .react-flow__viewport")?.getAttribute("style")?.includes("scale") === true);
  await sleep(300);
  planned.open();
  await nodeStatus(page, "one", "running");
  // Every step, spliced or not, comes into view (the refit is animated: wait it out).
  const ids = ["plan", ...plan.map((s) => String(s.id)), "report"];
  for (let i = 0; ; i++) {
    const outside = [];
    for (const id of ids) if (!(await inView(page, id))) outside.push(id);
    if (outside.length === 0) break;
    if (i > 40) assert.fail(`steps outside the view after the splice: ${outside.join(", ")}`);
    await sleep(50);
  }
  await ui.screenshot("run-spliced-refit");
  release.open();
  await runHeaderSays(page, "completed");
  await notReloaded(page);
});

test("a failed run shows its error in the header and the failed step's error in the panel", async () => {
  const server = await startServer();
  cleanups.push(() => server.stop());
  const weft = client(server);
  const agent = unique("broken");
  const reason = unique("no such company");
  serve(weft, agent, () => {
    throw new NonRetryableError(reason);
  });
  const wf = await weft.workflows.create(
    workflow(unique("failing"))
      .step({ id: "lookup", agent, task: "lookup" })
      .step({ id: "report", type: "transform", dependsOn: ["lookup"], output: { x: "$.lookup.output" } }),
  );
  const run = await wf.run();
  const ui = await opened(server, run.id);
  const { page } = ui;
  await runHeaderSays(page, "failed");
  const read = await weft.runs.get(run.id);
  assert.equal(read.status, "failed");
  const header = page.getByRole("note", { name: "Why the run failed" });
  await header.getByText(read.error?.code ?? "?").waitFor();
  await nodeStatus(page, "lookup", "failed");
  await nodeStatus(page, "report", read.steps.find((s) => s.id === "report")?.status ?? "?");
  // Selected from the steps table this time.
  await page.getByRole("table").getByRole("button", { name: "lookup" }).click();
  const panel = page.getByRole("complementary", { name: "Step lookup" });
  await panel.getByRole("heading", { name: "Error" }).waitFor();
  await panel.getByText(reason).waitFor();
  await ui.screenshot("run-failed");
  await notReloaded(page);
});
