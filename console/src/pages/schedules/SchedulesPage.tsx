/**
 * /schedules: pick a workflow (kept in the URL as `?workflow=`), then see
 * and manage its cron schedules and its webhook trigger.
 */
import { useMemo } from "react";
import { useLocation, useSearch } from "wouter";
import { useWeft } from "../../api/weft";
import { useLoad } from "../../api/useLoad";
import { ErrorNote } from "../../ui/ErrorNote";
import { ScheduleList } from "./ScheduleList";
import { ScheduleForm } from "./ScheduleForm";
import { TriggerPanel } from "./TriggerPanel";
import { notAvailable } from "./unavailable";
import "./schedules.css";

/** How many next fire times each schedule shows. */
const NEXT_FIRES = 3;

export default function SchedulesPage() {
  const weft = useWeft();
  const search = useSearch();
  const [, navigate] = useLocation();
  const chosen = useMemo(() => new URLSearchParams(search).get("workflow") ?? "", [search]);
  const workflows = useLoad(() => weft.workflows.list({ limit: 200 }), [weft]);
  const workflow = workflows.data?.find((w) => w.id === chosen || w.name === chosen);
  const workflowId = workflow?.id ?? chosen;
  const schedules = useLoad(
    async () => {
      if (!workflowId) return [];
      const listed = await weft.schedules.list(workflowId);
      // List answers carry no fire times; ask each schedule for its next ones.
      return Promise.all(listed.map((s) => weft.schedules.get(s.id, NEXT_FIRES)));
    },
    [weft, workflowId],
  );
  return (
    <>
      <h1>Schedules &amp; triggers</h1>
      <ErrorNote error={workflows.error} title="Cannot list workflows" />
      <div className="toolbar">
        <label>
          Workflow
          <select value={workflowId} onChange={(e) => navigate(e.target.value ? `/schedules?workflow=${encodeURIComponent(e.target.value)}` : "/schedules", { replace: true })}>
            <option value="">{workflows.loading && !workflows.data ? "Loading workflows…" : "Choose a workflow…"}</option>
            {chosen && !workflow && workflows.data && <option value={chosen}>{chosen}</option>}
            {(workflows.data ?? []).map((w) => (
              <option key={w.id} value={w.id}>
                {w.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {workflows.data && workflows.data.length === 0 && <p>No workflow yet: create one first.</p>}
      {workflowId ? (
        <div className="grid-2">
          <section aria-labelledby="schedules-title">
            <h2 id="schedules-title">Schedules</h2>
            <ScheduleList schedules={schedules} />
            {!notAvailable(schedules.error) && <ScheduleForm workflowId={workflowId} created={schedules.reload} />}
          </section>
          <section aria-labelledby="trigger-title">
            <h2 id="trigger-title">Webhook trigger</h2>
            <TriggerPanel key={workflowId} workflowId={workflowId} />
          </section>
        </div>
      ) : (
        <p className="muted">Choose a workflow to see its schedules and trigger.</p>
      )}
    </>
  );
}
