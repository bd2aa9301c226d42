/**
 * Paging runs and approvals by token: `listPage` hands back a page, its
 * `nextPageToken` and the total; `listAll` walks every page as the loop
 * asks. Both list the whole tenant's runs when no workflow is named, and a
 * token reused with other filters is refused.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidArgumentError, workflow, type Run } from "weftflow";
import { client, unique } from "./helpers.js";

/** Starts `count` runs of a new one-transform workflow, one after another. */
async function runsOfNewWorkflow(count: number): Promise<{ workflowId: string; started: Run[] }> {
  const weft = client();
  const wf = await weft.workflows.create(workflow(unique("paging")).transform({ id: "copy", output: { n: "$.input.n" } }));
  const started: Run[] = [];
  for (let n = 0; n < count; n++) started.push(await wf.run({ input: { n } }));
  return { workflowId: wf.id, started };
}

test("runs page by token: pages of two, the total, then every run once with listAll", async () => {
  const weft = client();
  const { workflowId, started } = await runsOfNewWorkflow(5);
  // Newest first; two runs started in one millisecond may come either way
  // round (ids are random within it), so pages are compared as sets.
  const ids = (runs: Run[]) => runs.map((r) => r.id);
  const sorted = (list: string[]) => [...list].sort();

  const first = await weft.runs.listPage({ workflowId, pageSize: 2 });
  assert.equal(first.total, 5);
  assert.equal(first.runs.length, 2);
  assert.ok(first.nextPageToken, "more pages follow");
  const second = await weft.runs.listPage({ workflowId, pageSize: 2, pageToken: first.nextPageToken });
  assert.equal(second.runs.length, 2);
  const last = await weft.runs.listPage({ workflowId, pageSize: 2, pageToken: second.nextPageToken });
  assert.equal(last.runs.length, 1);
  assert.equal(last.nextPageToken, "", "the last page says so");
  assert.equal(last.runs[0]?.workflowId, workflowId, "runs come back native");
  const paged = [...ids(first.runs), ...ids(second.runs), ...ids(last.runs)];
  assert.deepEqual(sorted(paged), sorted(ids(started)), "every run once, none twice");
  const created = (run: Run) => run.createdAt?.getTime() ?? 0;
  const all = [...first.runs, ...second.runs, ...last.runs];
  assert.ok(all.every((run, i) => i === 0 || created(all[i - 1]!) >= created(run)), "newest first");

  const walked: string[] = [];
  for await (const run of weft.runs.listAll({ workflowId, pageSize: 2 })) walked.push(run.id);
  assert.deepEqual(walked, paged, "listAll walks the same pages");

  // No workflow: the tenant's runs, these among them.
  const tenant = await weft.runs.listPage({ pageSize: 200 });
  assert.ok(tenant.total >= 5, `total ${tenant.total}`);
  if (!tenant.nextPageToken) for (const id of paged) assert.ok(tenant.runs.some((r) => r.id === id), id);
  const completed = await weft.runs.listPage({ workflowId, status: "completed", pageSize: 1 });
  assert.equal(completed.total, 5, "the transform runs completed as they started");
});

test("a page token is refused with other filters, and a made-up one too", async () => {
  const weft = client();
  const { workflowId } = await runsOfNewWorkflow(3);
  const first = await weft.runs.listPage({ workflowId, pageSize: 1 });
  await assert.rejects(weft.runs.listPage({ workflowId, status: "failed", pageSize: 1, pageToken: first.nextPageToken }), InvalidArgumentError);
  await assert.rejects(weft.runs.listPage({ pageToken: "not-a-token" }), InvalidArgumentError);
  await assert.rejects(weft.approvals.listPage({ pageToken: "not-a-token" }), InvalidArgumentError);
});

test("approvals page by token and filter by kind", async () => {
  const weft = client();
  const wf = await weft.workflows.create(
    workflow(unique("paging-approvals"))
      .step({ id: "gate", type: "approval", action: "ship", timeout: "1h", defaultAction: "deny" })
      .transform({ id: "after", dependsOn: ["gate"], output: { d: "$.gate.output.decision" } }),
  );
  const runs: Run[] = [];
  for (let i = 0; i < 3; i++) runs.push(await wf.run({ input: {} }));
  // Each run opens its approval as it starts; wait until all three are listed.
  let total = 0;
  for (let i = 0; i < 100 && total < 3; i++) {
    total = (await weft.approvals.listPage({ workflowId: wf.id, status: "pending", pageSize: 1 })).total;
    if (total < 3) await new Promise((done) => setTimeout(done, 50));
  }
  assert.equal(total, 3);

  const first = await weft.approvals.listPage({ workflowId: wf.id, pageSize: 2 });
  assert.equal(first.approvals.length, 2);
  assert.ok(first.nextPageToken);
  const rest = await weft.approvals.listPage({ workflowId: wf.id, pageSize: 2, pageToken: first.nextPageToken });
  assert.equal(rest.approvals.length, 1);
  assert.equal(rest.nextPageToken, "");
  const ids = [...first.approvals, ...rest.approvals].map((a) => a.runId).sort();
  assert.deepEqual(ids, runs.map((r) => r.id).sort(), "one approval per run, none twice");

  const walked = [];
  for await (const approval of weft.approvals.listAll({ workflowId: wf.id, kind: "step", pageSize: 1 })) walked.push(approval);
  assert.equal(walked.length, 3);
  assert.ok(walked.every((a) => a.kind === "step" && a.status === "pending"));
  assert.equal((await weft.approvals.listPage({ workflowId: wf.id, kind: "tool_use" })).total, 0, "the kind filter applies");
});

test("workflows page by token in the order asked", async () => {
  const weft = client();
  const tag = unique("paging-tag");
  const names = ["c", "a", "b"].map((letter) => `${tag}-${letter}`);
  for (const name of names) await weft.workflows.create(workflow(name).tags(tag).transform({ id: "t", output: {} }));

  const first = await weft.workflows.listPage({ tag, sort: "name", order: "asc", pageSize: 2 });
  assert.equal(first.total, 3);
  assert.deepEqual(first.workflows.map((w) => w.name), [`${tag}-a`, `${tag}-b`]);
  assert.equal(typeof first.workflows[0]?.run, "function", "pages hold handles");
  const rest = await weft.workflows.listPage({ tag, sort: "name", order: "asc", pageSize: 2, pageToken: first.nextPageToken });
  assert.deepEqual(rest.workflows.map((w) => w.name), [`${tag}-c`]);
  assert.equal(rest.nextPageToken, "");

  const walked = [];
  for await (const wf of weft.workflows.listAll({ tag, sort: "name", order: "desc", pageSize: 1 })) walked.push(wf.name);
  assert.deepEqual(walked, [`${tag}-c`, `${tag}-b`, `${tag}-a`]);
  await assert.rejects(weft.workflows.listPage({ tag, sort: "updatedAt", pageToken: first.nextPageToken }), InvalidArgumentError);
});
