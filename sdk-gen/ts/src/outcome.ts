/**
 * What a handler answers, and how it fails.
 *
 * - Return a JSON value: that value is the step's output, whatever its
 *   shape (`{ output: 1 }` is an output with a field named `output`).
 * - Return `outcome({ output, cost, stateWrites })` (an {@link Outcome}) to
 *   also report the attempt's cost or write shared-state keys. Only an
 *   `Outcome` is read this way, so no output can be mistaken for one.
 * - Throw {@link RetryableError} to fail the attempt while letting the
 *   step's retries run, {@link NonRetryableError} to fail the step now.
 *   Any other thrown value is retryable: an unexpected exception is more
 *   often a passing fault (network, rate limit) than a verdict.
 *
 * The tool-use check is on the task itself (`task.checkTool(tool, args)`),
 * since it must happen before the tool runs, not after.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { MoneyInit } from "./json.js";

/**
 * A cost as a handler reports it: cents of usd, or an amount in a
 * currency's minor unit with the currency.
 */
export type CostInit = number | MoneyInit;

/** The fields of an {@link Outcome}. */
export interface OutcomeInit {
  /** The step's output, seen by later steps as `$.<step>.output`. */
  output: JsonValue;
  /** What the attempt cost. */
  cost?: CostInit;
  /** Shared-state keys the step writes (declared in its `stateWrites`). */
  stateWrites?: JsonObject;
}

/**
 * Marks an Outcome across copies of this package (an app that bundles one
 * and a library that brings another): `instanceof` alone would miss those.
 */
const BRAND = Symbol.for("weftflow.Outcome");

/** A handler's answer with more than the output; make it with {@link outcome}. */
export class Outcome implements OutcomeInit {
  readonly output: JsonValue;
  readonly cost?: CostInit;
  readonly stateWrites?: JsonObject;

  constructor(init: OutcomeInit) {
    // Not enumerable: logs and JSON show only what the handler gave.
    Object.defineProperty(this, BRAND, { value: true });
    this.output = init.output;
    if (init.cost !== undefined) this.cost = init.cost;
    if (init.stateWrites !== undefined) this.stateWrites = init.stateWrites;
  }

  /** Whether `value` is an Outcome (of this or another copy of the package). */
  static is(value: unknown): value is Outcome {
    return value instanceof Outcome || (typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true);
  }
}

/** An {@link Outcome}: the output plus the attempt's cost and state writes. */
export function outcome(init: OutcomeInit): Outcome {
  return new Outcome(init);
}

/**
 * What a handler may return: an output, an {@link Outcome}, or nothing
 * (the output is then `null`).
 */
export type HandlerResult = JsonValue | Outcome | void;

/** Options of {@link RetryableError} and {@link NonRetryableError}. */
export interface FailureOptions {
  /** UPPER_SNAKE code leading the step's error (`TOOL_ERROR: …`). */
  code?: string;
  /** What the failed attempt cost. */
  cost?: CostInit;
  cause?: unknown;
}

/** A handler's failure; {@link RetryableError} and {@link NonRetryableError} say which. */
export class TaskError extends Error {
  /** What the failed attempt cost, when reported. */
  readonly cost: CostInit | undefined;

  constructor(
    message: string,
    /** Whether another attempt might work (the step's retries apply). */
    readonly retryable = true,
    /** UPPER_SNAKE code leading the step's error (`TOOL_ERROR: …`). */
    readonly code = "",
    options: { cost?: CostInit; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.cost = options.cost;
  }
}

/** Fails the attempt; the step's retries decide whether it runs again. */
export class RetryableError extends TaskError {
  constructor(message: string, options: FailureOptions = {}) {
    super(message, true, options.code ?? "", options);
  }
}

/** Fails the step now, whatever retries it has left. */
export class NonRetryableError extends TaskError {
  constructor(message: string, options: FailureOptions = {}) {
    super(message, false, options.code ?? "", options);
  }
}
