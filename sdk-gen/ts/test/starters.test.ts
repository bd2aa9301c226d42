/**
 * What starts runs without a client calling StartRun, through the layer:
 * cron schedules (`weft.schedules`), templates (`weft.templates`) and
 * deployed webhooks (`weft.triggers` and `fireWebhook`).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidArgumentError, NotFoundError, fireWebhook, fromValue } from "weftflow";
import { client, collect, pureWorkflow, serverUrl, unique } from "./helpers.js";

test("schedules: create, next fire times, list, update, pause, resume, delete", async () => {
  const weft = client();
  const wf = await weft.workflows.create(pureWorkflow());
  const created = await weft.schedules.create(wf.id, {
    cron: "0 9 * * 1-5",
    timezone: "America/New_York",
    input: { company: "Acme" },
    overlapPolicy: "buffer_one",
    catchUp: "none",
  });
  assert.match(created.id, /^sched_/);
  assert.equal(created.enabled, true);
  assert.ok(created.nextRunTime, "an enabled schedule has a next fire time");

  const got = await weft.schedules.get(created.id, 7);
  assert.equal(got.nextFireTimes.length, 7);
  for (const time of got.nextFireTimes) {
    // 09:00 in New York is 13:00 or 14:00 UTC, on a weekday there.
    const at = new Date(Number(time.seconds) * 1000);
    assert.ok([13, 14].includes(at.getUTCHours()), `fires at 09:00 New York time, got ${at.toISOString()}`);
    assert.equal(at.getUTCMinutes(), 0);
  }
  assert.deepEqual(fromValue(got.inputData), { company: "Acme" });

  assert.deepEqual((await weft.schedules.list(wf.id)).map((s) => s.id), [created.id]);
  const updated = await weft.schedules.update(created.id, { cron: "30 8 * * *" });
  assert.equal(updated.cronExpression, "30 8 * * *");
  assert.equal(updated.timezone, "America/New_York", "fields not given keep their values");
  assert.equal((await weft.schedules.pause(created.id)).enabled, false);
  assert.equal((await weft.schedules.resume(created.id)).enabled, true);

  const bad = await weft.schedules.create(wf.id, { cron: "61 * * * *" }).catch((e: unknown) => e);
  assert.ok(bad instanceof InvalidArgumentError, `InvalidArgumentError expected, got ${String(bad)}`);
  const badZone = await weft.schedules.create(wf.id, { cron: "0 9 * * *", timezone: "Mars/Olympus" }).catch((e: unknown) => e);
  assert.ok(badZone instanceof InvalidArgumentError, `InvalidArgumentError expected, got ${String(badZone)}`);

  await weft.schedules.delete(created.id);
  await assert.rejects(weft.schedules.get(created.id), NotFoundError);
});

test("schedules: a per-second schedule starts runs with trigger schedule", async () => {
  const weft = client();
  const wf = await weft.workflows.create(pureWorkflow());
  const schedule = await weft.schedules.create(wf.id, { cron: "* * * * * *", input: { company: "Tick" }, overlapPolicy: "allow" });
  let runs = await weft.runs.list(wf.id, { scheduleId: schedule.id });
  for (let i = 0; i < 100 && runs.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    runs = await weft.runs.list(wf.id, { scheduleId: schedule.id });
  }
  await weft.schedules.delete(schedule.id);
  assert.ok(runs.length >= 1, "the schedule started a run within 10 s");
  assert.equal(runs[0]?.trigger, "schedule");
  assert.equal(runs[0]?.scheduleId, schedule.id);
  assert.ok(runs[0]?.scheduledAt, "the run records the tick it stands for");
  assert.equal((await weft.runs.list(wf.id, { trigger: "manual" })).length, 0, "the trigger filter applies");
});

test("templates: list built-ins, get, install, save a workflow version, delete", async () => {
  const weft = client();
  const builtins = await weft.templates.list({ isBuiltin: true });
  assert.ok(builtins.total >= 5, `five built-ins expected, got ${builtins.total}`);
  const first = builtins.templates[0];
  assert.ok(first?.isBuiltin);
  const got = await weft.templates.get(first.id);
  assert.ok((got.workflow?.steps.length ?? 0) > 0, "a template carries its definition");

  const name = unique("installed");
  const installed = await weft.templates.install(first.id, { name });
  assert.match(installed.id, /^wf_/);
  assert.equal(installed.name, name);
  assert.equal(installed.version, 1);

  const wf = await weft.workflows.create(pureWorkflow());
  const saved = await weft.templates.create({ name: unique("mine"), category: "testing", fromWorkflow: wf.id, version: 1 });
  assert.equal(saved.isBuiltin, false);
  assert.deepEqual((await weft.templates.list({ category: "testing", isBuiltin: false })).templates.map((t) => t.id).includes(saved.id), true);
  await weft.templates.delete(saved.id);
  await assert.rejects(weft.templates.get(saved.id), NotFoundError);
});

test("triggers: deploy, arm, fire a signed webhook once, status", async () => {
  const weft = client();
  const wf = await weft.workflows.create(pureWorkflow());
  const deployed = await weft.triggers.deploy(wf.id);
  assert.equal(deployed.ok, true);
  assert.ok(deployed.webhookSecret.length >= 32, "the first deploy hands out the secret");
  const webhookId = deployed.trigger?.webhookId ?? "";
  assert.match(webhookId, /^wh_/);

  const armed = await weft.triggers.arm(wf.id, { windowSeconds: 60 });
  assert.ok(armed.armedUntil.getTime() > Date.now());
  const url = `${serverUrl()}/v1/hooks/${webhookId}`;
  const runId = await fireWebhook(url, deployed.webhookSecret, { company: "Hooked" });
  assert.match(runId, /^wfrun_/);
  await collect(weft.runs.stream(runId));
  const run = await weft.runs.get(runId);
  assert.equal(run.status, "completed");
  assert.equal(run.trigger, "webhook");
  assert.deepEqual(run.input, { company: "Hooked" });

  await assert.rejects(fireWebhook(url, deployed.webhookSecret, { company: "Again" }), /409/);
  const status = await weft.triggers.status(wf.id);
  assert.equal(status.deployed, true);
  assert.equal(status.armed, false, "one call disarms");
  assert.equal(status.lastRunId, runId);
  assert.equal((await weft.triggers.undeploy(wf.id)).deployed, false);
});
