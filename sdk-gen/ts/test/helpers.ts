/** Shared by the Node tests: the live server (WEFT_URL, set by scripts/test-sdks). */
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Weft, workflow, type WorkflowBuilder, type StreamEvent } from "weftflow";

export function serverUrl(): string {
  const url = process.env.WEFT_URL;
  if (!url) throw new Error("WEFT_URL is not set: run the SDK tests through scripts/test-sdks");
  return url;
}

export function client(): Weft {
  // The server scripts/test-sdks starts has no keys yet (anonymous on
  // loopback); WEFT_API_KEY points the tests at a server that needs one.
  return new Weft({ baseUrl: serverUrl(), transport: "grpc", apiKey: process.env.WEFT_API_KEY });
}

/** A unique name, so reruns against one server never collide. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A workflow of one transform: it completes without any worker. */
export function pureWorkflow(name = unique("pure")): WorkflowBuilder {
  return workflow(name)
    .inputSchema({ type: "object", required: ["company"], properties: { company: { type: "string" } } })
    .transform({ id: "shape", output: { company: "$.input.company", site: "$.input.website" } });
}

/** Every event of a run's stream, to its end. */
export async function collect(events: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const all: StreamEvent[] = [];
  for await (const event of events) all.push(event);
  return all;
}

/**
 * A client whose transport answers every streaming call UNIMPLEMENTED, as
 * a server from before WorkerService.ConnectWorker does: a worker on it
 * long-polls with the unary calls.
 */
export function pollingClient(url = serverUrl()): Weft {
  const grpc = createGrpcTransport({ baseUrl: url });
  const transport: Transport = {
    unary: (...args) => grpc.unary(...args),
    stream: async () => {
      throw new ConnectError("ConnectWorker is not served here", Code.Unimplemented);
    },
  };
  return new Weft({ baseUrl: url, transport });
}
