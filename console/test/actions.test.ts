/**
 * Acting on runs from the console, in headless Chromium against a live
 * server, with an SDK worker where steps need one: approving and denying
 * approvals (on the run page and on /approvals), retrying a failed run
 * from a step (upstream outputs reused, not recomputed), pausing, resuming
 * and cancelling, and delivering a wait step's event with a JSON payload
 * (an invalid one sends nothing). Every outcome is read back through the
 * SDK, never taken from the page alone.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Page } from "playwright-core";
import { NonRetryableError, Worker, workflow, type Run, type Weft } from "weftflow";
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

/** Polls `read` until `ok` holds for its answer (or fails after `ms`, naming the last answer). */
async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}; last: ${JSON.stringify(last)}\n${ui.logs.join("\n")}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** axe-core's violations (every impact) inside `selector`: our components only. */
async function axeViolations(page: Page, selector: string): Promise<string[]> {
  return (await axeFindings(page, selector)).map((v) => describeAxe(selector, [v]));
}

function runStatus(runId: string, ...statuses: Run["status"][]): Promise<Run> {
  return until(
    () => weft.runs.get(runId),
    (run) => statuses.includes(run.status),
    `run ${runId} to be ${statuses.join(" or ")}`,
  );
}

function stepOf(run: Run, id: string) {
  const step = run.steps.find((s) => s.id === id);
  assert.ok(step, `step ${id} in ${JSON.stringify(run.steps.map((s) => s.id))}`);
  return step;
}

/** An approval gate before a send, and a fallback a denial is routed to (as the server's own tests define it). */
async function gatedWorkflow(): Promise<string> {
  const wf = await weft.workflows.create(
    workflow(unique("gated"))
      .approval({ id: "gate", action: "ship_order", message: "Ship the order?", timeout: "4h", defaultAction: "deny", onStepFailure: { action: "goto", target: "rejected" } })
      .transform({ id: "send", dependsOn: ["gate"], output: { by: "$.gate.output.decidedBy" } })
      .transform({ id: "rejected", output: { order: "$.input.order" } }),
  );
  return wf.id;
}

async function pausedOnApproval(workflowId: string): Promise<Run> {
  const run = await weft.runs.start(workflowId, { input: { order: "o-1" } });
  return until(() => weft.runs.get(run.id), (r) => r.status === "paused" && r.pendingAction?.type === "approval", `run ${run.id} to wait for its approval`);
}

test("approving from the run page, with a comment, completes the run and records the comment", async () => {
  const run = await pausedOnApproval(await gatedWorkflow());
  const { page } = ui;
  await ui.open(`/runs/${run.id}`);
  const panel = page.getByRole("region", { name: /Waiting for an approval/ });
  await panel.waitFor();
  await panel.getByText("Ship the order?").waitFor();
  // The 4h timeout's expiry and its default action are shown.
  await panel.getByText("(then: deny)").waitFor();
  const form = panel.getByRole("form", { name: "Decide the approval of step gate" });
  // Keyboard only: type the comment, Tab to Approve, Enter.
  await form.getByLabel("Comment").focus();
  await page.keyboard.type("Checked the address");
  await ui.screenshot("approval");
  assert.deepEqual(await axeViolations(page, ".pending-action"), []);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Approve");
  await page.keyboard.press("Enter");

  const done = await runStatus(run.id, "completed", "failed");
  assert.equal(done.status, "completed", JSON.stringify(done));
  assert.equal(stepOf(done, "gate").status, "completed");
  const [approval] = await weft.approvals.list({ runId: run.id });
  assert.equal(approval?.status, "approved");
  assert.equal(approval?.comment, "Checked the address");
  // The panel goes away once the run no longer waits.
  await panel.waitFor({ state: "detached" });
});

test("on /approvals: approving one run and denying another, each with a comment; the denial takes the deny route", async () => {
  const workflowId = await gatedWorkflow();
  const approveRun = await pausedOnApproval(workflowId);
  const denyRun = await pausedOnApproval(workflowId);
  const { page } = ui;
  await ui.open("/approvals");
  const card = (runId: string) => page.getByRole("article").filter({ has: page.getByRole("link", { name: runId }) });

  const approveCard = card(approveRun.id);
  await approveCard.waitFor();
  await approveCard.getByText("Ship the order?").waitFor();
  await approveCard.getByLabel("Comment").fill("Good to go");
  await ui.screenshot("approvals");
  assert.deepEqual(await axeViolations(page, ".approval-list"), []);
  await approveCard.getByRole("button", { name: "Approve" }).click();
  await page.getByRole("status").filter({ hasText: `Approved ship_order on run ${approveRun.id}` }).waitFor();
  // Decided approvals leave the pending list.
  await approveCard.waitFor({ state: "detached" });

  const denyCard = card(denyRun.id);
  await denyCard.getByLabel("Comment").fill("Wrong address");
  await denyCard.getByRole("button", { name: "Deny" }).click();
  await denyCard.waitFor({ state: "detached" });

  const approved = await runStatus(approveRun.id, "completed", "failed");
  assert.equal(approved.status, "completed");
  assert.equal((await weft.approvals.list({ runId: approveRun.id }))[0]?.comment, "Good to go");

  const denied = await runStatus(denyRun.id, "completed", "failed");
  const [denial] = await weft.approvals.list({ runId: denyRun.id });
  assert.equal(denial?.status, "denied");
  assert.equal(denial?.comment, "Wrong address");
  assert.equal(stepOf(denied, "gate").status, "failed", "a denial fails the gate");
  assert.match(stepOf(denied, "gate").error, /denied/);
  assert.equal(stepOf(denied, "rejected").status, "completed", "and routes to its onStepFailure target");
  assert.deepEqual(stepOf(denied, "rejected").output, { order: "o-1" });

  // The status filter shows decided ones with their comment.
  await page.getByLabel("Status").selectOption("denied");
  await card(denyRun.id).getByText("Wrong address").waitFor();
});

test("retrying a failed run from step c reuses a and b (not executed again) and the new run completes", async () => {
  const agents = { a: unique("agent-a"), b: unique("agent-b"), c: unique("agent-c") };
  const calls = { a: 0, b: 0, c: 0 };
  const stop = new AbortController();
  const worker = new Worker(weft, { name: "actions-test", concurrency: 2 })
    .agent(agents.a, () => ({ token: `a-${++calls.a}-${Math.random()}` }))
    .agent(agents.b, (task) => ({ token: `b-${++calls.b}-${Math.random()}`, from: task.input["from"] ?? null }))
    .agent(agents.c, (task) => {
      if (++calls.c === 1) throw new NonRetryableError("c fails the first time", { code: "FIRST_TRY" });
      return { from: task.input["from"] ?? null };
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(
      workflow(unique("chain"))
        .agent({ id: "a", agent: agents.a, task: "a" })
        .agent({ id: "b", agent: agents.b, task: "b", dependsOn: ["a"], inputMap: { from: "$.a.output.token" } })
        .agent({ id: "c", agent: agents.c, task: "c", dependsOn: ["b"], inputMap: { from: "$.b.output.token" } }),
    );
    const started = await weft.runs.start(wf.id);
    const failed = await runStatus(started.id, "failed", "completed");
    assert.equal(failed.status, "failed");
    assert.deepEqual(calls, { a: 1, b: 1, c: 1 });

    const { page } = ui;
    await ui.open(`/runs/${failed.id}`);
    // Select step c in the DAG with the keyboard (each node is a button).
    const stepC = page.locator('button[data-step-id="c"][data-status="failed"]');
    await stepC.focus();
    await page.keyboard.press("Enter");
    assert.equal(await stepC.getAttribute("aria-pressed"), "true");
    await page.getByRole("button", { name: "Retry from c" }).click();
    await page.waitForURL((url) => /\/ui\/runs\/[^/]+$/.test(url.pathname) && !url.pathname.endsWith(failed.id));
    const newId = decodeURIComponent(new URL(page.url()).pathname.split("/").pop() ?? "");
    assert.notEqual(newId, failed.id);

    const retried = await runStatus(newId, "completed", "failed");
    assert.equal(retried.status, "completed", JSON.stringify(retried));
    assert.equal(retried.retryOfRunId, failed.id);
    assert.deepEqual(calls, { a: 1, b: 1, c: 2 }, "a and b were not executed again");
    assert.deepEqual(stepOf(retried, "a").output, stepOf(failed, "a").output);
    assert.deepEqual(stepOf(retried, "b").output, stepOf(failed, "b").output);
    assert.deepEqual(stepOf(retried, "c").output, { from: (stepOf(failed, "b").output as { token: string }).token });
  } finally {
    stop.abort();
    await worker;
  }
});

test("pause, then resume, then cancel a running run with a reason", async () => {
  // No worker serves this agent, so the run stays running until acted on.
  const wf = await weft.workflows.create(workflow(unique("idle")).agent({ id: "work", agent: unique("nobody"), task: "t" }));
  const run = await weft.runs.start(wf.id);
  await runStatus(run.id, "running");
  const { page } = ui;
  await ui.open(`/runs/${run.id}`);
  const actions = page.getByRole("group", { name: "Run actions" });

  await actions.getByRole("button", { name: "Pause run" }).click();
  const pauseDialog = page.getByRole("dialog", { name: "Pause this run?" });
  await pauseDialog.getByLabel("Reason").fill("maintenance window");
  await pauseDialog.getByRole("button", { name: "Pause run" }).click();
  await pauseDialog.waitFor({ state: "detached" });
  const paused = await runStatus(run.id, "paused");
  assert.equal(paused.pendingAction?.type, "manual");
  assert.match(paused.pendingAction?.message ?? "", /maintenance window/);

  await actions.getByRole("button", { name: "Resume run" }).click();
  await runStatus(run.id, "running");
  await actions.getByRole("button", { name: "Pause run" }).waitFor();

  // Escape closes the confirmation without cancelling.
  await actions.getByRole("button", { name: "Cancel run" }).click();
  await page.getByRole("dialog", { name: "Cancel this run?" }).waitFor();
  await page.keyboard.press("Escape");
  await page.getByRole("dialog").waitFor({ state: "detached" });
  await page.waitForFunction(() => document.activeElement?.textContent === "Cancel run");
  assert.equal((await weft.runs.get(run.id)).status, "running");

  await actions.getByRole("button", { name: "Cancel run" }).click();
  const cancelDialog = page.getByRole("dialog", { name: "Cancel this run?" });
  await cancelDialog.getByLabel("Reason").fill("not needed any more");
  await ui.screenshot("cancel-dialog");
  assert.deepEqual(await axeViolations(page, "dialog"), []);
  await cancelDialog.getByRole("button", { name: "Cancel run" }).click();
  const cancelled = await runStatus(run.id, "cancelled");
  assert.equal(cancelled.cancelReason, "not needed any more");
  // A cancelled run offers a retry instead, and no more cancel.
  const retry = actions.getByRole("button", { name: /^Retry from/ });
  await retry.waitFor();
  assert.equal(await actions.getByRole("button", { name: "Cancel run" }).count(), 0);

  // Retrying the cancelled run starts a new run and opens it.
  await retry.click();
  await page.waitForURL((url) => !url.pathname.endsWith(run.id));
  const newId = decodeURIComponent(new URL(page.url()).pathname.split("/").pop() ?? "");
  const again = await weft.runs.get(newId);
  assert.equal(again.retryOfRunId, run.id);
  await weft.runs.cancel(newId, "test over");
});

test("a wait step: an invalid JSON payload is explained and sends nothing; a valid one becomes the step's output", async () => {
  const wf = await weft.workflows.create(
    workflow(unique("await-payment"))
      .wait({ id: "pay", event: "payment.confirmed", timeout: "1h" })
      .transform({ id: "ship", dependsOn: ["pay"], output: { amount: "$.pay.output.amount" } }),
  );
  const started = await weft.runs.start(wf.id);
  const run = await until(() => weft.runs.get(started.id), (r) => r.pendingAction?.type === "event", "the run to wait for its event");
  const eventsBefore = (await weft.runs.events(run.id)).length;

  const { page } = ui;
  await ui.open(`/runs/${run.id}`);
  const form = page.getByRole("form", { name: "Resume with event payment.confirmed" });
  const payload = form.getByLabel("Event payload");
  await payload.fill('{"amount": 42');
  await form.getByRole("button", { name: "Resume with event" }).click();
  await form.getByRole("alert").filter({ hasText: "not valid JSON" }).waitFor();
  assert.equal(await payload.getAttribute("aria-invalid"), "true");
  assert.deepEqual(await axeViolations(page, ".pending-action"), []);
  const still = await weft.runs.get(run.id);
  assert.equal(still.status, "paused", "nothing was sent");
  assert.equal((await weft.runs.events(run.id)).length, eventsBefore, "no event was recorded");

  // Over 1 MiB: refused here with the limit named, nothing sent.
  await payload.fill(JSON.stringify({ blob: "x".repeat(1024 * 1024) }));
  await form.getByRole("button", { name: "Resume with event" }).click();
  await form.getByRole("alert").filter({ hasText: "at most 1,048,576 bytes" }).waitFor();
  assert.equal((await weft.runs.events(run.id)).length, eventsBefore, "still no event recorded");

  await payload.fill('{"amount": 42, "currency": "eur"}');
  await form.getByRole("button", { name: "Resume with event" }).click();
  const done = await runStatus(run.id, "completed", "failed");
  assert.equal(done.status, "completed");
  assert.deepEqual(stepOf(done, "pay").output, { amount: 42, currency: "eur" });
  assert.deepEqual(stepOf(done, "ship").output, { amount: 42 });
});

test("an approval offering its own choices records the one picked", async () => {
  const wf = await weft.workflows.create(
    workflow(unique("choice")).approval({ id: "speed", action: "pick_shipping", options: ["express", "standard", "reject"] }),
  );
  const started = await weft.runs.start(wf.id);
  await until(() => weft.runs.get(started.id), (r) => r.pendingAction?.type === "approval", "the approval");
  const { page } = ui;
  await ui.open(`/runs/${started.id}`);
  const form = page.getByRole("form", { name: "Decide the approval of step speed" });
  await form.getByLabel("Option to approve with").selectOption("standard");
  await form.getByRole("button", { name: "Approve (standard)" }).click();
  await runStatus(started.id, "completed");
  const [approval] = await weft.approvals.list({ runId: started.id });
  assert.equal(approval?.status, "approved");
  assert.equal(approval?.option, "standard");
});

test("a decision the server refuses (decided elsewhere meanwhile) is shown, and the first decision stands", async () => {
  const run = await pausedOnApproval(await gatedWorkflow());
  // A page of its own whose timers stand still: the list must not refresh
  // between the decision made behind its back and the click.
  const context = await ui.browser.newContext();
  try {
    const page = await context.newPage();
    await page.clock.install();
    await page.goto(`${server.url}/ui/approvals`);
    const card = page.getByRole("article").filter({ has: page.getByRole("link", { name: run.id }) });
    await card.waitFor();
    const [pending] = await weft.approvals.list({ runId: run.id, status: "pending" });
    assert.ok(pending);
    await weft.approvals.approve(pending.id, { comment: "approved elsewhere" });

    await card.getByRole("button", { name: "Deny" }).click();
    const alert = card.getByRole("alert");
    await alert.waitFor();
    // The server's own words and reason, not a generic failure.
    assert.match((await alert.textContent()) ?? "", /Decision refused: .*already decided.*\(APPROVAL_NOT_PENDING\)/);
    const after = await weft.approvals.get(pending.id);
    assert.equal(after.status, "approved");
    assert.equal(after.comment, "approved elsewhere");
  } finally {
    await context.close();
  }
});

test("a tool the policy gates: approving its use on the run page lets the worker's check through and the run completes", async () => {
  const agent = unique("crm-agent");
  const stop = new AbortController();
  const worker = new Worker(weft, { name: "actions-tools" })
    .agent(agent, async (task) => {
      const verdict = await task.checkTool("update_crm", { account: "acme" });
      return { allowed: verdict.allowed };
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(
      workflow(unique("gated-tool")).policy({ requireApprovalFor: ["update_crm"] }).agent({ id: "enrich", agent, task: "enrich" }),
    );
    const started = await weft.runs.start(wf.id);
    await until(() => weft.runs.get(started.id), (r) => r.pendingAction?.type === "tool_approval", "the tool approval");
    const { page } = ui;
    await ui.open(`/runs/${started.id}`);
    const panel = page.getByRole("region", { name: /Waiting for approval of a tool/ });
    await panel.getByText("update_crm", { exact: true }).waitFor();
    const form = panel.getByRole("form", { name: "Decide the approval of step enrich" });
    await form.getByLabel("Comment").fill("CRM write is fine");
    await form.getByRole("button", { name: "Approve" }).click();

    const done = await runStatus(started.id, "completed", "failed");
    assert.equal(done.status, "completed", JSON.stringify(done));
    assert.deepEqual(stepOf(done, "enrich").output, { allowed: true });
    const [approval] = await weft.approvals.list({ runId: started.id });
    assert.equal(approval?.kind, "tool_use");
    assert.equal(approval?.comment, "CRM write is fine");
  } finally {
    stop.abort();
    await worker;
  }
});
