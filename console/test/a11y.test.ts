/**
 * Accessibility of every page, in headless Chromium against a live
 * server: axe-core finds no violation of impact "serious" or "critical"
 * (all are printed on failure), and a keyboard-only walk from the
 * workflows list reaches and activates "New workflow" and a DAG node.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { workflow, type Weft } from "weftflow";
import { client, openConsole, startServer, unique, type Console, type LiveServer, axeFindings, describeAxe } from "./harness.js";

let server: LiveServer;
let weft: Weft;
let ui: Console;

before(async () => {
  server = await startServer();
  weft = client(server);
  ui = await openConsole(server);
});

after(async () => {
  await ui?.close();
  await server?.stop();
});

/** Waits until the page has its heading and nothing says it is loading. */
async function settled(page: Page): Promise<void> {
  await page.locator("main h1").first().waitFor({ timeout: 15_000 });
  await page.waitForFunction(() => !document.querySelector("[aria-busy=true]") && !/Loading/.test(document.querySelector("main")?.textContent ?? ""), null, {
    timeout: 15_000,
  });
  // Let layout-dependent drawings (the DAG's fitView) finish.
  await page.waitForTimeout(250);
}

test("no page has a serious or critical axe violation", async () => {
  const agent = unique("a11y-agent");
  const wf = await weft.workflows.create(
    workflow(unique("a11y"))
      .inputSchema({ type: "object", required: ["company"], properties: { company: { type: "string", description: "Who" }, size: { type: "integer" }, vip: { type: "boolean" } } })
      .transform({ id: "shape", output: { company: "$.input.company" } })
      .agent({ id: "score", agent, task: "t", dependsOn: ["shape"] }),
  );
  const done = await weft.workflows.create(workflow(unique("a11y-done")).transform({ id: "only", output: { ok: "$.input" } }));
  const finished = await done.execute({ input: {} });
  assert.equal(finished.status, "completed");
  // Something queued, so the workers page has its "no worker" row.
  await wf.run({ input: { company: "Acme" } });
  await weft.schedules.create(wf.id, { cron: "0 9 * * 1-5", timezone: "UTC", input: { company: "Acme" } });
  const { templates } = await weft.templates.list();

  const pages = [
    "/workflows",
    `/workflows/${wf.id}`,
    "/workflows/new",
    "/runs",
    `/runs/${finished.id}`,
    "/approvals",
    "/workers",
    `/schedules?workflow=${wf.id}`,
    `/templates${templates[0] ? `?template=${templates[0].id}` : ""}`,
    `/workflows/${wf.id}/run`,
  ];
  const report: string[] = [];
  let serious = 0;
  for (const path of pages) {
    await ui.open(path);
    await settled(ui.page).catch((e: unknown) => assert.fail(`${path} did not settle: ${String(e)}\n${ui.logs.join("\n")}`));
    const found = await axeFindings(ui.page);
    if (found.length) report.push(describeAxe(path, found));
    serious += found.filter((v) => v.impact === "serious" || v.impact === "critical").length;
  }
  if (report.length) console.log(`axe findings (all impacts):\n${report.join("\n")}`);
  assert.equal(serious, 0, `serious or critical axe violations:\n${report.join("\n")}`);
});

/** Presses Tab until `match` holds for the focused element (at most `limit` presses); whether it did. */
async function tabTo(page: Page, match: (el: { name: string; stepId: string | null; tag: string }) => boolean, limit = 80): Promise<boolean> {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press("Tab");
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return { name: (el?.getAttribute("aria-label") ?? el?.textContent ?? "").trim(), stepId: el?.getAttribute("data-step-id") ?? null, tag: el?.tagName ?? "" };
    });
    if (match(focused)) return true;
  }
  return false;
}

test("from the workflows list, the keyboard alone reaches and activates New workflow and a DAG node", async (t) => {
  const wf = await weft.workflows.create(workflow(unique("keys")).transform({ id: "first", output: { a: "$.input" } }).transform({ id: "second", output: { b: "$.first" }, dependsOn: ["first"] }));
  const { page } = ui;
  await ui.open("/workflows");
  await settled(page);
  if (/not built yet/.test((await page.locator("main h1").textContent()) ?? "")) {
    t.skip("the workflows list is still a placeholder in this tree");
    return;
  }
  assert.ok(await tabTo(page, (el) => /\bNew workflow\b/.test(el.name)), "Tab reaches New workflow");
  await page.keyboard.press("Enter");
  await page.waitForURL(/\/ui\/workflows\/new$/);

  await ui.open("/workflows");
  await settled(page);
  assert.ok(await tabTo(page, (el) => el.tag === "A" && el.name.includes(wf.name)), `Tab reaches the link to ${wf.name}`);
  await page.keyboard.press("Enter");
  await page.waitForURL(new RegExp(`/ui/workflows/${wf.id}$`));
  await settled(page);
  assert.ok(await tabTo(page, (el) => el.stepId !== null), "Tab reaches a DAG node");
  const stepId = await page.evaluate(() => document.activeElement?.getAttribute("data-step-id"));
  await page.keyboard.press("Enter");
  await page.waitForFunction((id) => document.querySelector(`[data-step-id="${id}"]`)?.getAttribute("aria-pressed") === "true", stepId, { timeout: 5_000 });
});
