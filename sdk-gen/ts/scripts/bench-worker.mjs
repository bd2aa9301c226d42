// The TS worker's path through a live server, over its ConnectWorker
// stream or over long polls (a transport that answers the stream
// UNIMPLEMENTED, as a server from before it does), for issue #20:
// a 10-step chain's p50/p95 (40 runs one after another, after 5 warm-ups),
// then 20 chains at once (5 each) as worker steps/s, and the worker
// process's CPU per step in that phase. The worker runs in a child process
// of its own so its CPU is its alone. Run after `npm run build`:
//
//   WEFT_URL=http://127.0.0.1:7070 node scripts/bench-worker.mjs stream polls stream polls
//
// Each argument is one round, in that order (alternate them: this machine's
// load moves between rounds).
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Code, ConnectError } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Weft, Worker, workflow } from "weftflow";

const url = process.env.WEFT_URL ?? "http://127.0.0.1:7070";

function weftFor(mode) {
  if (mode === "stream") return new Weft({ baseUrl: url, transport: "grpc" });
  const grpc = createGrpcTransport({ baseUrl: url });
  const transport = {
    unary: (...args) => grpc.unary(...args),
    stream: async () => {
      throw new ConnectError("long polls only", Code.Unimplemented);
    },
  };
  return new Weft({ baseUrl: url, transport });
}

/** The worker child: serves `agent` until told to stop; answers "cpu" with its CPU time (ms). */
async function child(mode, agent) {
  const stop = new AbortController();
  const worker = new Worker(weftFor(mode), { concurrency: 32 }).agent(agent, async () => ({ n: 1 })).run(stop.signal);
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (line === "cpu") {
      const { user, system } = process.cpuUsage();
      process.stdout.write(`${(user + system) / 1000}\n`);
    }
    if (line === "stop") {
      stop.abort();
      void worker.then(() => process.exit(0));
    }
  });
  process.stdout.write("ready\n");
}

async function round(mode) {
  const weft = new Weft({ baseUrl: url, transport: "grpc" });
  const agent = `bench-${mode}-${Date.now().toString(36)}`;
  const worker = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", mode, agent], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: worker.stdout })[Symbol.asyncIterator]();
  await lines.next();
  const cpu = async () => {
    worker.stdin.write("cpu\n");
    return Number((await lines.next()).value);
  };
  let chain = workflow(`bench-chain-${agent}`);
  for (let i = 0; i < 10; i++) chain = chain.step({ id: `s${i}`, agent, task: "step", ...(i > 0 && { dependsOn: [`s${i - 1}`] }) });
  const wf = await weft.workflows.create(chain);
  const runOne = async () => {
    const run = await wf.run({ input: {} });
    for await (const event of weft.workflows.streamRun(run.id)) {
      if (event.type === "run.failed" || event.type === "run.cancelled") throw new Error(`run ${run.id}: ${event.type}`);
      if (event.type === "run.completed") return;
    }
  };
  for (let i = 0; i < 5; i++) await runOne();
  const took = [];
  for (let i = 0; i < 40; i++) {
    const start = performance.now();
    await runOne();
    took.push(performance.now() - start);
  }
  took.sort((a, b) => a - b);
  const at = (q) => Number(took[Math.floor(q * (took.length - 1))].toFixed(1));
  const cpuBefore = await cpu();
  const start = performance.now();
  await Promise.all(Array.from({ length: 20 }, async () => {
    for (let i = 0; i < 5; i++) await runOne();
  }));
  const seconds = (performance.now() - start) / 1000;
  const cpuAfter = await cpu();
  const steps = 20 * 5 * 10;
  console.log(JSON.stringify({
    mode,
    chainP50Ms: at(0.5),
    chainP95Ms: at(0.95),
    concurrentStepsPerSecond: Math.round(steps / seconds),
    workerCpuMsPerStep: Number(((cpuAfter - cpuBefore) / steps).toFixed(3)),
  }));
  worker.stdin.write("stop\n");
  await new Promise((resolve) => worker.on("exit", resolve));
}

if (process.argv[2] === "--child") {
  await child(process.argv[3], process.argv[4]);
} else {
  const modes = process.argv.slice(2);
  for (const mode of modes.length > 0 ? modes : ["stream", "polls"]) {
    if (mode !== "stream" && mode !== "polls") throw new Error(`unknown mode ${mode}: stream or polls`);
    await round(mode);
  }
  process.exit(0);
}
