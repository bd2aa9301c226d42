/**
 * Serves the lead pipeline's agents until Ctrl-C or SIGTERM.
 *
 *   WEFT_URL=http://127.0.0.1:7070 node dist/examples/worker.js
 */
import { Weft } from "weftflow";
import { leadPipelineWorker } from "./agents.js";

const url = process.env.WEFT_URL ?? "http://127.0.0.1:7070";
const stop = new AbortController();
process.once("SIGINT", () => stop.abort());
process.once("SIGTERM", () => stop.abort());
console.log(`serving the lead pipeline's agents for ${url}`);
await leadPipelineWorker(new Weft({ baseUrl: url })).run(stop.signal);
console.log("worker stopped");
