// An SDK worker serving agent `echo` (its output is its input, at once),
// for `benches/worker_path.rs`: the TypeScript SDK's own worker runtime, so
// the bench measures what a Node user gets.
//
//   node bench/worker-path/echo_worker.mjs URL [CONCURRENCY]
//
// Needs the SDK compiled (`tsc -p sdk-gen/ts/tsconfig.json`, which the
// bench runs first). Serves until SIGTERM or Ctrl-C, then lets its tasks
// in flight finish. Plain JavaScript, so it runs without a compile of its own.
import { Weft, Worker } from "../../sdk-gen/ts/dist/src/index.js";

const url = process.argv[2];
const concurrency = Number(process.argv[3] ?? 64);
const stop = new AbortController();
process.once("SIGINT", () => stop.abort());
process.once("SIGTERM", () => stop.abort());
await new Worker(new Weft({ baseUrl: url }), { name: "bench-echo-ts", concurrency })
  .agent("echo", async (task) => ({ output: task.input }))
  .run(stop.signal);
