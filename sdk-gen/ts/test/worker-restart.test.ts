/**
 * The worker runtime across server restarts, with no help from the test.
 * These start a server of their own (the binary in WEFT_BIN, set by
 * scripts/test-sdks) so they can stop it and start another on the same
 * port: on the same SQLite file the worker stays known; on a fresh one it
 * registers again by itself; and an answer given while the server is down
 * lands once it is back, within the lease, without running the task again.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Weft, Worker, workflow, type Run } from "weftflow";
import { pollingClient, unique } from "./helpers.js";

/** Lease of these servers: longer than a restart takes. */
const LEASE_MS = 10_000;

function binary(t: TestContext): string | undefined {
  const bin = process.env.WEFT_BIN;
  if (bin) return bin;
  if (process.env.CI === "true" || process.env.CI === "1") throw new Error("WEFT_BIN is not set: scripts/test-sdks sets it");
  t.skip("WEFT_BIN is not set (scripts/test-sdks sets it), so the restart tests did not run");
  return undefined;
}

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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A `weft serve` process on a port and SQLite file of the test's choosing. */
class Server {
  readonly url: string;
  #process: ChildProcess;
  #log = "";

  private constructor(bin: string, port: number, database: string) {
    this.url = `http://127.0.0.1:${port}`;
    this.#process = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--database-url", `sqlite://${database}`], {
      env: { ...process.env, WEFT_TASK_LEASE_MS: String(LEASE_MS), WEFT_LOG: "info" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (chunk: Buffer) => {
      this.#log = (this.#log + chunk.toString()).slice(-8000);
    };
    this.#process.stdout?.on("data", keep);
    this.#process.stderr?.on("data", keep);
  }

  static async start(bin: string, port: number, database: string): Promise<Server> {
    const server = new Server(bin, port, database);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (server.#process.exitCode !== null) throw new Error(`weft exited: ${server.#log}`);
      const open = await new Promise<boolean>((resolve) => {
        const socket = connect(port, "127.0.0.1");
        socket.once("connect", () => (socket.destroy(), resolve(true)));
        socket.once("error", () => resolve(false));
      });
      if (open) return server;
      await sleep(50);
    }
    throw new Error(`weft did not listen within 30 s: ${server.#log}`);
  }

  /** SIGTERM, then wait until it exited (the port is free again). */
  async stop(): Promise<void> {
    if (this.#process.exitCode !== null || this.#process.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#process.once("exit", resolve));
    this.#process.kill("SIGTERM");
    const timer = setTimeout(() => this.#process.kill("SIGKILL"), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

function client(url: string): Weft {
  return new Weft({ baseUrl: url, transport: "grpc" });
}

async function waitCompleted(weft: Weft, runId: string, withinMs: number): Promise<Run> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const run = await weft.workflows.getRun(runId);
    const status = run.status;
    if (status !== "pending" && status !== "running") {
      assert.equal(status, "completed", JSON.stringify(run.steps.map((s) => ({ id: s.id, attempts: s.attempts, error: s.error }))));
      return run;
    }
    assert.ok(Date.now() < deadline, `run ${runId} did not finish: ${status}`);
    await sleep(50);
  }
}

async function onlyWorker(weft: Weft) {
  const { workers } = await weft.raw.workers.listWorkers({});
  assert.equal(workers.length, 1, JSON.stringify(workers.map((w) => w.workerId)));
  return workers[0]!;
}

const echoWorkflow = (agent: string) => workflow(unique("restart")).step({ id: "work", agent, task: "work on {{ input.n }}" });

/** Runs `body` with a scratch directory and a list of servers, stopped at the end. */
async function withServers(body: (dir: string, servers: Server[]) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "weft-ts-restart-"));
  const servers: Server[] = [];
  try {
    await body(dir, servers);
  } finally {
    for (const server of servers) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const transport of ["stream", "polls"] as const) {
  test(`a worker keeps serving across a restart on the same store and port (${transport})`, async (t) => {
    const bin = binary(t);
    if (!bin) return;
    await withServers(async (dir, servers) => {
      const agent = unique("restart-agent");
      const port = await freePort();
      const database = join(dir, "weft.db");
      servers.push(await Server.start(bin, port, database));
      const stop = new AbortController();
      const workerClient = transport === "stream" ? client(servers[0]!.url) : pollingClient(servers[0]!.url);
      const worker = new Worker(workerClient, { id: unique("ts-w1"), concurrency: 2 })
        .agent(agent, async (task) => ({ done: task.text }))
        .run(stop.signal);
      try {
        const before = client(servers[0]!.url);
        const wf = await before.workflows.create(echoWorkflow(agent));
        await waitCompleted(before, (await wf.run({ input: { n: 0 } })).id, 10_000);
        const registered = await onlyWorker(before);
        await servers[0]!.stop();
        servers.push(await Server.start(bin, port, database));
        const after = client(servers[1]!.url);
        for (let n = 1; n <= 3; n++) {
          const run = await waitCompleted(after, (await wf.run({ input: { n } })).id, 20_000);
          assert.deepEqual(run.steps[0]?.output, { done: `work on ${n}` });
        }
        const listed = await onlyWorker(after);
        assert.equal(listed.workerId, registered.workerId);
        if (transport === "polls") {
          assert.deepEqual(listed.registerTime, registered.registerTime, "the stored registration served the new server");
        }
        // Over the stream, the new stream's hello registered the same id again.
      } finally {
        stop.abort();
        await worker;
      }
    });
  });
}

for (const transport of ["stream", "polls"] as const) {
  test(`a worker registers again by itself when a server does not know it (${transport})`, async (t) => {
    const bin = binary(t);
    if (!bin) return;
    await withServers(async (dir, servers) => {
      const agent = unique("restart-agent");
      const port = await freePort();
      servers.push(await Server.start(bin, port, join(dir, "first.db")));
      const stop = new AbortController();
      const worker = new Worker(transport === "stream" ? client(servers[0]!.url) : pollingClient(servers[0]!.url))
        .agent(agent, async (task) => ({ done: task.text }))
        .run(stop.signal);
      try {
        const before = client(servers[0]!.url);
        const first = await before.workflows.create(echoWorkflow(agent));
        await waitCompleted(before, (await first.run({ input: { n: 0 } })).id, 10_000);
        const assigned = (await onlyWorker(before)).workerId;
        await servers[0]!.stop();
        // Same port, another database: this server never heard of the worker.
        servers.push(await Server.start(bin, port, join(dir, "second.db")));
        const after = client(servers[1]!.url);
        const wf = await after.workflows.create(echoWorkflow(agent));
        for (let n = 1; n <= 2; n++) {
          const run = await waitCompleted(after, (await wf.run({ input: { n } })).id, 20_000);
          assert.deepEqual(run.steps[0]?.output, { done: `work on ${n}` });
        }
        assert.equal((await onlyWorker(after)).workerId, assigned, "the server-assigned id is kept");
      } finally {
        stop.abort();
        await worker;
      }
    });
  });
}

for (const transport of ["stream", "polls"] as const) {
  test(`an answer given while the server is down lands after the restart without a second attempt (${transport})`, async (t) => {
    const bin = binary(t);
    if (!bin) return;
    await withServers(async (dir, servers) => {
      const agent = unique("restart-agent");
      const port = await freePort();
      const database = join(dir, "weft.db");
      servers.push(await Server.start(bin, port, database));
      let calls = 0;
      let claimed!: () => void;
      const wasClaimed = new Promise<void>((resolve) => (claimed = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const stop = new AbortController();
      const worker = new Worker(transport === "stream" ? client(servers[0]!.url) : pollingClient(servers[0]!.url))
        .agent(agent, async (task) => {
          calls += 1;
          claimed();
          await released;
          return { done: task.text };
        })
        .run(stop.signal);
      try {
        const before = client(servers[0]!.url);
        const wf = await before.workflows.create(echoWorkflow(agent));
        const runId = (await wf.run({ input: { n: 7 } })).id;
        await wasClaimed;
        await servers[0]!.stop();
        // The handler answers while nothing listens; the worker tries again.
        release();
        await sleep(1_500);
        const restarted = Date.now();
        servers.push(await Server.start(bin, port, database));
        const after = client(servers[1]!.url);
        const run = await waitCompleted(after, runId, 8_000);
        assert.ok(Date.now() - restarted < LEASE_MS, "landed before the lease ran out");
        assert.deepEqual(run.steps[0]?.output, { done: "work on 7" });
        assert.equal(run.steps[0]?.attempts, 1, "the answer was not lost, so the task did not run again");
        assert.equal(calls, 1);
      } finally {
        stop.abort();
        await worker;
      }
    });
  });
}
