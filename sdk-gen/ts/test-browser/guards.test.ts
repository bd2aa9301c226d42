/**
 * A web page cannot turn an operator's browser against a Weft server on
 * 127.0.0.1 (issue #17). Headless Chromium loads pages on other origins and
 * tries what such a page can do:
 *
 * - requests a browser sends unasked (no CORS preflight): a `text/plain`
 *   fetch, a classic form POST, a bodiless POST that would cancel a run.
 *   The server refuses each (403 CROSS_ORIGIN_REQUEST: the page's origin
 *   is not configured) and nothing changes;
 * - a JSON POST: the CORS preflight fails, the browser never sends it;
 * - DNS rebinding: a page at `http://rebind.test:<weft port>/` (the name
 *   mapped to 127.0.0.1 by Chromium's resolver rules) calls the API
 *   same-origin: the server answers 421 because of the Host it names;
 * - the origin configured in `WEFT_CORS_ORIGINS` (by scripts/test-sdks)
 *   calls the API normally, and reads a `text/plain` POST's 415 like any
 *   error.
 *
 * Chromium's own Private/Local Network Access checks are turned off:
 * they would stop the rebound page before the server sees it, while
 * Firefox and Safari have no such checks. What is tested is the server.
 * "Changed nothing" is checked from Node over gRPC.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { chromium, type Browser, type Page } from "playwright-core";
import { Weft, workflow } from "weftflow";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
/** Chromium resolves these names to loopback itself: the attacker's DNS. */
const RESOLVER_RULES = "--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP attacker.test 127.0.0.1";
const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
  "--disable-sync", "--no-proxy-server", RESOLVER_RULES,
  "--disable-features=BlockInsecurePrivateNetworkRequests,LocalNetworkAccessChecks,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults",
];

const weftUrl = process.env.WEFT_URL ?? "";
const pageOrigin = process.env.WEFT_PAGE_ORIGIN ?? "";
let browser: Browser;
let attacker: Server;
let attackerOrigin: string;

function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

function definition(name: string): string {
  return JSON.stringify({ name, steps: [{ id: "a", type: "transform", output: { x: "$.input" } }] });
}

/** A server of blank pages, on `host`:`port` (0: any free port). */
function blankPages(host: string, port: number): Promise<Server> {
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>page</title>");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve(server));
  });
}

/** The names of every workflow on the server, read over gRPC from Node. */
async function storedNames(): Promise<Set<string>> {
  const weft = new Weft({ baseUrl: weftUrl, transport: "grpc" });
  const names = new Set<string>();
  let pageToken = "";
  do {
    const page = await weft.raw.workflows.listWorkflows({ pageSize: 200, pageToken });
    for (const w of page.workflows) names.add(w.name);
    pageToken = page.nextPageToken;
  } while (pageToken);
  return names;
}

async function openPage(url: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(url);
  return page;
}

before(async () => {
  assert.ok(weftUrl, "WEFT_URL is not set: run through scripts/test-sdks");
  assert.ok(pageOrigin, "WEFT_PAGE_ORIGIN is not set: run through scripts/test-sdks");
  attacker = await blankPages("127.0.0.1", 0);
  attackerOrigin = `http://attacker.test:${(attacker.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
});

after(async () => {
  await browser?.close();
  attacker?.close();
});

/** A no-cors request from `page` (what a page may send unasked), and the
 * answer the browser received, which the page itself cannot read. */
async function sendUnasked(page: Page, url: string, init: { headers?: Record<string, string>; body?: string }) {
  const answered = page.waitForResponse((r) => r.url() === url && r.request().method() === "POST");
  const type = await page.evaluate(async ({ url, init }) => {
    const response = await fetch(url, { ...init, method: "POST", mode: "no-cors" });
    return response.type;
  }, { url, init });
  assert.equal(type, "opaque", "the page reads nothing of the answer");
  const response = await answered;
  return response.status();
}

test("requests a page on another origin sends unasked are refused and change nothing", async () => {
  const page = await openPage(`${attackerOrigin}/`);
  const weft = new Weft({ baseUrl: weftUrl, transport: "grpc" });

  const name = unique("simple-request");
  const plain = await sendUnasked(page, `${weftUrl}/v1/workflows`, { headers: { "content-type": "text/plain" }, body: definition(name) });
  assert.equal(plain, 403);

  // The classic CSRF form: text/plain with a JSON-looking body.
  const formName = unique("form-post");
  const formAnswer = page.waitForResponse((r) => r.url() === `${weftUrl}/v1/workflows`);
  await page.evaluate(({ url, body }) => {
    const form = document.createElement("form");
    form.method = "POST";
    form.enctype = "text/plain";
    form.action = `${url}/v1/workflows`;
    const input = document.createElement("input");
    input.name = body.slice(0, -2);
    input.value = body.slice(-2);
    form.append(input);
    document.body.append(form);
    form.submit();
  }, { url: weftUrl, body: definition(formName) });
  const form = await formAnswer;
  assert.equal(form.status(), 403);
  assert.equal(form.request().headers()["content-type"], "text/plain");

  const stored = await storedNames();
  assert.ok(!stored.has(name) && !stored.has(formName), "nothing was created");

  // A bodiless POST carries no type to refuse; its origin is refused.
  const waiting = await weft.workflows.create(workflow(unique("waits")).step({ id: "a", agent: "nobody", task: "wait" }));
  const run = await weft.runs.start(waiting.id, { input: {} });
  const page2 = await openPage(`${attackerOrigin}/`);
  const cancel = await sendUnasked(page2, `${weftUrl}/v1/workflows/runs/${run.id}/cancel`, {});
  assert.equal(cancel, 403);
  assert.notEqual((await weft.runs.get(run.id)).status, "cancelled", "the run was not cancelled");
  await weft.runs.cancel(run.id);
  await weft.workflows.delete(waiting.id);
  await page.close();
  await page2.close();
});

test("a JSON POST from another origin fails its CORS preflight and is never sent", async () => {
  const page = await openPage(`${attackerOrigin}/`);
  const name = unique("preflighted");
  const posts: string[] = [];
  page.on("request", (r) => { if (r.method() === "POST") posts.push(r.url()); });
  const outcome = await page.evaluate(async ({ url, body }) => {
    try {
      const response = await fetch(`${url}/v1/workflows`, { method: "POST", headers: { "content-type": "application/json" }, body });
      return `read ${response.status}`;
    } catch (e) {
      return `rejected: ${String(e)}`;
    }
  }, { url: weftUrl, body: definition(name) });
  assert.match(outcome, /^rejected: TypeError/);
  assert.ok(!(await storedNames()).has(name), "nothing was created");
  await page.close();
});

test("DNS rebinding: a page on a name resolved to 127.0.0.1 gets 421 from same-origin calls", async () => {
  const port = new URL(weftUrl).port;
  const rebound = `http://rebind.test:${port}`;
  const page = await browser.newPage();
  // Only the document is the attacker's; every other request reaches Weft.
  await page.route(`${rebound}/`, (route) =>
    route.fulfill({ status: 200, contentType: "text/html", body: "<!doctype html><title>rebound</title>" }));
  await page.goto(`${rebound}/`);
  const name = unique("rebound");
  const outcome = await page.evaluate(async (body) => {
    const created = await fetch("/v1/workflows", { method: "POST", headers: { "content-type": "application/json" }, body });
    const listed = await fetch("/v1/workflows");
    return { status: created.status, error: await created.json(), listStatus: listed.status };
  }, definition(name));
  assert.equal(outcome.status, 421, JSON.stringify(outcome));
  assert.equal(outcome.error.error_code, "MISDIRECTED_REQUEST");
  assert.match(outcome.error.message, /rebind\.test/);
  assert.equal(outcome.listStatus, 421, "the page cannot read either");
  assert.ok(!(await storedNames()).has(name), "nothing was created");
  await page.close();
});

test("the configured origin calls the API, and reads a 415 like any error", async () => {
  const url = new URL(pageOrigin);
  const pages = await blankPages(url.hostname, Number(url.port));
  try {
    const page = await openPage(`${pageOrigin}/`);
    const name = unique("allowed-origin");
    const outcome = await page.evaluate(async ({ url, body }) => {
      const created = await fetch(`${url}/v1/workflows`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      const plain = await fetch(`${url}/v1/workflows`, { method: "POST", headers: { "content-type": "text/plain" }, body });
      return { status: created.status, created: await created.json(), plainStatus: plain.status, plain: await plain.json() };
    }, { url: weftUrl, body: definition(name) });
    assert.equal(outcome.status, 201, JSON.stringify(outcome.created));
    assert.equal(outcome.created.name, name);
    assert.equal(outcome.plainStatus, 415);
    assert.equal(outcome.plain.error_code, "UNSUPPORTED_MEDIA_TYPE");
    assert.match(outcome.plain.message, /text\/plain/);
    assert.ok((await storedNames()).has(name), "the allowed origin's workflow was created");
    await new Weft({ baseUrl: weftUrl, transport: "grpc" }).workflows.delete(outcome.created.id);
    await page.close();
  } finally {
    pages.close();
  }
});
