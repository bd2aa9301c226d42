/**
 * Transports in Node (picked through the package's `#transport` import
 * condition): gRPC over HTTP/2 by default, gRPC-web on request.
 */
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";

/** How the client talks to the server. */
export type TransportKind = "grpc" | "grpc-web";

/** Node defaults to gRPC (HTTP/2 cleartext or TLS). */
export const defaultTransportKind: TransportKind = "grpc";

export function makeTransport(kind: TransportKind, baseUrl: string, interceptors: Interceptor[]): Transport {
  return kind === "grpc"
    ? createGrpcTransport({ baseUrl, interceptors })
    : createGrpcWebTransport({ baseUrl, interceptors, httpVersion: "1.1" });
}
