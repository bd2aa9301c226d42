/**
 * `weft.schedules`: cron schedules that start runs of a workflow. Each fire
 * starts a run with trigger "schedule"; `get` lists the next fire times so
 * an expression can be checked before it matters.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import {
  ScheduleCatchUp,
  ScheduleOverlapPolicy,
  type Schedule,
  type ScheduleService,
} from "./gen/weft/v1/schedule_service_pb.js";
import { typed } from "./errors.js";
import { toValue } from "./json.js";
import { required } from "./runs.js";

/** What happens when a schedule fires while its previous run is live. */
export type OverlapPolicy = "skip" | "allow" | "buffer_one";

const OVERLAP: Record<OverlapPolicy, ScheduleOverlapPolicy> = {
  skip: ScheduleOverlapPolicy.SKIP,
  allow: ScheduleOverlapPolicy.ALLOW,
  buffer_one: ScheduleOverlapPolicy.BUFFER_ONE,
};

/** What a schedule does about fire times missed while the server was down. */
export type CatchUp = "once" | "none";

const CATCH_UP: Record<CatchUp, ScheduleCatchUp> = {
  once: ScheduleCatchUp.ONCE,
  none: ScheduleCatchUp.NONE,
};

/** A schedule as written by users. */
export interface ScheduleSpec {
  /** Cron expression (`0 9 * * MON-FRI`). */
  cron?: string;
  /** IANA time zone of the expression (default UTC). */
  timezone?: string;
  /** The input of each run. */
  input?: JsonValue;
  enabled?: boolean;
  overlapPolicy?: OverlapPolicy;
  /** Missed fires after downtime: one run for the window ("once", default) or none. */
  catchUp?: CatchUp;
  /** Pin runs to this workflow version (default: the latest at each fire). */
  version?: number;
  userId?: string;
}

function toSchedule(spec: ScheduleSpec) {
  return {
    cronExpression: spec.cron ?? "",
    timezone: spec.timezone ?? "",
    ...(spec.input !== undefined && { inputData: toValue(spec.input) }),
    ...(spec.enabled !== undefined && { enabled: spec.enabled }),
    overlapPolicy: spec.overlapPolicy ? OVERLAP[spec.overlapPolicy] : ScheduleOverlapPolicy.UNSPECIFIED,
    catchUp: spec.catchUp ? CATCH_UP[spec.catchUp] : ScheduleCatchUp.UNSPECIFIED,
    version: spec.version ?? 0,
    userId: spec.userId ?? "",
  };
}

/** The Schedule field each spec key replaces. */
const UPDATE_PATHS: Record<keyof ScheduleSpec, string> = {
  cron: "cron_expression",
  timezone: "timezone",
  input: "input_data",
  enabled: "enabled",
  overlapPolicy: "overlap_policy",
  catchUp: "catch_up",
  version: "version",
  userId: "user_id",
};

export class Schedules {
  constructor(private readonly client: Client<typeof ScheduleService>) {}

  async create(workflowId: string, spec: ScheduleSpec): Promise<Schedule> {
    const response = await typed(this.client.createSchedule({ workflowId, schedule: toSchedule(spec) }));
    return required(response.schedule, "CreateSchedule");
  }

  async list(workflowId: string): Promise<Schedule[]> {
    return (await typed(this.client.listSchedules({ workflowId }))).schedules;
  }

  /** One schedule, with its next `nextFireCount` fire times (default 5, at most 100). */
  async get(scheduleId: string, nextFireCount = 0): Promise<Schedule> {
    return required((await typed(this.client.getSchedule({ scheduleId, nextFireCount }))).schedule, "GetSchedule");
  }

  /** Replaces the fields `spec` sets; the others keep their values. */
  async update(scheduleId: string, spec: ScheduleSpec): Promise<Schedule> {
    const paths = Object.entries(spec)
      .filter(([, value]) => value !== undefined)
      .map(([key]) => UPDATE_PATHS[key as keyof ScheduleSpec]);
    const schedule = { ...toSchedule(spec), id: scheduleId };
    const response = await typed(this.client.updateSchedule({ schedule, updateMask: { paths } }));
    return required(response.schedule, "UpdateSchedule");
  }

  async delete(scheduleId: string): Promise<void> {
    await typed(this.client.deleteSchedule({ scheduleId }));
  }

  async pause(scheduleId: string): Promise<Schedule> {
    return required((await typed(this.client.pauseSchedule({ scheduleId }))).schedule, "PauseSchedule");
  }

  async resume(scheduleId: string): Promise<Schedule> {
    return required((await typed(this.client.resumeSchedule({ scheduleId }))).schedule, "ResumeSchedule");
  }
}
