/**
 * The schedules of one workflow: cron, time zone, paused or not, the next
 * fire times (GetSchedule, since list answers leave them out), with pause,
 * resume and a two-step delete.
 */
import { useState } from "react";
import type { Schedule } from "weftflow";
import { fromValue } from "weftflow";
import { useWeft } from "../../api/weft";
import { useAction } from "../../api/useAction";
import type { Loaded } from "../../api/useLoad";
import { ErrorNote } from "../../ui/ErrorNote";
import { StatusBadge } from "../../ui/Status";
import { pretty, when } from "../../ui/format";
import { pbDate } from "../../api/pb";
import { notAvailable } from "./unavailable";

export function ScheduleList({ schedules }: { schedules: Loaded<Schedule[]> }) {
  if (notAvailable(schedules.error)) return <p className="notice">Schedules are not available on this server.</p>;
  if (schedules.error) return <ErrorNote error={schedules.error} title="Cannot list schedules" />;
  if (schedules.data === undefined) return <p aria-busy="true">Loading schedules…</p>;
  if (schedules.data.length === 0) return <p>This workflow has no schedule.</p>;
  return (
    <ul className="schedule-list">
      {schedules.data.map((schedule) => (
        <ScheduleItem key={schedule.id} schedule={schedule} changed={schedules.reload} />
      ))}
    </ul>
  );
}

function ScheduleItem({ schedule, changed }: { schedule: Schedule; changed(): void }) {
  const weft = useWeft();
  const [confirming, setConfirming] = useState(false);
  const act = useAction(async (what: "pause" | "resume" | "delete") => {
    if (what === "delete") await weft.schedules.delete(schedule.id);
    else await weft.schedules[what](schedule.id);
    changed();
  });
  const paused = schedule.enabled === false;
  const input = fromValue(schedule.inputData);
  const label = `Schedule ${schedule.cronExpression} (${schedule.timezone || "UTC"})`;
  return (
    <li className="panel schedule" aria-label={label} data-schedule-id={schedule.id}>
      <div className="schedule-head">
        <code className="cron">{schedule.cronExpression}</code>
        <span className="muted">{schedule.timezone || "UTC"}</span>
        <StatusBadge status={paused ? "paused" : "active"} label={paused ? "paused" : "active"} />
      </div>
      <dl className="facts">
        <dt>Next fires</dt>
        <dd>
          {paused || schedule.nextFireTimes.length === 0 ? (
            paused ? "none while paused" : when(pbDate(schedule.nextRunTime))
          ) : (
            <ol className="fire-times">
              {schedule.nextFireTimes.map((t, i) => (
                <li key={i}>{when(pbDate(t))}</li>
              ))}
            </ol>
          )}
        </dd>
        <dt>Last fired</dt>
        <dd>{when(pbDate(schedule.lastRunTime))}</dd>
        {input !== null && (
          <>
            <dt>Input</dt>
            <dd>
              <pre>{pretty(input)}</pre>
            </dd>
          </>
        )}
        <dt>Id</dt>
        <dd>
          <code>{schedule.id}</code>
        </dd>
      </dl>
      <div className="row">
        {paused ? (
          <button type="button" onClick={() => act.run("resume")} disabled={act.pending} aria-label={`Resume ${label}`}>
            Resume
          </button>
        ) : (
          <button type="button" onClick={() => act.run("pause")} disabled={act.pending} aria-label={`Pause ${label}`}>
            Pause
          </button>
        )}
        {confirming ? (
          <>
            <button type="button" className="danger" onClick={() => act.run("delete")} disabled={act.pending}>
              Confirm delete
            </button>
            <button type="button" onClick={() => setConfirming(false)}>
              Keep it
            </button>
          </>
        ) : (
          <button type="button" className="danger" onClick={() => setConfirming(true)} aria-label={`Delete ${label}`}>
            Delete
          </button>
        )}
      </div>
      <ErrorNote error={act.error} title="The schedule was not changed" />
    </li>
  );
}
