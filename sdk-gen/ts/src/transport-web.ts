/**
 * Transports in browsers (picked through the package's `#transport` import
 * condition): gRPC-web over fetch. Plain gRPC needs HTTP/2 trailers, which
 * browsers do not expose.
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";

/** How the client talks to the server. */
export type TransportKind = "grpc" | "grpc-web";

/** Browsers can only use gRPC-web. */
export const defaultTransportKind: TransportKind = "grpc-web";

export function makeTransport(kind: TransportKind, baseUrl: string, interceptors: Interceptor[]): Transport {
  if (kind === "grpc") {
    throw new Error("weft: transport 'grpc' needs Node (HTTP/2); use 'grpc-web' in a browser");
  }
  return createGrpcWebTransport({ baseUrl, interceptors });
}
