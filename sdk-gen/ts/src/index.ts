/**
 * `@weft/sdk`: the TypeScript client of the Weft workflow engine.
 *
 * - {@link Weft}: the client (`workflows`, `runs`, `approvals`, `schedules`,
 *   `templates`, `triggers`),
 *   over gRPC in Node or gRPC-web in browsers;
 * - {@link workflow}: the typed builder;
 * - {@link Worker}: serve agents with async handlers;
 * - typed errors ({@link NotFoundError}, {@link InvalidArgumentError}, …).
 *
 * The generated messages and service descriptors are under
 * `@weft/sdk/gen/weft/v1/<file>_pb` (tree-shakeable: import what you use).
 */
export { Weft, type WeftOptions, type RawClients, type TransportKind } from "./client.js";
export { workflow, WorkflowBuilder, toStep, toPolicy } from "./builder.js";
export type { StepSpec, StepType, ConditionSpec, TransformSpec, PolicySpec, OnFailure } from "./builder.js";
export { Workflows, type WorkflowHandle, type WorkflowDefinition, type ListWorkflowsOptions, type UpdateOptions } from "./workflows.js";
export { Runs, runStatusName } from "./runs.js";
export type { RunOptions, ListRunsOptions, ResumeOptions, StreamOptions, StreamEvent, RunEventType, RunStatusName } from "./runs.js";
export { Approvals, type ListApprovalsOptions, type DecideOptions, type ApprovalDecisionName } from "./approvals.js";
export { Schedules, type ScheduleSpec, type OverlapPolicy, type CatchUp } from "./schedules.js";
export { Templates, type ListTemplatesOptions, type TemplateSpec, type InstallOptions } from "./templates.js";
export { Triggers, fireWebhook } from "./triggers.js";
export { Worker, TaskError, type TaskContext, type TaskResult, type Handler, type ToolVerdict, type WorkerOptions } from "./worker.js";
export * from "./errors.js";
export { toValue, fromValue, toMoney, formatMoney, type MoneyInit, type JsonObject, type JsonValue } from "./json.js";
export type { Workflow, WorkflowVersion } from "./gen/weft/v1/workflow_pb.js";
export type { Run, RunEvent, StepRun } from "./gen/weft/v1/run_pb.js";
export { RunStatus, StepStatus } from "./gen/weft/v1/run_pb.js";
export type { Approval } from "./gen/weft/v1/approval_service_pb.js";
export type { Schedule } from "./gen/weft/v1/schedule_service_pb.js";
export type { Template } from "./gen/weft/v1/template_service_pb.js";
export type { TriggerStatus, DeployWorkflowResponse } from "./gen/weft/v1/trigger_service_pb.js";
export type { Money } from "./gen/weft/v1/common_pb.js";
