/**
 * The operator's pages against a live server, in headless Chromium:
 * starting a run from the form generated from an inputSchema (with the
 * estimate shown first), the runs list's filters and live status, the
 * workers page's "no worker" mark and live workers, installing a template,
 * creating and pausing a schedule, and arming a webhook. Every result is
 * read back through the SDK, not only from the page.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { Worker, workflow, type Weft } from "weftflow";
import { client, openConsole, startServer, unique, type Console, type LiveServer } from "./harness.js";

let server: LiveServer;
let weft: Weft;
let ui: Console;
/** Workers started by the tests, stopped at the end. */
const workers: { stop: AbortController; done: Promise<void> }[] = [];

before(async () => {
  server = await startServer();
  weft = client(server);
  ui = await openConsole(server);
});

after(async () => {
  for (const w of workers) w.stop.abort();
  await Promise.allSettled(workers.map((w) => w.done));
  await ui?.close();
  await server?.stop();
});

/** Serves `agents` (each answering `{ok: true}`) until the file ends. */
function serve(name: string, agents: string[], hint?: [number, number]): void {
  const stop = new AbortController();
  let worker = new Worker(weft, { name, concurrency: 2 });
  for (const agent of agents) {
    worker = worker.agent(agent, () => ({ ok: true, agent }));
    if (hint) worker = worker.costHint(agent, hint[0], hint[1]);
  }
  workers.push({ stop, done: worker.run(stop.signal) });
}

/** Polls `check` (an SDK read) until it holds, at most 15 s. */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}: last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** The status badge of the run's row in the runs list ("" when the row is absent). */
function rowStatus(page: Page, runId: string): Promise<string> {
  return page.evaluate((id) => document.querySelector(`tr[data-run-id="${id}"] [data-status]`)?.getAttribute("data-status") ?? "", runId);
}

function failWith(logs: string[]) {
  return (error: unknown) => {
    throw new Error(`${String(error)}\nbrowser log:\n${logs.join("\n")}`);
  };
}

test("a run is started from the form generated from its inputSchema, after the estimate is shown", async () => {
  const agent = unique("scorer");
  serve(unique("estimator"), [agent], [2, 5]);
  const wf = await weft.workflows.create(
    workflow(unique("start-form"))
      .inputSchema({
        type: "object",
        required: ["company"],
        properties: {
          company: { type: "string", description: "Legal name of the company" },
          employees: { type: "integer" },
          tier: { enum: ["free", "pro"] },
          notify: { type: "boolean", default: true },
          extra: { type: "object" },
        },
      })
      .agent({ id: "score", agent, task: "Score $.input.company" }),
  );
  const { page, logs } = ui;
  await ui.open(`/workflows/${wf.id}/run`);
  await page.getByLabel("company").waitFor().catch(failWith(logs));

  // The default is prefilled; the description is the field's hint.
  assert.equal(await page.getByLabel("notify").isChecked(), true);
  const hint = await page.getByLabel("company").evaluate((el) => {
    const ids = (el.getAttribute("aria-describedby") ?? "").split(" ");
    return ids.map((id) => document.getElementById(id)?.textContent ?? "").join(" ");
  });
  assert.match(hint, /Legal name of the company/);

  // Obvious mistakes are caught before sending: a required field, a number.
  await page.getByLabel("employees").fill("forty");
  await page.getByRole("button", { name: "Start run" }).click();
  await page.getByText("Required.").waitFor();
  await page.getByText("Must be a whole number.").or(page.getByText("Not a number.")).first().waitFor();
  assert.match(page.url(), /\/run$/, "nothing was started");
  assert.equal((await weft.runs.list(wf.id)).length, 0);

  await page.getByLabel("company").fill("Acme");
  await page.getByLabel("employees").fill("42");
  await page.getByLabel("tier").selectOption({ label: "pro" });
  await page.getByLabel("extra").fill('{"source": "console"}');

  // The estimate of this very input shows before starting: one call of the
  // agent, priced from the worker's cost hint (0.02 to 0.05 USD).
  const estimate = page.getByTestId("estimate");
  await page.waitForFunction(() => /0\.02 USD – 0\.05 USD/.test(document.querySelector("[data-testid=estimate]")?.textContent ?? ""), null, { timeout: 15_000 }).catch(failWith(logs));
  assert.match((await estimate.textContent()) ?? "", /Agent calls\s*1/);
  await ui.screenshot("start-run");

  await page.getByLabel(/Idempotency key/).fill("console-start-1");
  await page.getByRole("button", { name: "Start run" }).click();
  await page.waitForURL(/\/ui\/runs\/[^/]+$/).catch(failWith(logs));
  const runId = decodeURIComponent(page.url().split("/").pop() ?? "");
  const run = await weft.runs.get(runId);
  assert.equal(run.workflowId, wf.id);
  assert.deepEqual(run.input, { company: "Acme", employees: 42, tier: "pro", notify: true, extra: { source: "console" } });
  assert.equal(run.idempotencyKey, "console-start-1");
});

test("the JSON editor of the start form sends what it holds, and the server's refusal is shown", async () => {
  const wf = await weft.workflows.create(
    workflow(unique("start-json"))
      .inputSchema({ type: "object", required: ["n"], properties: { n: { type: "integer", minimum: 10 } } })
      .transform({ id: "echo", output: { n: "$.input.n" } }),
  );
  const { page, logs } = ui;
  await ui.open(`/workflows/${wf.id}/run`);
  await page.getByLabel("n (required)", { exact: true }).fill("3");
  await page.getByRole("button", { name: "Edit as JSON" }).click();
  const box = page.getByLabel("Input (JSON)");
  assert.deepEqual(JSON.parse(await box.inputValue()), { n: 3 }, "the form's values carry over");
  // Below the schema's minimum: only the server knows; its words are shown.
  await page.getByRole("button", { name: "Start run" }).click();
  await page.getByRole("alert").filter({ hasText: "refused" }).waitFor().catch(failWith(logs));
  assert.match(page.url(), /\/run$/);
  await box.fill('{"n": 12}');
  await page.getByRole("button", { name: "Start run" }).click();
  await page.waitForURL(/\/ui\/runs\/[^/]+$/).catch(failWith(logs));
  const run = await weft.runs.get(decodeURIComponent(page.url().split("/").pop() ?? ""));
  assert.deepEqual(run.input, { n: 12 });
});

test("the runs list filters by status and workflow, and shows a run's status change without reload", async () => {
  const agent = unique("slow-agent");
  const waiting = await weft.workflows.create(workflow(unique("waits")).agent({ id: "work", agent, task: "t" }));
  const quick = await weft.workflows.create(workflow(unique("quick")).transform({ id: "t", output: { ok: "$.input" } }));
  const waitingRun = await waiting.run({ input: {} });
  const quickRun = await quick.execute({ input: {} });
  assert.equal(quickRun.status, "completed");

  const { page, logs } = ui;
  await ui.open(`/runs?workflow=${encodeURIComponent(waiting.name)}`);
  await page.waitForFunction((id) => document.querySelector(`tr[data-run-id="${id}"]`) !== null, waitingRun.id).catch(failWith(logs));
  assert.equal(await page.locator(`tr[data-run-id="${quickRun.id}"]`).count(), 0, "the other workflow's run is filtered out");
  const before = await rowStatus(page, waitingRun.id);
  assert.ok(["running", "pending", "queued"].includes(before), before);

  // Status filter, through the UI: the waiting run is not completed.
  await page.getByLabel("Status").selectOption("completed");
  await page.waitForURL(/status=completed/);
  await page.getByText("No runs match these filters.").waitFor().catch(failWith(logs));

  // Workflow filter, through the UI: the quick workflow's completed run.
  await page.getByLabel("Workflow").selectOption({ label: quick.name });
  await page.waitForFunction((id) => document.querySelector(`tr[data-run-id="${id}"]`) !== null, quickRun.id).catch(failWith(logs));
  assert.equal(await rowStatus(page, quickRun.id), "completed");
  assert.equal(await page.locator("tbody tr").count(), 1);
  assert.match(page.url(), new RegExp(`workflow=${quick.id}`));

  // Back to the waiting run's workflow, any status; then a worker finishes it.
  await page.getByRole("button", { name: "Clear filters" }).click();
  await page.getByLabel("Workflow").selectOption({ label: waiting.name });
  await page.waitForFunction((id) => document.querySelector(`tr[data-run-id="${id}"]`) !== null, waitingRun.id);
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
  serve(unique("finisher"), [agent]);
  await eventually(() => weft.runs.get(waitingRun.id), (r) => r.status === "completed", "the run completes");
  await page
    .waitForFunction((id) => document.querySelector(`tr[data-run-id="${id}"] [data-status]`)?.getAttribute("data-status") === "completed", waitingRun.id, { timeout: 10_000 })
    .catch(failWith(logs));
  assert.equal(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded), true, "the page was not reloaded");
});

test("the workers page puts an agent with queued tasks and no worker first, marked, and lists a live worker with its agents", async () => {
  const lonely = unique("lonely-agent");
  const wf = await weft.workflows.create(workflow(unique("stuck")).agent({ id: "wait", agent: lonely, task: "t" }));
  const run = await wf.run({ input: {} });
  const name = unique("console-worker");
  const [a, b] = [unique("served-a"), unique("served-b")];
  serve(name, [a, b]);
  await eventually(() => weft.workers.list(), (l) => l.workers.some((w) => w.name === name) && l.agentQueues.some((q) => q.agent === lonely), "worker and queue listed");

  const { page, logs } = ui;
  await ui.open("/workers");
  const row = page.locator(`tr[data-agent="${lonely}"]`);
  await row.waitFor().catch(failWith(logs));
  assert.match((await row.getAttribute("class")) ?? "", /\bhighlight\b/);
  assert.match((await row.textContent()) ?? "", /no worker/);
  // Highlighted rows come before every other row.
  const order = await page.locator(".queues-table tbody tr").evaluateAll((rows) => rows.map((r) => r.classList.contains("highlight")));
  assert.equal(order[0], true);
  assert.deepEqual(order, [...order].sort((x, y) => Number(y) - Number(x)));

  const workerRow = page.getByRole("row").filter({ hasText: name });
  await workerRow.waitFor();
  const text = (await workerRow.textContent()) ?? "";
  assert.ok(text.includes(a) && text.includes(b), text);
  assert.match(text, /live/);
  await ui.screenshot("workers");

  // Once a worker serves the agent, the mark goes away by itself (polling).
  serve(unique("rescuer"), [lonely]);
  await page.waitForFunction((agent) => !document.querySelector(`tr[data-agent="${agent}"].highlight`), lonely, { timeout: 15_000 }).catch(failWith(logs));
  await eventually(() => weft.runs.get(run.id), (r) => r.status === "completed", "the stuck run completes");
});

test("a template is installed from the catalogue and the new workflow exists", async () => {
  const { templates } = await weft.templates.list();
  const template = templates.find((t) => (t.workflow?.steps.length ?? 0) > 1) ?? templates[0];
  assert.ok(template, "the server ships templates");
  const { page, logs } = ui;
  await ui.open("/templates");
  await page.getByRole("button", { name: `View ${template.name}` }).click().catch(failWith(logs));
  // Its steps are drawn, one node per step.
  await page.locator("[data-step-id]").first().waitFor();
  const drawn = await page.locator(".template-detail [data-step-id]").count();
  assert.ok(drawn >= (template.workflow?.steps.length ?? 0), `${drawn} nodes`);

  const name = unique("installed");
  await page.getByLabel("Workflow name").fill(name);
  await page.getByRole("button", { name: "Install" }).click();
  await page.waitForURL(/\/ui\/workflows\/wf_[^/]+$/).catch(failWith(logs));
  const installed = await weft.workflows.get(name);
  assert.equal(page.url().split("/").pop(), installed.id);
  assert.equal(installed.steps.length, template.workflow?.steps.length);
});

test("a schedule is created and paused from the UI, and the workflow's webhook is deployed and armed", async () => {
  const wf = await weft.workflows.create(workflow(unique("scheduled")).transform({ id: "t", output: { ok: "$.input" } }));
  const { page, logs } = ui;
  await ui.open("/schedules");
  await page.getByLabel("Workflow").selectOption({ label: wf.name }).catch(failWith(logs));
  await page.getByText("This workflow has no schedule.").waitFor().catch(failWith(logs));

  await page.getByLabel("Cron expression").fill("0 9 * * 1-5");
  await page.getByLabel("Time zone").fill("Europe/Paris");
  await page.getByLabel(/Input of each run/).fill('{"report": "daily"}');
  await page.getByRole("button", { name: "Create schedule" }).click();
  const item = page.getByRole("listitem", { name: "Schedule 0 9 * * 1-5 (Europe/Paris)" });
  await item.waitFor().catch(failWith(logs));
  const [stored] = await weft.schedules.list(wf.id);
  assert.ok(stored);
  assert.equal(stored.cronExpression, "0 9 * * 1-5");
  assert.equal(stored.timezone, "Europe/Paris");
  assert.notEqual(stored.enabled, false);
  // Next fire times are listed (three, from GetSchedule).
  assert.equal(await item.locator(".fire-times li").count(), 3);

  await item.getByRole("button", { name: /^Pause/ }).click();
  await item.getByRole("button", { name: /^Resume/ }).waitFor().catch(failWith(logs));
  assert.equal((await item.locator("[data-status]").getAttribute("data-status")), "paused");
  assert.equal((await weft.schedules.get(stored.id)).enabled, false);

  // A bad expression is refused by the server, and says so.
  await page.getByLabel("Cron expression").fill("not a cron");
  await page.getByRole("button", { name: "Create schedule" }).click();
  await page.getByRole("alert").filter({ hasText: "not created" }).waitFor().catch(failWith(logs));
  assert.equal((await weft.schedules.list(wf.id)).length, 1);

  // The webhook: deploy, then arm for two minutes.
  await page.getByRole("button", { name: "Deploy" }).click();
  await page.getByText(/Webhook secret \(shown once/).waitFor().catch(failWith(logs));
  await page.getByLabel("Window (seconds)").fill("120");
  const armedAt = Date.now();
  await page.getByRole("button", { name: "Arm webhook" }).click();
  await page.getByText(/^Armed until/).waitFor().catch(failWith(logs));
  const status = await weft.triggers.status(wf.id);
  assert.equal(status.deployed, true);
  assert.equal(status.armed, true);
  const until = Number(status.armedUntil?.seconds ?? 0n) * 1000;
  assert.ok(Math.abs(until - (armedAt + 120_000)) < 15_000, `armed until ${new Date(until).toISOString()}`);
  assert.equal(await page.getByTestId("webhook-url").textContent(), status.webhookUrl);
  assert.match(status.webhookUrl, /\/v1\/hooks\//);
});

test("the runs list pages with More, by the server's page token", async () => {
  const wf = await weft.workflows.create(workflow(unique("many")).transform({ id: "t", output: { n: "$.input.n" } }));
  const started = await Promise.all(Array.from({ length: 53 }, (_, n) => wf.run({ input: { n } })));
  const { page, logs } = ui;
  await ui.open(`/runs?workflow=${wf.id}`);
  await page.getByText("53 runs match; showing 50.").waitFor({ timeout: 15_000 }).catch(failWith(logs));
  assert.equal(await page.locator("tbody tr").count(), 50);
  await page.getByRole("button", { name: "More" }).click();
  await page.getByText("53 runs match; showing 53.").waitFor().catch(failWith(logs));
  const shown = await page.locator("tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-run-id")));
  assert.deepEqual(new Set(shown), new Set(started.map((r) => r.id)), "every run once, none twice");
  assert.equal(await page.getByRole("button", { name: "More" }).count(), 0, "no More after the last page");
});

test("the approvals list pages with More, by the server's page token", async () => {
  const definition = workflow(unique("gates")).approval({ id: "gate", action: "ship", message: "Ship it?" }).build();
  // All 53 wait at once: no cap on live runs (the default is 10 per workflow).
  definition.maxConcurrentRuns = 0;
  const wf = await weft.workflows.create(definition);
  const started = await Promise.all(Array.from({ length: 53 }, () => wf.run({ input: {} })));
  // Each run opens its approval as it starts; wait until the server lists all of them.
  for (let i = 0; (await weft.approvals.listPage({ workflowId: wf.id, status: "pending", pageSize: 1 })).total < 53; i++) {
    assert.ok(i < 200, "53 approvals open");
    await new Promise((done) => setTimeout(done, 50));
  }
  const { page, logs } = ui;
  await ui.open("/approvals");
  await page.getByText("53 approvals match; showing 50, newest first.").waitFor({ timeout: 15_000 }).catch(failWith(logs));
  const cards = page.locator(".approval-list > li");
  assert.equal(await cards.count(), 50);
  await page.getByRole("button", { name: "More" }).click();
  await page.getByText("53 approvals match; showing 53, newest first.").waitFor().catch(failWith(logs));
  const runLinks = await cards.getByRole("link", { name: /^wfrun_/ }).allInnerTexts();
  assert.deepEqual(new Set(runLinks), new Set(started.map((r) => r.id)), "every approval once, none twice");
  assert.equal(runLinks.length, 53);
  assert.equal(await page.getByRole("button", { name: "More" }).count(), 0, "no More after the last page");
});

test("the start form puts required fields first, in the order the schema's required list gives", async () => {
  const wf = await weft.workflows.create(
    workflow(unique("field-order"))
      .inputSchema({
        type: "object",
        required: ["zulu", "mike"],
        properties: { alpha: { type: "string" }, mike: { type: "string" }, zulu: { type: "string" }, bravo: { type: "integer" } },
      })
      .transform({ id: "t", output: { z: "$.input.zulu" } }),
  );
  const { page, logs } = ui;
  await ui.open(`/workflows/${wf.id}/run`);
  await page.getByLabel("zulu").waitFor().catch(failWith(logs));
  const form = page.getByRole("form", { name: /^Input of a run of / });
  const names = await form.locator(".schema-fields :is(input, select, textarea)").evaluateAll((controls) =>
    controls.map((c) => (c as HTMLInputElement).labels?.[0]?.textContent?.replace(" (required)", "").trim() ?? ""),
  );
  // Sorted by the server (a Struct's keys), the required ones pulled ahead.
  assert.deepEqual(names, ["zulu", "mike", "alpha", "bravo"]);
});
