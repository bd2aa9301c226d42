/**
 * The typed workflow builder, mirroring the documented one:
 *
 * ```ts
 * const definition = workflow("lead-enrichment")
 *   .step({ id: "scrape", type: "agent", agent: "web-researcher", task: "Scrape {{ input.website }}" })
 *   .condition({ id: "fit", dependsOn: ["scrape"], expression: "$.scrape.output.score >= 70",
 *                onTrue: { next: "crm" }, onFalse: { next: "archive" } })
 *   .build();
 * await weft.workflows.create(definition);
 * ```
 *
 * Steps are written exactly as the documents write them (camelCase, JSON
 * values). `build()` makes the `Workflow` message; the server validates it,
 * listing every problem at once, so the builder checks nothing itself.
 */
import { create, type JsonObject, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { StepSchema, type Step } from "./gen/weft/v1/step_pb.js";
import {
  FailureMode,
  WorkflowPolicySchema,
  WorkflowSchema,
  type Workflow,
  type WorkflowPolicy,
} from "./gen/weft/v1/workflow_pb.js";
import { toMoney, toValue, type MoneyInit } from "./json.js";

type StepInit = MessageInitShape<typeof StepSchema>;

/** The step types the engine knows. */
export type StepType =
  | "agent"
  | "parallel"
  | "condition"
  | "delay"
  | "approval"
  | "webhook"
  | "transform"
  | "map"
  | "planner"
  | "wait"
  | "http_request"
  | "script"
  | "loop";

/** One step, as the documents write it. Unset fields keep their defaults. */
export interface StepSpec
  extends Omit<StepInit, "$typeName" | "type" | "body" | "steps" | "step" | "config"> {
  id: string;
  /** Defaults to "agent". */
  type?: StepType;
  /** A webhook's request body. */
  body?: JsonValue;
  /** A parallel step's branches. */
  steps?: StepSpec[];
  /** A map step's per-item step. */
  step?: StepSpec;
  /** Free-form configuration of custom step types. */
  config?: JsonObject;
}

/**
 * The input of one kind's builder method (`.agent()`, `.map()`, …): a step
 * of that kind, its type implied, with the fields the kind cannot do
 * without made required so the compiler catches them before the server.
 */
export type KindSpec<Required extends keyof StepSpec> = Omit<StepSpec, "type"> & { [K in Required]-?: NonNullable<StepSpec[K]> };

/** An agent step: a task for the worker serving `agent`. */
export type AgentSpec = KindSpec<"agent" | "task">;
/** A planner step: an agent whose output `{steps: […]}` is spliced into the run. */
export type PlannerSpec = KindSpec<"agent" | "task">;
/** `.condition()` input: routes to `onTrue.next` or `onFalse.next`. */
export type ConditionSpec = KindSpec<"expression">;
/** `.transform()` input: pure JSONPath reshaping, no agent. */
export type TransformSpec = KindSpec<"output">;
/** Branches that run side by side, each addressable by its own id. */
export type ParallelSpec = KindSpec<"steps">;
/** One sub-step per item of the array at `over` (bound to `as`), at most `concurrency` at once. */
export type MapSpec = KindSpec<"over" | "step">;
/** A sub-step repeated `while`/`until` a condition, at most `maxIterations` times. */
export type LoopSpec = KindSpec<"step">;
/** A durable pause of `duration` seconds. */
export type DelaySpec = KindSpec<"duration">;
/** Pauses the run until a person decides (`weft.approvals`). */
export type ApprovalSpec = KindSpec<"action">;
/** Pauses the run until a resume carries `event`. */
export type WaitSpec = KindSpec<"event">;
/** An outbound call, optionally waiting for a signed callback. */
export type WebhookSpec = KindSpec<"url">;
/** An outbound HTTP request whose response is the step's output. */
export type HttpRequestSpec = KindSpec<"url">;
/** A script run by a worker (`language`, `script`). */
export type ScriptSpec = KindSpec<"script">;

/** Tool lists, approval gates and cost caps (minor units, e.g. cents). */
export interface PolicySpec {
  allowTools?: string[];
  denyTools?: string[];
  requireApprovalFor?: string[];
  maxCostPerStep?: MoneyInit;
  maxTotalCost?: MoneyInit;
}

/** What a failed step does to the run. */
export type OnFailure = "stop" | "continue" | "retry";

const FAILURE_MODES: Record<OnFailure, FailureMode> = {
  stop: FailureMode.STOP,
  continue: FailureMode.CONTINUE,
  retry: FailureMode.RETRY,
};

/** The `Step` message for a {@link StepSpec}. */
export function toStep(spec: StepSpec): Step {
  const { body, steps, step, config, type, ...rest } = spec;
  return create(StepSchema, {
    ...rest,
    type: type ?? "agent",
    ...(body !== undefined && { body: toValue(body) }),
    ...(steps !== undefined && { steps: steps.map(toStep) }),
    ...(step !== undefined && { step: toStep(step) }),
    ...(config !== undefined && { config }),
  });
}

/** The `WorkflowPolicy` message for a {@link PolicySpec}. */
export function toPolicy(spec: PolicySpec): WorkflowPolicy {
  return create(WorkflowPolicySchema, {
    allowTools: spec.allowTools ?? [],
    denyTools: spec.denyTools ?? [],
    requireApprovalFor: spec.requireApprovalFor ?? [],
    ...(spec.maxCostPerStep && { maxCostPerStep: toMoney(spec.maxCostPerStep) }),
    ...(spec.maxTotalCost && { maxTotalCost: toMoney(spec.maxTotalCost) }),
  });
}

/** A workflow definition under construction; see {@link workflow}. */
export class WorkflowBuilder {
  readonly #workflow: Workflow;

  constructor(name: string) {
    this.#workflow = create(WorkflowSchema, { name });
  }

  /** What the workflow is for. */
  description(text: string): this {
    this.#workflow.description = text;
    return this;
  }

  /** Tags, for filtering lists. */
  tags(...tags: string[]): this {
    this.#workflow.tags.push(...tags);
    return this;
  }

  /** JSON Schema every run input must satisfy (checked when a run starts). */
  inputSchema(schema: JsonObject): this {
    this.#workflow.inputSchema = schema;
    return this;
  }

  /** JSON Schema the run's output must satisfy before it completes. */
  outputSchema(schema: JsonObject): this {
    this.#workflow.outputSchema = schema;
    return this;
  }

  /** Tool lists, approval gates and cost caps for every step. */
  policy(policy: PolicySpec): this {
    this.#workflow.policy = toPolicy(policy);
    return this;
  }

  /** What a failed step does to the run (default "stop"). */
  onFailure(mode: OnFailure): this {
    this.#workflow.onFailure = FAILURE_MODES[mode];
    return this;
  }

  /** Retries of a failed step when onFailure is "retry". */
  retries(retries: number): this {
    this.#workflow.retries = retries;
    return this;
  }

  /** Longest a run may take, in seconds. */
  timeout(seconds: number): this {
    this.#workflow.timeout = seconds;
    return this;
  }

  /** Appends a step of any type. */
  step(step: StepSpec): this {
    this.#workflow.steps.push(toStep(step));
    return this;
  }

  /** Appends an agent step. */
  agent(step: AgentSpec): this {
    return this.step({ ...step, type: "agent" });
  }

  /** Appends a planner step. */
  planner(step: PlannerSpec): this {
    return this.step({ ...step, type: "planner" });
  }

  /** Appends a condition step. */
  condition(step: ConditionSpec): this {
    return this.step({ ...step, type: "condition" });
  }

  /** Appends a transform step (pure JSONPath reshaping, no agent). */
  transform(step: TransformSpec): this {
    return this.step({ ...step, type: "transform" });
  }

  /** Appends a parallel step. */
  parallel(step: ParallelSpec): this {
    return this.step({ ...step, type: "parallel" });
  }

  /** Appends a map step. */
  map(step: MapSpec): this {
    return this.step({ ...step, type: "map" });
  }

  /** Appends a loop step. */
  loop(step: LoopSpec): this {
    return this.step({ ...step, type: "loop" });
  }

  /** Appends a delay step. */
  delay(step: DelaySpec): this {
    return this.step({ ...step, type: "delay" });
  }

  /** Appends an approval step. */
  approval(step: ApprovalSpec): this {
    return this.step({ ...step, type: "approval" });
  }

  /** Appends a wait step. */
  wait(step: WaitSpec): this {
    return this.step({ ...step, type: "wait" });
  }

  /** Appends a webhook step. */
  webhook(step: WebhookSpec): this {
    return this.step({ ...step, type: "webhook" });
  }

  /** Appends an http_request step. */
  httpRequest(step: HttpRequestSpec): this {
    return this.step({ ...step, type: "http_request" });
  }

  /** Appends a script step. */
  script(step: ScriptSpec): this {
    return this.step({ ...step, type: "script" });
  }

  /** The `Workflow` message for `workflows.create` or `workflows.update`. */
  build(): Workflow {
    return this.#workflow;
  }
}

/** Starts a workflow definition named `name`. */
export function workflow(name: string): WorkflowBuilder {
  return new WorkflowBuilder(name);
}
