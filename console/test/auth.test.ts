/**
 * A server that requires API keys (WEFT_REQUIRE_AUTH), in headless
 * Chromium: the console asks for the key, a wrong key is refused and asked
 * for again, the right one makes the pages work; the key lives in the
 * tab's sessionStorage, goes out only in the authorization header, and
 * appears in no URL (the page's, or any request's).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { openConsole, startServer } from "./harness.js";

/** Makes an admin key in the server's database with `weft keys create`; its secret. */
function createKey(databaseUrl: string): string {
  const bin = process.env.WEFT_BIN ?? "";
  const out = execFileSync(bin, ["keys", "create", "--scope", "admin", "--name", "console-test", "--database-url", databaseUrl], { encoding: "utf8" });
  const secret = out.split("\n")[0]?.trim() ?? "";
  assert.match(secret, /^wk_/, out);
  return secret;
}

test("the console asks for the API key, refuses a wrong one, works with the right one, and keeps it out of every URL", async () => {
  const server = await startServer({ WEFT_REQUIRE_AUTH: "true" });
  const ui = await openConsole(server);
  try {
    const databaseUrl = /database=(\S+)/.exec(server.log())?.[1];
    assert.ok(databaseUrl, `the server names its database:\n${server.log()}`);
    const key = createKey(databaseUrl);
    // Same shape, wrong secret: the server knows the id but not this secret.
    const wrong = key.slice(0, -4) + (key.endsWith("aaaa") ? "bbbb" : "aaaa");

    const { page, logs } = ui;
    const urls: string[] = [];
    const authorized: string[] = [];
    page.on("request", (request) => {
      urls.push(request.url());
      const header = request.headers()["authorization"];
      if (header) authorized.push(header);
    });
    const dialog = page.getByRole("dialog", { name: "API key" });

    await ui.open("/runs");
    await dialog.waitFor({ timeout: 15_000 }).catch((e: unknown) => assert.fail(`${String(e)}\n${logs.join("\n")}`));
    assert.match((await dialog.textContent()) ?? "", /requires an API key/);

    // A wrong key: refused, and asked for again.
    await dialog.getByLabel("Key").fill(wrong);
    await dialog.getByRole("button", { name: "Use key" }).click();
    // Asked again: the dialog is back, a fresh one with an empty field.
    await page.waitForFunction(() => (document.querySelector("[role=dialog] input") as HTMLInputElement | null)?.value === "", null, { timeout: 15_000 });
    assert.ok(authorized.includes(`Bearer ${wrong}`), "the wrong key was sent (and refused)");

    // The right key: the dialog goes and the runs list loads.
    await dialog.getByLabel("Key").fill(key);
    await dialog.getByRole("button", { name: "Use key" }).click();
    await dialog.waitFor({ state: "hidden" });
    await page.getByText(/^\d+ runs? match/).waitFor({ timeout: 15_000 });
    assert.equal(await page.getByRole("alert").count(), 0, "no error once the key is right");
    assert.equal(await page.evaluate(() => sessionStorage.getItem("weft.apiKey")), key);
    assert.equal(await page.evaluate(() => localStorage.length), 0, "nothing in local storage");
    assert.equal(await page.evaluate(() => document.cookie), "", "no cookie");
    assert.ok(authorized.includes(`Bearer ${key}`));

    // Another page works with the same key, without asking.
    await page.getByRole("link", { name: "Workers & queues" }).click();
    await page.getByRole("heading", { name: "Workers & queues" }).waitFor();
    await page.getByText(/No task is waiting|Queued tasks by agent/).first().waitFor({ timeout: 15_000 });
    assert.equal(await dialog.count(), 0);

    const secret = key.slice(key.lastIndexOf("_") + 1);
    const wrongSecret = wrong.slice(wrong.lastIndexOf("_") + 1);
    for (const url of [page.url(), ...urls]) {
      assert.ok(!url.includes(secret) && !url.includes(wrongSecret) && !url.includes(encodeURIComponent(key)), `a key in ${url}`);
    }
    assert.ok(urls.length > 3, "requests were seen");
  } finally {
    await ui.close();
    await server.stop();
  }
});
