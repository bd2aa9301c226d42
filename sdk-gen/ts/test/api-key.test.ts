/**
 * API keys through the TypeScript SDK: a server of the test's own (the
 * binary in WEFT_BIN) with a key made by `weft keys create`. `apiKey` is
 * sent with every call; without it, or with a wrong one, the call fails
 * UNAUTHENTICATED with the server's reason.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Code } from "@connectrpc/connect";
import { Weft, WeftError, workflow } from "weftflow";
import { unique } from "./helpers.js";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function listening(port: number, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`weft did not listen within ${withinMs} ms`);
}

test("calls carry the API key and are refused without it", async (t) => {
  const bin = process.env.WEFT_BIN;
  if (!bin) {
    if (process.env.CI === "true" || process.env.CI === "1") throw new Error("WEFT_BIN is not set: scripts/test-sdks sets it");
    t.skip("WEFT_BIN is not set (scripts/test-sdks sets it)");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "weft-keys-"));
  const database = `sqlite://${join(dir, "keys.db")}`;
  const made = execFileSync(bin, ["keys", "create", "--tenant", "acme", "--scope", "write", "--database-url", database]);
  const key = (made.toString().split("\n")[0] ?? "").trim();
  assert.match(key, /^wk_/);
  const port = await freePort();
  const server = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--database-url", database], { stdio: "ignore" });
  try {
    await listening(port, 30_000);
    const url = `http://127.0.0.1:${port}`;
    const keyed = new Weft({ baseUrl: url, transport: "grpc", apiKey: key });
    const name = unique("keyed");
    await keyed.workflows.create(workflow(name).transform({ id: "t", output: { x: "$.input" } }));
    assert.deepEqual((await keyed.workflows.list()).map((w) => w.name), [name]);
    for (const [apiKey, reason] of [[undefined, "API_KEY_REQUIRED"], ["wk_wrong", "API_KEY_MALFORMED"]] as const) {
      const weft = new Weft({ baseUrl: url, transport: "grpc", apiKey });
      await assert.rejects(weft.workflows.list(), (err: unknown) => {
        assert.ok(err instanceof WeftError);
        assert.equal(err.code, Code.Unauthenticated);
        assert.equal(err.reason, reason);
        return true;
      });
    }
  } finally {
    server.kill("SIGTERM");
    await new Promise((resolve) => server.once("exit", resolve));
    rmSync(dir, { recursive: true, force: true });
  }
});
