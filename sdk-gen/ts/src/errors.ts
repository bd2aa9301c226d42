/**
 * Typed errors. Every failed call rejects with a {@link WeftError}
 * subclass chosen by the gRPC status code, carrying what the server put in
 * `grpc-status-details-bin`: the `google.rpc.ErrorInfo` reason
 * (`WORKFLOW_NOT_FOUND`, `VALIDATION_ERROR`, …) and the
 * `google.rpc.BadRequest` field violations.
 *
 * The two detail messages are decoded with the wire reader rather than
 * generated googleapis code, which keeps them out of the bundle.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

/** One invalid field of a request, from `google.rpc.BadRequest`. */
export interface FieldViolation {
  /** Path of the field (`steps[2].dependsOn`, `input.website`). */
  readonly field: string;
  /** What is wrong with it. */
  readonly description: string;
  /** Machine-readable problem code (`UNKNOWN_DEPENDENCY`), when given. */
  readonly reason: string;
}

/** Any error answered by Weft (or the transport on its way). */
export class WeftError extends Error {
  /** The gRPC status code. */
  readonly code: Code;
  /** The `ErrorInfo` reason, UPPER_SNAKE, or "" when absent. */
  readonly reason: string;
  /** The `ErrorInfo` domain (`weft.dev`), or "". */
  readonly domain: string;
  /** The `ErrorInfo` metadata (e.g. `runId` of a timed-out execution). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The `BadRequest` field violations (empty when none). */
  readonly fieldViolations: readonly FieldViolation[];
  /** The server's message, without the code prefix. */
  readonly rawMessage: string;

  constructor(code: Code, rawMessage: string, parts: Partial<ErrorParts> = {}, options?: { cause?: unknown }) {
    super(`[${codeName(code)}] ${rawMessage}`, options);
    this.name = new.target.name;
    this.code = code;
    this.rawMessage = rawMessage;
    this.reason = parts.reason ?? "";
    this.domain = parts.domain ?? "";
    this.metadata = parts.metadata ?? {};
    this.fieldViolations = parts.fieldViolations ?? [];
  }
}

/** NOT_FOUND: an unknown workflow, version, run, approval, … */
export class NotFoundError extends WeftError {}
/** INVALID_ARGUMENT: see {@link WeftError.fieldViolations}. */
export class InvalidArgumentError extends WeftError {}
/** FAILED_PRECONDITION: the action does not fit the current state. */
export class FailedPreconditionError extends WeftError {}
/** ABORTED: a conflict (stale `expectedVersion`, stale lease). */
export class AbortedError extends WeftError {}
/** ALREADY_EXISTS. */
export class AlreadyExistsError extends WeftError {}
/** UNIMPLEMENTED: the RPC is not built on this server yet. */
export class UnimplementedError extends WeftError {}
/** UNAVAILABLE: the server or its database cannot answer now; retry. */
export class UnavailableError extends WeftError {}
/** RESOURCE_EXHAUSTED: a size or concurrency limit. */
export class ResourceExhaustedError extends WeftError {}
/** DEADLINE_EXCEEDED. */
export class DeadlineExceededError extends WeftError {}
/** UNAUTHENTICATED or PERMISSION_DENIED. */
export class PermissionError extends WeftError {}
/** CANCELED: the call was aborted by the caller. */
export class CancelledError extends WeftError {}

type ErrorClass = new (code: Code, message: string, parts?: Partial<ErrorParts>, options?: { cause?: unknown }) => WeftError;

const classes: Partial<Record<Code, ErrorClass>> = {
  [Code.NotFound]: NotFoundError,
  [Code.InvalidArgument]: InvalidArgumentError,
  [Code.FailedPrecondition]: FailedPreconditionError,
  [Code.Aborted]: AbortedError,
  [Code.AlreadyExists]: AlreadyExistsError,
  [Code.Unimplemented]: UnimplementedError,
  [Code.Unavailable]: UnavailableError,
  [Code.ResourceExhausted]: ResourceExhaustedError,
  [Code.DeadlineExceeded]: DeadlineExceededError,
  [Code.Unauthenticated]: PermissionError,
  [Code.PermissionDenied]: PermissionError,
  [Code.Canceled]: CancelledError,
};

interface ErrorParts {
  reason: string;
  domain: string;
  metadata: Record<string, string>;
  fieldViolations: FieldViolation[];
}

function codeName(code: Code): string {
  return (Code[code] ?? "Unknown").replace(/[A-Z]/g, (c, i: number) => (i ? "_" : "") + c).toUpperCase();
}

const ERROR_INFO = "google.rpc.ErrorInfo";
const BAD_REQUEST = "google.rpc.BadRequest";

/** Turns anything a call threw into the matching {@link WeftError}. */
export function toWeftError(thrown: unknown): WeftError {
  if (thrown instanceof WeftError) return thrown;
  const error = ConnectError.from(thrown);
  const parts: Partial<ErrorParts> = {};
  for (const detail of error.details) {
    if (!("type" in detail) || typeof detail.type !== "string" || !(detail.value instanceof Uint8Array)) continue;
    try {
      if (detail.type === ERROR_INFO) Object.assign(parts, decodeErrorInfo(detail.value));
      if (detail.type === BAD_REQUEST) parts.fieldViolations = decodeBadRequest(detail.value);
    } catch {
      // A malformed detail is ignored; the code and message still stand.
    }
  }
  const ErrorType = classes[error.code] ?? WeftError;
  return new ErrorType(error.code, error.rawMessage, parts, { cause: thrown });
}

/** Runs `call`, rethrowing its failure as a {@link WeftError}. */
export async function typed<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (thrown) {
    throw toWeftError(thrown);
  }
}

function decodeErrorInfo(bytes: Uint8Array): Pick<ErrorParts, "reason" | "domain" | "metadata"> {
  const reader = new BinaryReader(bytes);
  const out = { reason: "", domain: "", metadata: {} as Record<string, string> };
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (field === 1 && wire === WireType.LengthDelimited) out.reason = reader.string();
    else if (field === 2 && wire === WireType.LengthDelimited) out.domain = reader.string();
    else if (field === 3 && wire === WireType.LengthDelimited) {
      const [key, value] = decodePair(reader.bytes());
      out.metadata[key] = value;
    } else reader.skip(wire);
  }
  return out;
}

function decodePair(bytes: Uint8Array): [string, string] {
  const reader = new BinaryReader(bytes);
  let key = "";
  let value = "";
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (field === 1 && wire === WireType.LengthDelimited) key = reader.string();
    else if (field === 2 && wire === WireType.LengthDelimited) value = reader.string();
    else reader.skip(wire);
  }
  return [key, value];
}

function decodeBadRequest(bytes: Uint8Array): FieldViolation[] {
  const reader = new BinaryReader(bytes);
  const violations: FieldViolation[] = [];
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (field === 1 && wire === WireType.LengthDelimited) violations.push(decodeViolation(reader.bytes()));
    else reader.skip(wire);
  }
  return violations;
}

function decodeViolation(bytes: Uint8Array): FieldViolation {
  const reader = new BinaryReader(bytes);
  const violation = { field: "", description: "", reason: "" };
  while (reader.pos < reader.len) {
    const [field, wire] = reader.tag();
    if (field === 1 && wire === WireType.LengthDelimited) violation.field = reader.string();
    else if (field === 2 && wire === WireType.LengthDelimited) violation.description = reader.string();
    else if (field === 3 && wire === WireType.LengthDelimited) violation.reason = reader.string();
    else reader.skip(wire);
  }
  return violation;
}
