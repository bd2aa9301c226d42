/**
 * The SDK in a real browser: the page bundled by esbuild for the browser
 * (so `#transport` resolves to gRPC-web), served from a second origin, run
 * in Debian's headless Chromium driven by playwright-core, against the live
 * server over gRPC-web, including a live `streamRun`. The page's origin is
 * `WEFT_PAGE_ORIGIN`, the one scripts/test-sdks lets through CORS.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { build } from "esbuild";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

async function bundle(): Promise<string> {
  const entry = fileURLToPath(new URL("./page.js", import.meta.url));
  const result = await build({ entryPoints: [entry], bundle: true, platform: "browser", format: "esm", target: "es2022", write: false, minify: true });
  const [file] = result.outputFiles;
  assert.ok(file, "esbuild produced the page");
  assert.doesNotMatch(file.text, /node:http2|connect-node/, "the browser bundle carries no Node transport");
  return file.text;
}

function serve(script: string): Promise<Server> {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>weft sdk</title></head><body>running<script type="module" src="/page.js"></script></body></html>`;
  const server = createServer((request, response) => {
    if (request.url?.startsWith("/page.js")) {
      response.writeHead(200, { "content-type": "text/javascript" }).end(script);
    } else {
      response.writeHead(200, { "content-type": "text/html" }).end(html);
    }
  });
  // The origin the server's WEFT_CORS_ORIGINS allows (scripts/test-sdks).
  const origin = new URL(process.env.WEFT_PAGE_ORIGIN ?? "http://127.0.0.1:0");
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(origin.port), origin.hostname, () => resolve(server));
  });
}

test("the SDK in headless Chromium over gRPC-web: CRUD, a live streamRun through an approval, typed errors", async () => {
  const weftUrl = process.env.WEFT_URL;
  assert.ok(weftUrl, "WEFT_URL is not set: run through scripts/test-sdks");
  const server = await serve(await bundle());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  try {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on("console", (m) => logs.push(m.text()));
    page.on("pageerror", (e) => logs.push(String(e)));
    const { address, port } = server.address() as AddressInfo;
    const origin = `http://${address}:${port}`;
    await page.goto(`${origin}/?server=${encodeURIComponent(weftUrl)}`);
    await page.waitForFunction(() => window.weftResult !== undefined, undefined, { timeout: 60_000 });
    const result = await page.evaluate(() => window.weftResult);
    assert.ok(result, "the page reported");
    assert.ok(result.ok, `the page failed: ${result.ok ? "" : result.error}\n${logs.join("\n")}`);
    const f = result.findings;
    assert.match(f.userAgent, /Chrome/);
    assert.match(f.workflowId, /^wf_/);
    assert.equal(f.version, 1);
    assert.equal(f.updatedVersion, 2);
    const types = f.streamed.map((e) => e.type);
    assert.equal(types[0], "run.started");
    assert.equal(types.at(-1), "run.completed");
    assert.ok(f.sawApprovalPending, "the stream was live when the run paused");
    assert.ok(types.indexOf("approval.decided") > types.indexOf("approval.pending"), "events after the decision arrived on the same stream");
    assert.deepEqual(f.streamed.map((e) => e.sequence), f.streamed.map((_, i) => i + 1));
    assert.equal(f.status, "completed");
    assert.deepEqual(f.output, { company: "Acme", decision: "approve" }, "the last step's output is the run's");
    assert.match(f.notFound, /^NotFoundError:.*NOT_FOUND$/);
    assert.equal(f.invalidReason, "VALIDATION_ERROR");
    assert.ok(f.invalidViolations >= 1);
    assert.equal(f.failedPrecondition, "FailedPreconditionError:RUN_NOT_ACTIVE");
    assert.equal(f.unimplemented, true);
  } finally {
    await browser.close();
    server.close();
  }
});
