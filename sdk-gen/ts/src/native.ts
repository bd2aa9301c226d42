/**
 * What the client hands back for runs, steps, events and approvals: plain
 * objects of JSON values, string statuses, `Date`s, seconds and
 * `{ amount, currency }` costs, so `console.log(run)` and
 * `JSON.stringify(run)` read as the documents write a run. Each keeps the
 * generated message it was made from at `.raw`, a non-enumerable property:
 * there for whoever needs a field the SDK does not lift, absent from logs
 * and JSON. This module owns those conversions (one direction: message to
 * native; workflows are in native-workflow.ts).
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Approval as PbApproval } from "./gen/weft/v1/approval_service_pb.js";
import type { Money } from "./gen/weft/v1/common_pb.js";
import type {
  PendingAction as PbPendingAction,
  Run as PbRun,
  RunError as PbRunError,
  RunEvent as PbRunEvent,
  StepRun as PbStepRun,
} from "./gen/weft/v1/run_pb.js";
import { fromValue } from "./json.js";
import {
  approvalDecisions,
  approvalKinds,
  approvalStatuses,
  runStatuses,
  stepStatuses,
  type ApprovalDecision,
  type ApprovalKind,
  type ApprovalStatus,
  type RunStatus,
  type StepStatus,
} from "./statuses.js";

/** An amount of money in the currency's minor unit (cents), as reported. */
export interface Cost {
  /** Minor units (cents); exact below 2^53, far above any real cost. */
  amount: number;
  /** ISO 4217, lower-case ("usd"). */
  currency: string;
}

/** An object with its generated message kept, out of sight, at `.raw`. */
export type WithRaw<T, Raw> = T & { readonly raw: Raw };

/** Why a run failed. */
export interface RunError {
  /** Stable UPPER_SNAKE code (`STEP_FAILED`, `RUN_TIMEOUT`, …). */
  code: string;
  message: string;
  /** The step that caused it; "" for run-level failures. */
  stepId: string;
}

/** What a paused run waits for. */
export interface PendingAction {
  step: string;
  /** "approval", "confirmation", "event", "tool_approval", "cost_exceeded" or "manual". */
  type: string;
  message: string;
  options: string[];
  /** For "event": the event a resume must carry. */
  event: string;
  /** For approvals: the approval to decide (`weft.approvals.decide`). */
  approvalId: string;
  /** For "tool_approval": the tool the agent wants. */
  tool: string;
  /** When the wait ends by itself; null if never. */
  expiresAt: Date | null;
}

/** One step's result within a run. */
export interface StepRun {
  /** Step id; map items are `id[index]`. */
  id: string;
  type: string;
  status: StepStatus;
  /** Attempts started so far. */
  attempts: number;
  /** The step's output once completed, else null. */
  output: JsonValue;
  /** The last failed attempt's error; "" if none. */
  error: string;
  cost: Cost | null;
  /** Seconds from start to end (or to now while running). */
  duration: number;
  /** The parallel/map/loop/planner step this one belongs to; "". */
  parentId: string;
  /** For map items and loop iterations: the 0-based index; else null. */
  itemIndex: number | null;
  /**
   * Why a `"ready"` step has not started, once it waited long: e.g. "a
   * worker for agent 'web-researcher'" when no worker serves the agent.
   * "" otherwise.
   */
  waitingFor: string;
  startedAt: Date | null;
  completedAt: Date | null;
  /**
   * The input of the latest attempt, for steps run as a task (agent,
   * planner, webhook, http_request, script): the task's input as it was
   * handed over. null for steps the engine runs itself (transform, map, …),
   * for pending steps, and in every answer but `runs.get` (the calls that
   * start, execute or act on a run leave it out, as `runs.list` does).
   */
  input: JsonValue;
  /**
   * The worker that claimed the latest attempt, as registered; "" before a
   * claim, for steps the server runs itself, and in every answer but
   * `runs.get`.
   */
  workerId: string;
  readonly raw: PbStepRun;
}

/** One execution of a workflow. `raw`: the generated `Run` message. */
export interface Run {
  id: string;
  workflowId: string;
  workflowVersion: number;
  userId: string;
  status: RunStatus;
  /** The run's input; null if started without one. */
  input: JsonValue;
  /** The run's output once completed, else null. */
  output: JsonValue;
  sharedState: JsonObject;
  steps: StepRun[];
  cost: Cost | null;
  /** Seconds from start to end (or to now while live). */
  duration: number;
  /** The first failed step of a failed or partial run; "". */
  canRetryFrom: string;
  /** What a paused run waits for; null unless paused. */
  pendingAction: PendingAction | null;
  /** Why the run failed; null unless failed. */
  error: RunError | null;
  cancelReason: string;
  /** "manual", "schedule", "webhook", "retry", or a caller's label. */
  trigger: string;
  idempotencyKey: string;
  retryOfRunId: string;
  scheduleId: string;
  createdAt: Date | null;
  startedAt: Date | null;
  completedAt: Date | null;
  /** For a run started by a schedule: the cron time it stands for; else null. */
  scheduledAt: Date | null;
  readonly raw: PbRun;
}

/** The event types the engine emits; more may come, so ignore unknown ones. */
export type RunEventType =
  | "run.queued"
  | "run.started"
  | "step.started"
  | "step.completed"
  | "step.failed"
  | "step.retrying"
  | "step.skipped"
  | "step.cancelled"
  | "step.cost_exceeded"
  | "step.resumed"
  | "step.reset"
  | "task.unclaimed"
  | "approval.pending"
  | "approval.decided"
  | "run.paused"
  | "run.resumed"
  | "plan.spliced"
  | "run.completed"
  | "run.failed"
  | "run.partial"
  | "run.cancelled"
  | (string & {});

/** One change in a run's life. Which fields are set depends on `type`. */
export interface RunEvent {
  runId: string;
  /** 1, 2, 3… per run, with no gap. */
  sequence: number;
  type: RunEventType;
  stepId: string;
  /** The step's status (step.*) or the run's (run.*), lower-case. */
  status: string;
  /** step.completed: the step's output; run.completed: the run's. Else null. */
  output: JsonValue;
  error: string;
  cost: Cost | null;
  totalCost: Cost | null;
  canRetryFrom: string;
  action: string;
  /** Seconds: the run's (terminal events) or the step's (step.completed/failed). */
  duration: number;
  /** Anything else the event carries (`{agent}` for task.unclaimed, …). */
  data: JsonObject;
  timestamp: Date | null;
  readonly raw: PbRunEvent;
}

/** A human decision on an approval step or a gated tool. */
export interface Approval {
  id: string;
  runId: string;
  workflowId: string;
  stepId: string;
  kind: ApprovalKind;
  action: string;
  tool: string;
  toolArguments: JsonObject;
  message: string;
  options: string[];
  status: ApprovalStatus;
  /** Applied when it expires undecided. */
  defaultAction: ApprovalDecision;
  /** The decision once made, else null. */
  decision: ApprovalDecision | null;
  option: string;
  comment: string;
  decidedBy: string;
  expiresAt: Date | null;
  decidedAt: Date | null;
  createdAt: Date | null;
  readonly raw: PbApproval;
}

/** Attaches `raw` without making it enumerable (logs and JSON skip it). */
export function withRaw<T extends object, Raw>(value: T, raw: Raw): WithRaw<T, Raw> {
  return Object.defineProperty(value, "raw", { value: raw, enumerable: false }) as WithRaw<T, Raw>;
}

/** A `Money` message as a {@link Cost}; null when unset. */
export function cost(money: Money | undefined): Cost | null {
  return money ? { amount: Number(money.amount), currency: money.currency || "usd" } : null;
}

/** A `Timestamp` as a `Date`; null when unset. */
export function date(timestamp: Timestamp | undefined): Date | null {
  return timestamp ? timestampDate(timestamp) : null;
}

function runError(error: PbRunError | undefined): RunError | null {
  return error ? { code: error.code, message: error.message, stepId: error.stepId } : null;
}

function pendingAction(action: PbPendingAction | undefined): PendingAction | null {
  if (!action) return null;
  return {
    step: action.step,
    type: action.type,
    message: action.message,
    options: [...action.options],
    event: action.event,
    approvalId: action.approvalId,
    tool: action.tool,
    expiresAt: date(action.expireTime),
  };
}

/** A `StepRun` message as a native {@link StepRun}. */
export function toStepRun(step: PbStepRun): StepRun {
  return withRaw(
    {
      id: step.id,
      type: step.type,
      status: stepStatuses.name(step.status),
      attempts: step.attempts,
      output: fromValue(step.output),
      error: step.error,
      cost: cost(step.cost),
      duration: step.duration,
      parentId: step.parentId,
      itemIndex: step.itemIndex ?? null,
      waitingFor: step.waitingFor,
      startedAt: date(step.startTime),
      completedAt: date(step.completeTime),
      input: fromValue(step.input),
      workerId: step.workerId,
    },
    step,
  );
}

/** A `Run` message as a native {@link Run}. */
export function toRun(run: PbRun): Run {
  return withRaw(
    {
      id: run.id,
      workflowId: run.workflowId,
      workflowVersion: run.workflowVersion,
      userId: run.userId,
      status: runStatuses.name(run.status),
      input: fromValue(run.input),
      output: fromValue(run.output),
      sharedState: run.sharedState ?? {},
      steps: run.steps.map(toStepRun),
      cost: cost(run.cost),
      duration: run.duration,
      canRetryFrom: run.canRetryFrom,
      pendingAction: pendingAction(run.pendingAction),
      error: runError(run.error),
      cancelReason: run.cancelReason,
      trigger: run.trigger,
      idempotencyKey: run.idempotencyKey,
      retryOfRunId: run.retryOfRunId,
      scheduleId: run.scheduleId,
      createdAt: date(run.createTime),
      startedAt: date(run.startTime),
      completedAt: date(run.completeTime),
      scheduledAt: date(run.scheduledTime),
    },
    run,
  );
}

/** A `RunEvent` message as a native {@link RunEvent}. */
export function toRunEvent(event: PbRunEvent): RunEvent {
  return withRaw(
    {
      runId: event.runId,
      sequence: Number(event.sequence),
      type: event.type,
      stepId: event.stepId,
      status: event.status,
      output: fromValue(event.output),
      error: event.error,
      cost: cost(event.cost),
      totalCost: cost(event.totalCost),
      canRetryFrom: event.canRetryFrom,
      action: event.action,
      duration: event.durationSeconds,
      data: event.data ?? {},
      timestamp: date(event.createTime),
    },
    event,
  );
}

/** An `Approval` message as a native {@link Approval}. */
export function toApproval(approval: PbApproval): Approval {
  return withRaw(
    {
      id: approval.id,
      runId: approval.runId,
      workflowId: approval.workflowId,
      stepId: approval.stepId,
      kind: approvalKinds.name(approval.kind),
      action: approval.action,
      tool: approval.tool,
      toolArguments: approval.toolArguments ?? {},
      message: approval.message,
      options: [...approval.options],
      status: approvalStatuses.name(approval.status),
      defaultAction: approvalDecisions.name(approval.defaultAction),
      decision: approval.decision === 0 ? null : approvalDecisions.name(approval.decision),
      option: approval.option,
      comment: approval.comment,
      decidedBy: approval.decidedBy,
      expiresAt: date(approval.expireTime),
      decidedAt: date(approval.decideTime),
      createdAt: date(approval.createTime),
    },
    approval,
  );
}
