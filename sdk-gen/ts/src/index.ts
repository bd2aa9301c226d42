/**
 * `weftflow`: the TypeScript client of the Weft workflow engine.
 *
 * - {@link Weft}: the client (`workflows`, `runs`, `approvals`, `schedules`,
 *   `templates`, `triggers`), over gRPC in Node or gRPC-web in browsers;
 *   runs, steps, workflows, approvals and events come back as plain objects
 *   (string statuses, JSON values, `Date`s), the generated message at `.raw`;
 * - {@link workflow}: the typed builder;
 * - {@link Worker}: serve agents with handlers that return the output or an
 *   {@link Outcome}, and throw {@link RetryableError} / {@link NonRetryableError};
 * - typed errors ({@link NotFoundError}, {@link InvalidArgumentError}, …).
 *
 * The generated messages and service descriptors are under
 * `weftflow/gen/weft/v1/<file>_pb` (tree-shakeable: import what you use).
 */
export { Weft, type WeftOptions, type RawClients, type TransportKind } from "./client.js";
export { workflow, WorkflowBuilder, toStep, toPolicy } from "./builder.js";
export type {
  StepSpec,
  StepType,
  KindSpec,
  AgentSpec,
  PlannerSpec,
  ConditionSpec,
  TransformSpec,
  ParallelSpec,
  MapSpec,
  LoopSpec,
  DelaySpec,
  ApprovalSpec,
  WaitSpec,
  WebhookSpec,
  HttpRequestSpec,
  ScriptSpec,
  PolicySpec,
  OnFailure,
} from "./builder.js";
export { Workflows, type WorkflowHandle, type Applied, type WorkflowDefinition, type ListWorkflowsOptions, type WorkflowPageOptions, type WorkflowPage, type UpdateOptions } from "./workflows.js";
export { Runs } from "./runs.js";
export type { RunOptions, ExecuteOptions, ListRunsOptions, RunPageOptions, RunPage, ResumeOptions, StreamOptions, StreamEvent } from "./runs.js";
export { Approvals, type ListApprovalsOptions, type ApprovalPageOptions, type ApprovalPage, type DecideOptions } from "./approvals.js";
export { Schedules, type ScheduleSpec, type OverlapPolicy, type CatchUp } from "./schedules.js";
export { Templates, type ListTemplatesOptions, type TemplateSpec, type InstallOptions } from "./templates.js";
export { Triggers, fireWebhook } from "./triggers.js";
export { Workers, type WorkerInfo, type AgentQueue, type ListWorkersOptions, type WorkerList } from "./workers.js";
export { Worker, type TaskContext, type Handler, type ToolVerdict, type WorkerOptions } from "./worker.js";
export {
  Outcome,
  outcome,
  TaskError,
  RetryableError,
  NonRetryableError,
  type OutcomeInit,
  type HandlerResult,
  type CostInit,
  type FailureOptions,
} from "./outcome.js";
export * from "./errors.js";
export { toValue, fromValue, asJson, toMoney, formatMoney, type MoneyInit, type JsonObject, type JsonValue } from "./json.js";
export { RunStatus, StepStatus, WorkflowStatus, ApprovalStatus } from "./statuses.js";
export type { ApprovalDecision, ApprovalKind, ApplyOutcome } from "./statuses.js";
export type { Run, StepRun, RunEvent, RunEventType, RunError, PendingAction, Approval, Cost } from "./native.js";
export type { Workflow, WorkflowVersion, Policy } from "./native-workflow.js";
export type { Schedule } from "./gen/weft/v1/schedule_service_pb.js";
export type { Template } from "./gen/weft/v1/template_service_pb.js";
export type { TriggerStatus, DeployWorkflowResponse } from "./gen/weft/v1/trigger_service_pb.js";
export type { Money } from "./gen/weft/v1/common_pb.js";
