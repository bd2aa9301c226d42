/**
 * `weft.schedules`: cron schedules of workflows. The server does not build
 * ScheduleService yet, so every method rejects with `UnimplementedError`;
 * the surface is here so code written against it keeps compiling when it
 * arrives.
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { ScheduleOverlapPolicy, type Schedule, type ScheduleService } from "./gen/weft/v1/schedule_service_pb.js";
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
  userId?: string;
}

function toSchedule(spec: ScheduleSpec) {
  return {
    cronExpression: spec.cron ?? "",
    timezone: spec.timezone ?? "",
    ...(spec.input !== undefined && { inputData: toValue(spec.input) }),
    ...(spec.enabled !== undefined && { enabled: spec.enabled }),
    overlapPolicy: spec.overlapPolicy ? OVERLAP[spec.overlapPolicy] : ScheduleOverlapPolicy.UNSPECIFIED,
    userId: spec.userId ?? "",
  };
}

export class Schedules {
  constructor(private readonly client: Client<typeof ScheduleService>) {}

  async create(workflowId: string, spec: ScheduleSpec): Promise<Schedule> {
    const response = await typed(this.client.createSchedule({ workflowId, schedule: toSchedule(spec) }));
    return required(response.schedule, "CreateSchedule");
  }

  async list(workflowId: string): Promise<Schedule[]> {
    return (await typed(this.client.listSchedules({ workflowId }))).schedules;
  }

  async get(scheduleId: string): Promise<Schedule> {
    return required((await typed(this.client.getSchedule({ scheduleId }))).schedule, "GetSchedule");
  }

  async update(scheduleId: string, spec: ScheduleSpec): Promise<Schedule> {
    const response = await typed(this.client.updateSchedule({ schedule: { ...toSchedule(spec), id: scheduleId } }));
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
