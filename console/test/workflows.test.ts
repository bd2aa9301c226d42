/**
 * The workflows list and a workflow's page against a live server: status,
 * tag and name filters (kept in the address), the graph of a definition
 * with a condition and a parallel step, and the versions tab's diff and
 * rollback.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { toStep, workflow } from "weftflow";
import { WorkflowStatus as PbWorkflowStatus } from "weftflow/gen/weft/v1/workflow_pb";
import { client, openConsole, startServer, unique, type Console, type LiveServer, seriousAxeViolations } from "./harness.js";


let server: LiveServer;
let ui: Console;

before(async () => {
  server = await startServer();
  ui = await openConsole(server);
});

after(async () => {
  await ui?.close();
  await server?.stop();
});

/** The names of the workflows the list shows, sorted. */
async function listed(page: Page): Promise<string[]> {
  const table = page.getByRole("table", { name: "Workflows" });
  const links = await table.getByRole("link").allInnerTexts();
  return links.sort();
}

/** Waits until the list shows exactly `names` (sorted). */
async function waitForList(page: Page, names: string[]): Promise<void> {
  const want = [...names].sort();
  for (let i = 0; ; i++) {
    const got = (await page.getByRole("table", { name: "Workflows" }).count()) ? await listed(page) : [];
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    if (i > 100) assert.deepEqual(got, want);
    await page.waitForTimeout(50);
  }
}

test("the list filters by status and tag on the server and by name in the browser, all kept in the address", async () => {
  const { page } = ui;
  const weft = client(server);
  const run = unique("f");
  const alpha = `alpha-${run}`;
  const beta = `beta-${run}`;
  const gamma = `gamma-${run}`;
  const step = { id: "s", agent: "w", task: "t" };
  await weft.workflows.create(workflow(alpha).tags("red", "shared").agent(step));
  await weft.workflows.create(workflow(beta).tags("blue", "shared").agent(step));
  const g = await weft.workflows.create(workflow(gamma).tags("red").agent(step));
  await weft.raw.workflows.setWorkflowStatus({ id: g.id, status: PbWorkflowStatus.PAUSED });

  await ui.open("/workflows");
  await waitForList(page, [alpha, beta, gamma]);
  const pausedRow = page.getByRole("row").filter({ has: page.getByRole("link", { name: gamma }) });
  assert.match(await pausedRow.innerText(), /paused/);
  assert.deepEqual(await seriousAxeViolations(page), [], "the list has no serious accessibility violations");

  await page.getByLabel("Status").selectOption("paused");
  await waitForList(page, [gamma]);
  assert.match(page.url(), /\?status=paused$/);

  await page.getByLabel("Status").selectOption("");
  await page.getByLabel("Tag", { exact: true }).fill("red");
  await waitForList(page, [alpha, gamma]);

  await page.getByLabel("Name contains").fill("GAMMA");
  await waitForList(page, [gamma]);
  assert.match(page.url(), /tag=red/);
  assert.match(page.url(), /q=GAMMA/);
  await page.getByText(/filters the 2 workflows loaded/).waitFor();
  await ui.screenshot("workflows-list");

  // The address alone reproduces a filtered view.
  await ui.open("/workflows?tag=shared&status=active");
  await waitForList(page, [alpha, beta]);
  assert.equal(await page.getByLabel("Tag", { exact: true }).inputValue(), "shared");

  await ui.open(`/workflows?q=${encodeURIComponent("no-such-name")}`);
  await page.getByText("No workflow matches these filters.").waitFor();

  // A tag in a row filters by it.
  await ui.open("/workflows");
  await waitForList(page, [alpha, beta, gamma]);
  await page.getByRole("button", { name: "Show workflows tagged blue" }).click();
  await waitForList(page, [beta]);
});

test("the graph shows every step of a definition with a condition and a parallel step, with branch labels", async () => {
  const { page } = ui;
  const weft = client(server);
  const name = unique("graph");
  const created = await weft.workflows.create(
    workflow(name)
      .agent({ id: "fetch", agent: "fetcher", task: "Fetch {{ input.url }}" })
      .condition({ id: "check", dependsOn: ["fetch"], expression: "$.fetch.output.ok == true", onTrue: { next: "fan" }, onFalse: { next: "archive" } })
      .parallel({
        id: "fan",
        steps: [
          { id: "left", agent: "l", task: "Left" },
          { id: "right", agent: "r", task: "Right" },
        ],
      })
      .agent({ id: "archive", agent: "archiver", task: "Archive" }),
  );
  await ui.open(`/workflows/${created.id}`);
  await page.getByRole("heading", { name }).waitFor();
  const ids = ["fetch", "check", "fan", "left", "right", "archive"];
  for (const id of ids) await page.locator(`[data-step-id="${id}"]`).waitFor();
  assert.equal(await page.locator("[data-step-id]").count(), ids.length);
  const labels = await page.locator(".react-flow__edge-text").allTextContents();
  assert.ok(labels.includes("true"), `edge labels: ${labels.join(", ")}`);
  assert.ok(labels.includes("false"), `edge labels: ${labels.join(", ")}`);

  // Choosing a step shows its stored definition beside the graph.
  await page.getByRole("button", { name: /^Step check condition/ }).click();
  const panel = page.getByLabel("Definition of step check");
  assert.match(await panel.innerText(), /"expression": "\$\.fetch\.output\.ok == true"/);
  await ui.screenshot("workflow-graph");
  assert.deepEqual(await seriousAxeViolations(page), [], "the graph tab has no serious accessibility violations");

  // The tabs work from the keyboard: arrow to JSON.
  await page.getByRole("tab", { name: "Graph" }).focus();
  await page.keyboard.press("ArrowRight");
  assert.equal(await page.getByRole("tab", { name: "JSON" }).getAttribute("aria-selected"), "true");
  const json = await page.getByLabel("Definition JSON").innerText();
  assert.deepEqual(
    (JSON.parse(json) as { steps: { id: string }[] }).steps.map((s) => s.id),
    ["fetch", "check", "fan", "archive"],
  );
});

test("versions: v1 against v3 shows the changed line on both sides, the server's patch, and rolls back", async () => {
  const { page } = ui;
  const weft = client(server);
  const name = unique("versions");
  const created = await weft.workflows.create(workflow(name).agent({ id: "only", agent: "w", task: "first task" }));
  await weft.workflows.update(created.id, { description: "now described", changeSummary: "Describe it" });
  await weft.workflows.update(created.id, { steps: [toStep({ id: "only", agent: "w", task: "third task" })], changeSummary: "Third task" });

  await ui.open(`/workflows/${created.id}`);
  await page.getByRole("tab", { name: "Versions" }).click();
  const versions = page.getByRole("table", { name: "Versions" });
  await versions.getByText("Third task").waitFor();
  await versions.getByText("Describe it").waitFor();

  await page.getByLabel("Older side").selectOption("1");
  await page.getByLabel("Newer side").selectOption("3");
  const changed = (side: "a" | "b") =>
    page.waitForFunction(
      ([s, text]) => Array.from(document.querySelectorAll(`.cm-merge-${s} .cm-changedLine`)).some((line) => line.textContent?.includes(text)),
      [side, side === "a" ? "first task" : "third task"] as const,
      { timeout: 10_000 },
    );
  await changed("a");
  await changed("b");
  const patch = page.getByRole("list", { name: "JSON Patch from version 1 to version 3" });
  await patch.getByText("/steps/0/task").waitFor();
  assert.match(await patch.innerText(), /third task/);
  assert.deepEqual(await seriousAxeViolations(page), [], "the versions tab has no serious accessibility violations");
  await ui.screenshot("workflow-versions");

  await page.getByRole("button", { name: "Roll back to this version (version 1)" }).click();
  await page.getByRole("button", { name: "Yes, roll back" }).click();
  await page.locator(".wf-head").getByText("Version 4", { exact: true }).waitFor();
  const latest = await weft.workflows.get(created.id);
  assert.equal(latest.version, 4);
  assert.equal(latest.steps[0]?.task, "first task");
});

/** Waits until the list shows `count` workflows, all of them among `names`; returns them. */
async function waitForCount(page: Page, names: string[], count: number): Promise<string[]> {
  for (let i = 0; ; i++) {
    const got = (await page.getByRole("table", { name: "Workflows" }).count()) ? await listed(page) : [];
    if (got.length === count && got.every((n) => names.includes(n))) return got;
    if (i > 100) assert.fail(`wanted ${count} of ${names.join(", ")}; the list shows ${got.join(", ")}`);
    await page.waitForTimeout(50);
  }
}

test("the list loads a page at a time and loads more on request, keeping the page size and a filter in the address", async () => {
  const { page } = ui;
  const weft = client(server);
  const tag = unique("paged");
  const step = { id: "s", agent: "w", task: "t" };
  const names: string[] = [];
  for (let i = 0; i < 5; i++) {
    const name = `${tag}-${i}`;
    await weft.workflows.create(workflow(name).tags(tag).agent(step));
    names.push(name);
  }
  const more = page.getByRole("button", { name: "Load more" });

  // Five workflows in pages of two: 2, then 4 (the first two kept), then all 5.
  await ui.open(`/workflows?tag=${tag}&pageSize=2`);
  const first = await waitForCount(page, names, 2);
  await page.getByText("2 of 5 workflows loaded, 2 at a time.").waitFor();
  await more.click();
  const second = await waitForCount(page, names, 4);
  assert.ok(first.every((n) => second.includes(n)), "loading more keeps the first page");
  await more.focus();
  await page.keyboard.press("Enter");
  await waitForList(page, names);
  assert.equal(await more.count(), 0, "the last page says so: nothing more to load");

  // The name search says how many it searches: the five loaded.
  await page.getByLabel("Name contains").fill(`${tag}-3`);
  await waitForList(page, [`${tag}-3`]);
  await page.getByText(/filters the 5 workflows loaded so far/).waitFor();
  assert.match(page.url(), /pageSize=2/, "a filter change keeps the page size");

  // Another server-side filter starts again from one page.
  await page.getByLabel("Name contains").fill("");
  await page.getByLabel("Status").selectOption("active");
  await waitForCount(page, names, 2);
  assert.match(page.url(), /pageSize=2/);
  assert.match(page.url(), /status=active/);
  await more.waitFor();
  assert.deepEqual(await seriousAxeViolations(page), [], "the paged list has no serious accessibility violations");
});
