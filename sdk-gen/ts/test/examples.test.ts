/** The lead-pipeline example, run as users run it, on both routes. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { promisify } from "node:util";
import { serverUrl } from "./helpers.js";

const example = fileURLToPath(new URL("../examples/lead-pipeline.js", import.meta.url));

async function runExample(company: string, website: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [example, company, website], {
    env: { ...process.env, WEFT_URL: serverUrl() },
    timeout: 60_000,
  });
  return stdout;
}

test("lead pipeline, high score: the CRM approval is granted through the API and the run completes", async () => {
  const out = await runExample("Stripe", "https://stripe.com");
  assert.match(out, /approval\.pending approve-crm/);
  assert.match(out, /approving approval on step approve-crm/);
  assert.match(out, /step\.completed score-article\[2\]/);
  assert.match(out, /run completed, total cost 30 usd cents/);
});

test("lead pipeline, low score: the archiver's update_crm tool use is approved and the run completes", async () => {
  const out = await runExample("Tiny Co", "https://tiny.example.com");
  assert.match(out, /approving tool_approval on step archive/);
  assert.match(out, /"archive":\{"archived":true,"crm":true,"score":35/);
  assert.match(out, /run completed/);
});
