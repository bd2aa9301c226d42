/**
 * The worker over its ConnectWorker stream, watched from inside the
 * transport (a Connect interceptor sees every message each way): a chain
 * completes on one stream with no unary worker call; the credits granted
 * never exceed the concurrency; a dropped stream is opened again with the
 * same worker id and the task in flight is reported on the new one under
 * its lease; a cancelled run reaches the handler's signal through a
 * heartbeat answer; a refused report throws what the unary call throws;
 * and a server that answers the stream UNIMPLEMENTED is long-polled.
 */
import assert from "node:assert/strict";
import { createServer, connect, type Socket } from "node:net";
import { test } from "node:test";
import type { Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { InvalidArgumentError, Weft, Worker, workflow, type WeftError } from "weftflow";
import type { ConnectWorkerRequest, ConnectWorkerResponse } from "weftflow/gen/weft/v1/worker_service_pb";
import { client, collect, pollingClient, serverUrl, unique } from "./helpers.js";

/** What a worker's transport carried. */
class Spy {
  streams = 0;
  hellos: string[] = [];
  /** Unary WorkerService calls, by method name. */
  unary: string[] = [];
  granted = 0;
  pushed = 0;
  /** Most credits granted and not yet used by a pushed task, on one stream. */
  mostUnused = 0;
  reports = 0;
  drains = 0;
  messagesWithReports = 0;
  answers = 0;

  readonly interceptor: Interceptor = (next) => async (request) => {
    if (!request.stream) {
      if (request.service.typeName === "weft.v1.WorkerService") this.unary.push(request.method.name);
      return next(request);
    }
    if (request.method.name !== "ConnectWorker") return next(request);
    this.streams += 1;
    let unused = 0;
    const note = () => (this.mostUnused = Math.max(this.mostUnused, unused));
    const spy = this;
    const outbound = request.message as AsyncIterable<ConnectWorkerRequest>;
    const response = await next({
      ...request,
      message: (async function* () {
        for await (const message of outbound) {
          if (message.hello) spy.hellos.push(message.hello.workerId);
          if (message.drain) spy.drains += 1;
          spy.granted += message.credits;
          unused += message.credits;
          note();
          spy.reports += message.reports.length;
          if (message.reports.length > 0) spy.messagesWithReports += 1;
          yield message;
        }
      })(),
    });
    const inbound = response.message as AsyncIterable<ConnectWorkerResponse>;
    return {
      ...response,
      message: (async function* () {
        for await (const message of inbound) {
          spy.pushed += message.tasks.length;
          unused -= message.tasks.length;
          spy.answers += message.answers.length;
          yield message;
        }
      })(),
    } as typeof response;
  };

  client(url = serverUrl()): Weft {
    return new Weft({ baseUrl: url, transport: createGrpcTransport({ baseUrl: url, interceptors: [this.interceptor] }) });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function chain(name: string, agent: string, length: number) {
  let builder = workflow(name);
  for (let i = 0; i < length; i++) {
    builder = builder.step({
      id: `s${i}`,
      agent,
      task: `step ${i}`,
      ...(i > 0 && { dependsOn: [`s${i - 1}`], inputMap: { n: `$.s${i - 1}.output.n` } }),
    });
  }
  return builder;
}

test("a 10-step chain completes over one stream, reports batched, no unary worker call", async () => {
  const weft = client();
  const spy = new Spy();
  const agent = unique("stream-chain");
  const stop = new AbortController();
  const worker = new Worker(spy.client(), { concurrency: 4 })
    .agent(agent, async (task) => ({ n: (typeof task.input["n"] === "number" ? task.input["n"] : 0) + 1 }))
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(chain(unique("chain"), agent, 10));
    for (let round = 0; round < 3; round++) {
      const run = await wf.run({ input: {} });
      const events = await collect(weft.workflows.streamRun(run.id));
      assert.equal(events.at(-1)?.type, "run.completed");
      const done = await weft.workflows.getRun(run.id);
      assert.deepEqual(done.steps.find((s) => s.id === "s9")?.output, { n: 10 });
    }
  } finally {
    stop.abort();
    await worker;
  }
  assert.equal(spy.streams, 1, "one stream served everything");
  assert.deepEqual(spy.unary, [], "no unary worker call");
  assert.equal(spy.pushed, 30);
  assert.ok(spy.reports >= 30, `every task was reported (${spy.reports})`);
  assert.equal(spy.answers, spy.reports, "every report was answered");
});

test("the credits a stream holds never exceed the concurrency, and all of it is used", async () => {
  const weft = client();
  const spy = new Spy();
  const agent = unique("stream-busy");
  let active = 0;
  let most = 0;
  const stop = new AbortController();
  const concurrency = 3;
  const worker = new Worker(spy.client(), { concurrency })
    .agent(agent, async () => {
      active += 1;
      most = Math.max(most, active);
      // Handlers end on shared 25 ms ticks, so those running together
      // finish in one turn of the event loop and their reports can share a
      // message. (Random lengths made batching a matter of luck: two
      // timers due in the same millisecond. One CI run saw none in 80.)
      await sleep(20);
      await sleep(25 - (Date.now() % 25));
      active -= 1;
      return { ok: true };
    })
    .run(stop.signal);
  try {
    const branches = Array.from({ length: 40 }, (_, i) => ({ id: `b${i}`, agent, task: "work" }));
    const wf = await weft.workflows.create(workflow(unique("fan")).step({ id: "fan", type: "parallel", steps: branches }));
    const runs = await Promise.all([wf.run({ input: {} }), wf.run({ input: {} })]);
    for (const run of runs) {
      const events = await collect(weft.workflows.streamRun(run.id));
      assert.equal(events.at(-1)?.type, "run.completed");
    }
  } finally {
    stop.abort();
    await worker;
  }
  assert.equal(most, concurrency, "handlers ran up to the concurrency, never past it");
  assert.ok(spy.mostUnused <= concurrency, `unused credits peaked at ${spy.mostUnused}`);
  assert.equal(spy.streams, 1, "the server never ended the stream for too many credits");
  assert.equal(spy.pushed, 80);
  assert.ok(spy.messagesWithReports < spy.reports, `reports were batched (${spy.reports} in ${spy.messagesWithReports} messages)`);
});

/** A TCP proxy to the server whose connections the test can cut. */
async function proxy(target: URL): Promise<{ url: string; cut(): void; close(): void }> {
  const sockets = new Set<Socket>();
  const server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const cut = () => sockets.forEach((socket) => socket.destroy());
  return { url: `http://127.0.0.1:${port}`, cut, close: () => (cut(), server.close()) };
}

test("a dropped stream is opened again with the same id; the task in flight reports on it", async () => {
  const weft = client();
  const spy = new Spy();
  const through = await proxy(new URL(serverUrl()));
  const agent = unique("stream-drop");
  let calls = 0;
  let claimed!: () => void;
  const wasClaimed = new Promise<void>((resolve) => (claimed = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const stop = new AbortController();
  const worker = new Worker(spy.client(through.url), { id: unique("ts-drop"), concurrency: 2 })
    .agent(agent, async (task) => {
      calls += 1;
      if (calls === 1) {
        claimed();
        await released;
      }
      return { done: task.text };
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(workflow(unique("drop")).step({ id: "work", agent, task: "hold on" }));
    const held = await wf.run({ input: {} });
    await wasClaimed;
    through.cut();
    // The handler answers while the stream is down: the report waits for the next one.
    release();
    const events = await collect(weft.workflows.streamRun(held.id));
    assert.equal(events.at(-1)?.type, "run.completed");
    const run = await weft.workflows.getRun(held.id);
    assert.equal(run.steps[0]?.attempts, 1, "the lease held: no second attempt");
    assert.deepEqual(run.steps[0]?.output, { done: "hold on" });
    // And the new stream takes new tasks.
    const next = await wf.run({ input: {} });
    assert.equal((await collect(weft.workflows.streamRun(next.id))).at(-1)?.type, "run.completed");
  } finally {
    stop.abort();
    await worker;
    through.close();
  }
  assert.ok(spy.streams >= 2, `the stream was opened again (${spy.streams})`);
  assert.equal(new Set(spy.hellos).size, 1, `every hello carried the same id: ${spy.hellos.join(", ")}`);
  assert.deepEqual(spy.unary, []);
  assert.equal(calls, 2);
});

test("a cancelled run aborts the handler's signal through a heartbeat answer on the stream", async () => {
  const weft = client();
  const spy = new Spy();
  const agent = unique("stream-cancel");
  let started!: () => void;
  const wasStarted = new Promise<void>((resolve) => (started = resolve));
  let aborted!: (reason: unknown) => void;
  const wasAborted = new Promise<unknown>((resolve) => (aborted = resolve));
  const stop = new AbortController();
  const worker = new Worker(spy.client(), { heartbeatMs: 100 })
    .agent(agent, (task) => {
      started();
      return new Promise((_, reject) => {
        task.signal.addEventListener("abort", () => {
          aborted(task.signal.reason);
          reject(task.signal.reason);
        });
      });
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(workflow(unique("cancel")).step({ id: "slow", agent, task: "forever" }));
    const run = await wf.run({ input: {} });
    await wasStarted;
    await weft.runs.cancel(run.id, "changed my mind");
    const reason = await Promise.race([wasAborted, sleep(10_000).then(() => "timed out")]);
    assert.match(String(reason), /cancelled/);
    assert.equal((await weft.workflows.getRun(run.id)).status, "cancelled");
  } finally {
    stop.abort();
    await worker;
  }
  assert.equal(spy.streams, 1);
  assert.deepEqual(spy.unary, []);
});

test("a report the server refuses throws what the unary call throws", async () => {
  const weft = client();
  const errors: Record<string, WeftError> = {};
  for (const [transport, worker] of [
    ["stream", client()],
    ["polls", pollingClient()],
  ] as const) {
    const agent = unique("stream-refuse");
    const stop = new AbortController();
    const running = new Worker(worker)
      .agent(agent, async (task) => {
        try {
          await task.checkTool("");
        } catch (thrown) {
          errors[transport] = thrown as WeftError;
        }
        return {};
      })
      .run(stop.signal);
    try {
      const wf = await weft.workflows.create(workflow(unique("refuse")).step({ id: "ask", agent, task: "tools" }));
      const run = await wf.run({ input: {} });
      assert.equal((await collect(weft.workflows.streamRun(run.id))).at(-1)?.type, "run.completed");
    } finally {
      stop.abort();
      await running;
    }
  }
  const [streamed, unary] = [errors["stream"], errors["polls"]];
  assert.ok(streamed instanceof InvalidArgumentError, String(streamed));
  assert.ok(unary instanceof InvalidArgumentError, String(unary));
  assert.equal(streamed.message, unary.message);
  assert.equal(streamed.reason, unary.reason);
  assert.deepEqual(streamed.fieldViolations, unary.fieldViolations);
  assert.ok(streamed.fieldViolations.length > 0 || streamed.reason !== "", "the details came through");
});

test("a server that answers the stream UNIMPLEMENTED is long-polled", async () => {
  const weft = client();
  const agent = unique("old-server");
  const stop = new AbortController();
  const worker = new Worker(pollingClient(), { concurrency: 2 })
    .agent(agent, async (task) => ({ said: task.text, n: 1 }))
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(chain(unique("polled"), agent, 3));
    const run = await wf.run({ input: {} });
    assert.equal((await collect(weft.workflows.streamRun(run.id))).at(-1)?.type, "run.completed");
  } finally {
    stop.abort();
    await worker;
  }
});

test("over gRPC-web (no request streaming) the worker long-polls with the unary calls", async () => {
  const weft = client();
  const agent = unique("grpc-web-worker");
  const stop = new AbortController();
  const worker = new Worker(new Weft({ baseUrl: serverUrl(), transport: "grpc-web" }))
    .agent(agent, async (task) => ({ said: task.text }))
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(workflow(unique("web")).step({ id: "one", agent, task: "hi" }));
    const run = await wf.run({ input: {} });
    assert.equal((await collect(weft.workflows.streamRun(run.id))).at(-1)?.type, "run.completed");
  } finally {
    stop.abort();
    await worker;
  }
});

test("shutdown drains the stream: the task in flight finishes and reports, then the worker resolves", async () => {
  const weft = client();
  const spy = new Spy();
  const agent = unique("stream-drain");
  let claimed!: () => void;
  const wasClaimed = new Promise<void>((resolve) => (claimed = resolve));
  const stop = new AbortController();
  const worker = new Worker(spy.client(), { concurrency: 2 })
    .agent(agent, async () => {
      claimed();
      await sleep(300);
      return { rested: true };
    })
    .run(stop.signal);
  const wf = await weft.workflows.create(workflow(unique("drain")).step({ id: "nap", agent, task: "nap" }));
  const run = await wf.run({ input: {} });
  await wasClaimed;
  stop.abort();
  await worker;
  const done = await weft.workflows.getRun(run.id);
  assert.equal(done.status, "completed", "the task in flight finished before the worker resolved");
  assert.deepEqual(done.steps[0]?.output, { rested: true });
  assert.equal(spy.drains, 1);
  assert.equal(spy.streams, 1);
  assert.equal(spy.answers, spy.reports);
});

test("a worker stopped before its stream opened drains at once and resolves", async () => {
  const spy = new Spy();
  const stop = new AbortController();
  stop.abort();
  await new Worker(spy.client()).agent(unique("stopped"), async () => ({})).run(stop.signal);
  assert.equal(spy.streams, 1);
  assert.equal(spy.drains, 1);
});

test("a paused run reaches the handler through heartbeat answers on the stream, and so does its resume", async () => {
  const weft = client();
  const spy = new Spy();
  const agent = unique("stream-pause");
  let started!: () => void;
  const wasStarted = new Promise<void>((resolve) => (started = resolve));
  let sawPause!: () => void;
  const pauseSeen = new Promise<void>((resolve) => (sawPause = resolve));
  const stop = new AbortController();
  const worker = new Worker(spy.client(), { heartbeatMs: 100 })
    .agent(agent, async (task) => {
      started();
      const deadline = Date.now() + 15_000;
      while (!task.paused && Date.now() < deadline) await sleep(20);
      sawPause();
      while (task.paused && Date.now() < deadline) await sleep(20);
      return { held: true };
    })
    .run(stop.signal);
  try {
    const wf = await weft.workflows.create(workflow(unique("pause")).step({ id: "hold", agent, task: "hold" }));
    const run = await wf.run({ input: {} });
    await wasStarted;
    await weft.raw.runs.pauseRun({ runId: run.id, reason: "a moment" });
    await pauseSeen;
    await weft.raw.runs.resumeRun({ runId: run.id });
    const events = await collect(weft.workflows.streamRun(run.id));
    assert.equal(events.at(-1)?.type, "run.completed");
    assert.ok(events.some((e) => e.type === "run.paused"));
    assert.deepEqual((await weft.workflows.getRun(run.id)).steps[0]?.output, { held: true });
  } finally {
    stop.abort();
    await worker;
  }
  assert.deepEqual(spy.unary, []);
});
