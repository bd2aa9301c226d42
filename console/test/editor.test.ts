/**
 * The workflow editor against a live server: a cycle is marked on every
 * step of it, in the graph and in the text; fixing the text clears the
 * marks; a problem in the list moves the cursor; saving creates the
 * workflow, read back through the SDK; leaving with unsaved changes asks
 * first, and a save clears them; the graph refits as steps are added,
 * unless the user has moved it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Dialog, Page } from "playwright-core";
import { workflow } from "weftflow";
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

/** One step per line, so a lint mark's line tells which step it is on. */
function definition(name: string, deps: { a: string[]; b: string[]; c: string[] }): string {
  const step = (id: string, dependsOn: string[]) =>
    `    { "id": "${id}", "agent": "worker-${id}", "task": "Do ${id}"${dependsOn.length ? `, "dependsOn": ${JSON.stringify(dependsOn)}` : ""} }`;
  return `{\n  "name": "${name}",\n  "steps": [\n${step("a", deps.a)},\n${step("b", deps.b)},\n${step("c", deps.c)}\n  ]\n}\n`;
}

/** Replaces the editor's whole text the way a user would: select all, type. */
async function replaceText(page: Page, text: string): Promise<void> {
  const editor = page.getByRole("textbox", { name: "Workflow definition (JSON)" });
  await editor.click();
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.insertText(text);
}

const problemsOn = (page: Page, id: string) =>
  page.locator(`[data-step-id="${id}"]`).evaluate((el) => Number(el.getAttribute("data-problems") ?? "0"));

/** The step ids (`"id": "x"`) of the lines that carry an error mark. */
const markedSteps = (page: Page) =>
  page.evaluate(() => {
    const ids = new Set<string>();
    for (const mark of Array.from(document.querySelectorAll(".cm-lintRange-error"))) {
      const line = mark.closest(".cm-line")?.textContent ?? "";
      const id = /"id": "([^"]+)"/.exec(line)?.[1];
      if (id) ids.add(id);
    }
    return [...ids].sort();
  });

test("the editor marks a cycle on both of its steps, clears the marks once fixed, and saves", async () => {
  const { page } = ui;
  const name = unique("cyclic");
  await ui.open("/workflows/new");
  await page.getByRole("heading", { name: "New workflow" }).waitFor();

  await replaceText(page, definition(name, { a: ["b"], b: ["a"], c: [] }));
  await page.waitForFunction(
    () => ["a", "b"].every((id) => Number(document.querySelector(`[data-step-id="${id}"]`)?.getAttribute("data-problems")) > 0),
    undefined,
    { timeout: 10_000 },
  );
  assert.ok((await problemsOn(page, "a")) > 0);
  assert.ok((await problemsOn(page, "b")) > 0);
  assert.equal(await problemsOn(page, "c"), 0, "the step outside the cycle is not marked");
  await page.waitForFunction(() => document.querySelectorAll(".cm-lintRange-error").length >= 2);
  assert.deepEqual(await markedSteps(page), ["a", "b"], "lint marks lie on the text of both steps of the cycle, not on c");
  const count = page.getByRole("status").filter({ hasText: /problem/ });
  assert.match(await count.innerText(), /1 problem\b/);
  const cycle = page.getByRole("button", { name: /CYCLE/ });
  assert.match(await cycle.innerText(), /Cycle detected/);
  await ui.screenshot("editor-cycle");
  assert.deepEqual(await seriousAxeViolations(page), [], "the editor has no serious accessibility violations");

  // Choosing the problem by keyboard puts the cursor in the editor.
  await cycle.focus();
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.activeElement?.classList.contains("cm-content") === true);

  await replaceText(page, definition(name, { a: ["c"], b: ["a"], c: [] }));
  await page.waitForFunction(
    () =>
      ["a", "b", "c"].every((id) => document.querySelector(`[data-step-id="${id}"]`)?.getAttribute("data-problems") === "0") &&
      document.querySelectorAll(".cm-lintRange-error").length === 0,
    undefined,
    { timeout: 10_000 },
  );
  await page.getByRole("status").filter({ hasText: "No problems" }).waitFor();

  await page.getByRole("button", { name: "Create workflow" }).click();
  await page.waitForURL(/\/ui\/workflows\/wf_[a-z0-9]+$/, { timeout: 10_000 });
  await page.getByRole("heading", { name }).waitFor();
  const saved = await client(server).workflows.get(name);
  assert.equal(saved.version, 1);
  assert.deepEqual(
    saved.steps.map((s) => [s.id, s.dependsOn ?? []]),
    [
      ["a", ["c"]],
      ["b", ["a"]],
      ["c", []],
    ],
  );
  assert.ok(page.url().endsWith(`/workflows/${saved.id}`));
});

test("a syntax error is shown at its place and saving waits for a fix; an edit saves a new version", async () => {
  const { page } = ui;
  const weft = client(server);
  const name = unique("edited");
  const created = await weft.workflows.create(workflow(name).agent({ id: "only", agent: "w", task: "first" }));
  await ui.open(`/workflows/${created.id}/edit`);
  const editor = page.getByRole("textbox", { name: "Workflow definition (JSON)" });
  await editor.waitFor();
  await page.waitForFunction(() => document.querySelector(".cm-content")?.textContent?.includes('"first"') === true);

  const text = (await editor.innerText()).replace(/\u00a0/g, " ");
  await replaceText(page, text.replace('"first"', '"second" oops'));
  await page.getByRole("button", { name: /JSON_SYNTAX/ }).first().waitFor({ timeout: 10_000 });
  assert.ok(await page.getByRole("button", { name: "Save new version" }).isDisabled(), "cannot save text that is not JSON");

  await replaceText(page, text.replace('"first"', '"second"'));
  await page.getByRole("status").filter({ hasText: "No problems" }).waitFor({ timeout: 10_000 });
  await page.getByLabel("Change summary").fill("Second task");
  await page.getByRole("button", { name: "Save new version" }).click();
  await page.waitForURL(new RegExp(`/workflows/${created.id}$`));
  const saved = await weft.workflows.get(created.id);
  assert.equal(saved.version, 2);
  assert.equal(saved.changeSummary, "Second task");
  assert.equal(saved.steps[0]?.task, "second");
});

test("each kind of problem is marked where it is: a wrongly typed field, a missing dependency, a workflow-level schema", async () => {
  const { page } = ui;
  const name = unique("kinds");
  await ui.open("/workflows/new");
  await page.getByRole("heading", { name: "New workflow" }).waitFor();
  const status = page.getByRole("status").filter({ hasText: /problem/i });

  // A field the SDK cannot read (retries must be a number): found before the server is asked.
  await replaceText(page, definition(name, { a: [], b: [], c: [] }).replace('"task": "Do b"', '"task": "Do b", "retries": "many"'));
  const invalid = page.getByRole("button", { name: /INVALID_FIELD/ });
  await invalid.waitFor({ timeout: 10_000 });
  assert.match(await invalid.innerText(), /steps\[1\]\.retries must be a number/);
  await page.waitForFunction(() => Number(document.querySelector('[data-step-id="b"]')?.getAttribute("data-problems")) > 0);
  assert.deepEqual(await markedSteps(page), ["b"]);
  assert.ok(await page.getByRole("button", { name: "Create workflow" }).isDisabled());

  // A dependency on a step that does not exist: the server's problem, on step c.
  await replaceText(page, definition(name, { a: [], b: [], c: ["nope"] }));
  const missing = page.getByRole("button", { name: /MISSING_DEPENDENCY/ });
  await missing.waitFor({ timeout: 10_000 });
  await page.waitForFunction(() => Number(document.querySelector('[data-step-id="c"]')?.getAttribute("data-problems")) > 0);
  assert.equal(await problemsOn(page, "a"), 0);
  assert.deepEqual(await markedSteps(page), ["c"]);
  assert.match(await status.innerText(), /1 problem\b/);

  // A workflow-level problem (no step) is marked on its field, not on a step.
  const withSchema = definition(name, { a: [], b: [], c: [] }).replace(`"name": "${name}",`, `"name": "${name}",\n  "inputSchema": { "type": "no-such-type" },`);
  await replaceText(page, withSchema);
  await page.waitForFunction(() => document.querySelectorAll(".cm-lintRange-error").length > 0, undefined, { timeout: 10_000 });
  const markedLines = await page.evaluate(() =>
    Array.from(document.querySelectorAll(".cm-lintRange-error")).map((m) => m.closest(".cm-line")?.textContent ?? ""),
  );
  assert.ok(markedLines.every((line) => line.includes("inputSchema")), `marked: ${markedLines.join(" | ")}`);
  assert.equal(await page.locator('[data-step-id][data-problems]:not([data-problems="0"])').count(), 0, "no step carries a workflow-level problem");
  await page.getByRole("button", { name: /workflow/ }).filter({ hasText: "INVALID_SCHEMA" }).waitFor();
});

/** Whether the page's beforeunload handlers would hold a close or reload (the event, dispatched by hand, is cancelled). */
const holdsUnload = (page: Page) =>
  page.evaluate(() => {
    const event = new Event("beforeunload", { cancelable: true });
    window.dispatchEvent(event);
    return event.defaultPrevented;
  });

test("leaving the editor with unsaved changes asks first; cancelling keeps the text; after a save nothing is asked", async () => {
  const { page } = ui;
  const weft = client(server);
  const created = await weft.workflows.create(workflow(unique("guarded")).agent({ id: "only", agent: "w", task: "first" }));
  const editPath = `/workflows/${created.id}/edit`;
  const editor = page.getByRole("textbox", { name: "Workflow definition (JSON)" });
  const runsLink = page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Runs" });
  // The test before may leave the editor with unsaved text: leave it without asking.
  const leaveAnyway = (dialog: Dialog) => void dialog.accept();
  page.on("dialog", leaveAnyway);
  await ui.open("/workflows");
  page.off("dialog", leaveAnyway);
  const asked: string[] = [];
  // Every dialog is recorded; the next answer is taken from `answers` (dismiss when none is left).
  const answers: boolean[] = [];
  const onDialog = (dialog: Dialog) => {
    asked.push(dialog.type());
    void (answers.shift() ? dialog.accept() : dialog.dismiss());
  };
  page.on("dialog", onDialog);
  try {
    const waitAsked = async (count: number) => {
      for (let i = 0; asked.length < count; i++) {
        if (i > 100) assert.fail(`expected ${count} dialogs, saw ${asked.join(", ")}`);
        await page.waitForTimeout(50);
      }
    };
    const openEditor = async () => {
      await ui.open(editPath);
      await editor.waitFor();
      await page.waitForFunction(() => document.querySelector(".cm-content")?.textContent?.includes('"first"') === true);
    };

    // Unchanged: nothing to lose, nothing asked.
    await openEditor();
    assert.equal(await holdsUnload(page), false, "no beforeunload prompt without changes");
    await runsLink.click();
    await page.waitForURL(/\/ui\/runs$/);
    assert.deepEqual(asked, []);

    // Changed, then a nav link: asked; cancelling stays with the text intact.
    await openEditor();
    const text = (await editor.innerText()).replace(/\u00a0/g, " ");
    await replaceText(page, text.replace('"first"', '"second"'));
    assert.equal(await holdsUnload(page), true, "closing or reloading the tab would prompt");
    await runsLink.click();
    await waitAsked(1);
    assert.deepEqual(asked, ["confirm"]);
    assert.ok(page.url().endsWith(`/ui${editPath}`), `still on the editor: ${page.url()}`);
    assert.match(await editor.innerText(), /"second"/, "the edit is still there");

    // The browser's own prompt on reload (accepted here, so the page reloads with the saved text).
    answers.push(true);
    await page.reload();
    assert.deepEqual(asked, ["confirm", "beforeunload"]);
    await editor.waitFor();
    await page.waitForFunction(() => document.querySelector(".cm-content")?.textContent?.includes('"first"') === true);

    // Changed again: accepting the question leaves.
    await replaceText(page, text.replace('"first"', '"third"'));
    answers.push(true);
    await runsLink.click();
    await page.waitForURL(/\/ui\/runs$/);
    assert.deepEqual(asked, ["confirm", "beforeunload", "confirm"]);

    // Changed and saved: the save's own navigation and leaving after it ask nothing.
    await openEditor();
    await replaceText(page, text.replace('"first"', '"fourth"'));
    await page.getByRole("status").filter({ hasText: "No problems" }).waitFor({ timeout: 10_000 });
    await page.getByRole("button", { name: "Save new version" }).click();
    await page.waitForURL(new RegExp(`/workflows/${created.id}$`));
    assert.equal(await holdsUnload(page), false);
    await runsLink.click();
    await page.waitForURL(/\/ui\/runs$/);
    assert.deepEqual(asked, ["confirm", "beforeunload", "confirm"], "nothing asked after the save");
    assert.equal((await weft.workflows.get(created.id)).steps[0]?.task, "fourth");
  } finally {
    page.off("dialog", onDialog);
  }
});

test("the graph refits as steps are added, but not after the user has moved it, until Fit View", async () => {
  const { page } = ui;
  const name = unique("growing");
  const transform = () => page.locator(".editor-graph .react-flow__viewport").evaluate((el) => (el as HTMLElement).style.transform);
  const inView = async (id: string) => {
    const pane = await page.locator(".editor-graph .react-flow").boundingBox();
    const box = await page.locator(`.editor-graph [data-step-id="${id}"]`).boundingBox();
    return !!pane && !!box && box.x >= pane.x && box.y >= pane.y && box.x + box.width <= pane.x + pane.width && box.y + box.height <= pane.y + pane.height;
  };
  const chain = (ids: string[]) =>
    `{\n  "name": "${name}",\n  "steps": [\n${ids
      .map((id, i) => `    { "id": "${id}", "agent": "w", "task": "t"${i ? `, "dependsOn": ["${ids[i - 1]}"]` : ""} }`)
      .join(",\n")}\n  ]\n}\n`;
  /** Waits until the step nodes `ids` are drawn and the view has stopped moving; returns its transform. */
  const settled = async (ids: string[]) => {
    await page.waitForFunction((ids) => ids.every((id) => document.querySelector(`.editor-graph [data-step-id="${id}"]`)), ids, { timeout: 10_000 });
    let last = "";
    for (let i = 0; i < 100; i++) {
      await page.waitForTimeout(100);
      const now = await transform();
      if (now === last) return now;
      last = now;
    }
    return last;
  };

  await ui.open("/workflows/new");
  await page.getByRole("heading", { name: "New workflow" }).waitFor();
  await replaceText(page, chain(["a", "b"]));
  await settled(["a", "b"]);
  await replaceText(page, chain(["a", "b", "c", "d", "e"]));
  await settled(["a", "b", "c", "d", "e"]);
  for (const id of ["a", "b", "c", "d", "e"]) assert.ok(await inView(id), `${id} is in view after the graph grew`);

  // The user pans: the next growth leaves the view where they put it.
  const pane = await page.locator(".editor-graph .react-flow").boundingBox();
  assert.ok(pane);
  await page.mouse.move(pane.x + pane.width / 2, pane.y + 8);
  await page.mouse.down();
  await page.mouse.move(pane.x + pane.width / 2 - 150, pane.y + 40, { steps: 5 });
  await page.mouse.up();
  const moved = await settled(["a"]);
  await replaceText(page, chain(["a", "b", "c", "d", "e", "f", "g"]));
  assert.equal(await settled(["f", "g"]), moved, "no refit once the user has moved the view");

  // Fit View hands the view back: growth is followed again.
  await page.getByRole("button", { name: "Fit View" }).click();
  await settled(["a"]);
  await replaceText(page, chain(["a", "b", "c", "d", "e", "f", "g", "h", "i"]));
  await settled(["h", "i"]);
  for (const id of ["a", "e", "h", "i"]) assert.ok(await inView(id), `${id} is in view after Fit View and more growth`);
});
