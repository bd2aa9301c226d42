/**
 * /approvals: the approvals people have to decide (pending first, by
 * default), filterable by status through the address (`?status=`), each
 * with its workflow and run and an inline approve/deny form. The list
 * polls, so approvals opened by running workflows appear by themselves.
 */
import { useState } from "react";
import { useLocation, useSearch } from "wouter";
import type { Approval, ApprovalStatus } from "weftflow";
import { useLoad } from "../../api/useLoad";
import { useWeft } from "../../api/weft";
import { ErrorNote } from "../../ui/ErrorNote";
import { ApprovalCard } from "./ApprovalCard";
import { useWorkflowNames } from "./useWorkflowNames";
import "./approvals.css";

/** ListApprovals answers this many (newest first) when no page size is asked. */
const SERVER_PAGE = 50;

const FILTERS: [ApprovalStatus | "all", string][] = [
  ["pending", "Pending"],
  ["approved", "Approved"],
  ["denied", "Denied"],
  ["expired", "Expired"],
  ["escalated", "Escalated"],
  ["all", "All"],
];

function readFilter(search: string): ApprovalStatus | "all" {
  const value = new URLSearchParams(search).get("status");
  return FILTERS.some(([key]) => key === value) ? (value as ApprovalStatus | "all") : "pending";
}

export default function ApprovalsPage() {
  const weft = useWeft();
  const search = useSearch();
  const [, navigate] = useLocation();
  const filter = readFilter(search);
  const [decided, setDecided] = useState("");
  const approvals = useLoad(() => weft.approvals.list(filter === "all" ? {} : { status: filter }), [filter], { pollMs: 3000 });
  const names = useWorkflowNames((approvals.data ?? []).map((a) => a.workflowId));

  const onDecided = (approval: Approval) => {
    const verb = approval.status === "approved" ? "Approved" : approval.status === "escalated" ? "Escalated" : "Denied";
    setDecided(`${verb} ${approval.action || approval.tool || approval.stepId} on run ${approval.runId}.`);
    approvals.reload();
  };

  const list = approvals.data;
  return (
    <>
      <h1>Approvals</h1>
      <div className="toolbar">
        <label>
          Status
          <select value={filter} onChange={(e) => navigate(e.target.value === "pending" ? "/approvals" : `/approvals?status=${e.target.value}`)}>
            {FILTERS.map(([key, label]) => (
              <option key={key} value={key}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p role="status" className="approvals-decided">
        {decided}
      </p>
      <ErrorNote error={approvals.error} title="Could not load approvals" />
      {list === undefined ? (
        approvals.loading && <p aria-busy="true">Loading approvals…</p>
      ) : list.length === 0 ? (
        <p className="muted">{filter === "pending" ? "Nothing waits for a decision." : "No approvals with this status."}</p>
      ) : (
        <>
          {list.length >= SERVER_PAGE && (
            <p className="muted">Showing the {SERVER_PAGE} newest; choose a status to narrow the list.</p>
          )}
          <ul className="approval-list" aria-label={`${FILTERS.find(([key]) => key === filter)?.[1] ?? ""} approvals`}>
          {list.map((approval) => (
            <li key={approval.id}>
              <ApprovalCard approval={approval} workflowName={names.get(approval.workflowId)} onDecided={onDecided} />
            </li>
          ))}
          </ul>
        </>
      )}
    </>
  );
}
