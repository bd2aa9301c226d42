/**
 * What every console test needs: a live `weft serve` on a free port with a
 * fresh SQLite file (the binary from WEFT_BIN, which scripts/test-console
 * sets), an SDK client and workers for it (Node, gRPC), and Debian's
 * headless Chromium (playwright-core) opening the console the server
 * itself serves at /ui/. Screenshots go to target/console-screenshots/.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { Weft } from "weftflow";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** The repository root (this file runs from console/build-test/test/). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const SCREENSHOTS = join(ROOT, "target", "console-screenshots");

export interface LiveServer {
  url: string;
  /** Everything the server wrote so far. */
  log(): string;
  stop(): Promise<void>;
}

/** A live server that can also be killed and started again on the same port and database file. */
export interface RestartableServer extends LiveServer {
  /** Ends the process with `signal` (default SIGKILL) and waits for it; nothing if it has ended. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts `weft serve` again, on the same port and database file, and waits until it is ready. */
  restart(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? ok(address.port) : fail(new Error("no port"))));
    });
  });
}

/** Starts `weft serve` on SQLite; `env` adds settings (e.g. WEFT_REQUIRE_API_KEYS). */
export async function startServer(env: Record<string, string> = {}): Promise<RestartableServer> {
  const bin = process.env.WEFT_BIN;
  assert.ok(bin, "WEFT_BIN is not set: run through scripts/test-console");
  const dir = mkdtempSync(join(tmpdir(), "weft-console-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let output = "";
  let child: ChildProcess | undefined;
  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    const proc = child;
    // A process ended by a signal has a null exitCode and a signalCode.
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((done) => proc.once("exit", done));
    proc.kill(signal);
    await exited;
  };
  const launch = async () => {
    const proc = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--database-url", `sqlite://${dir}/weft.db`], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    proc.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`weft exited at start:\n${output}`);
      try {
        if ((await fetch(`${url}/readyz`)).ok) return;
      } catch {
        // not listening yet
      }
      if (i > 300) {
        await kill();
        throw new Error(`weft did not become ready:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    await kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await launch();
  } catch (thrown) {
    rmSync(dir, { recursive: true, force: true });
    throw thrown;
  }
  return { url, log: () => output, stop, kill, restart: launch };
}

/** An SDK client of `server` over gRPC (HTTP/2), for setting up and checking. */
export function client(server: LiveServer, apiKey?: string): Weft {
  return new Weft({ baseUrl: server.url, transport: "grpc", ...(apiKey ? { apiKey } : {}) });
}

export interface Console {
  browser: Browser;
  page: Page;
  /** Console messages and page errors seen so far (for failure messages). */
  logs: string[];
  /** Opens `path` under /ui (e.g. "/runs/wfrun_…"). */
  open(path: string): Promise<void>;
  /** Saves a full-page PNG as target/console-screenshots/<name>.png. */
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/** Headless Chromium on the console of `server`. */
export async function openConsole(server: LiveServer, options: { width?: number; height?: number } = {}): Promise<Console> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  const page = await browser.newPage({ viewport: { width: options.width ?? 1400, height: options.height ?? 900 } });
  const logs: string[] = [];
  page.on("console", (m) => logs.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${String(e)}`));
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    browser,
    page,
    logs,
    open: async (path) => {
      await page.goto(`${server.url}/ui${path}`);
    },
    screenshot: async (name) => {
      const file = join(SCREENSHOTS, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    close: () => browser.close(),
  };
}

/** A unique name for workflows and agents of one test. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** One axe-core violation: the rule, its impact and where it was found. */
export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  nodes: { target: unknown; html: string; failureSummary: string }[];
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * axe-core's violations, every impact, on the whole page or inside the
 * elements matching `within`. The script is evaluated over the DevTools
 * protocol: the console's CSP (script-src 'self') rightly refuses an
 * injected <script>.
 */
export async function axeFindings(page: Page, within?: string): Promise<AxeFinding[]> {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (context) => {
    type Raw = { id: string; impact: string | null; help: string; nodes: { target: unknown; html: string; failureSummary?: string }[] };
    const axe = (window as unknown as { axe: { run(context: unknown, options: object): Promise<{ violations: Raw[] }> } }).axe;
    const result = await axe.run(context ?? document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? "unknown",
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target, html: n.html, failureSummary: n.failureSummary ?? "" })),
    }));
  }, within);
}

/** `found` as readable lines, each node with its HTML and axe's summary. */
export function describeAxe(where: string, found: AxeFinding[]): string {
  return found
    .map((v) => {
      const nodes = v.nodes.map((n) => `    ${JSON.stringify(n.target)} ${n.html.slice(0, 160)}\n      ${n.failureSummary.replace(/\n/g, "\n      ")}`);
      return `${where}: [${v.impact}] ${v.id}: ${v.help}\n${nodes.join("\n")}`;
    })
    .join("\n");
}

/** The serious and critical violations (see `axeFindings`), one line each; empty when none. */
export async function seriousAxeViolations(page: Page, within?: string): Promise<string[]> {
  const found = await axeFindings(page, within);
  return found.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => describeAxe(within ?? "page", [v]));
}

/**
 * Runs a test file's cleanups, last first, each given at most 10 s: a
 * failed test can leave a worker's handler waiting on a gate that never
 * opens, and the file must still end.
 */
export async function runCleanups(cleanups: (() => Promise<unknown>)[]): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise((done) => (timer = setTimeout(done, 10_000)));
    await Promise.race([cleanup().catch(() => undefined), late]);
    clearTimeout(timer);
  }
}
