/**
 * /approvals: the approvals people have to decide (pending first, by
 * default), filterable by status through the address (`?status=`), each
 * with its workflow and run and an inline approve/deny form. The list
 * polls, so approvals opened by running workflows appear by themselves,
 * and pages by token with "More" (a poll refreshes every page shown, since
 * an older approval can still be decided or expire).
 */
import { useState } from "react";
import { useLocation, useSearch } from "wouter";
import type { Approval, ApprovalStatus, Weft } from "weftflow";
import { useLoad } from "../../api/useLoad";
import { useWeft } from "../../api/weft";
import { ErrorNote } from "../../ui/ErrorNote";
import { firstPages } from "../../api/firstPages";
import { ApprovalCard } from "./ApprovalCard";
import { useWorkflowNames } from "./useWorkflowNames";
import "./approvals.css";

/** Approvals per page (the server allows 200 at most). */
const PAGE_SIZE = 50;

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

/** The first `pages` pages of approvals with `filter` (see `firstPages`). */
function loadApprovals(weft: Weft, filter: ApprovalStatus | "all", pages: number) {
  return firstPages(pages, async (pageToken) => {
    const page = await weft.approvals.listPage({ ...(filter === "all" ? {} : { status: filter }), pageSize: PAGE_SIZE, pageToken });
    return { items: page.approvals, nextPageToken: page.nextPageToken, total: page.total };
  });
}

export default function ApprovalsPage() {
  const weft = useWeft();
  const search = useSearch();
  const [, navigate] = useLocation();
  const filter = readFilter(search);
  const [decided, setDecided] = useState("");
  const [pages, setPages] = useState(1);
  const approvals = useLoad(() => loadApprovals(weft, filter, pages), [filter, pages], { pollMs: 3000 });
  const names = useWorkflowNames((approvals.data?.items ?? []).map((a) => a.workflowId));

  const onDecided = (approval: Approval) => {
    const verb = approval.status === "approved" ? "Approved" : approval.status === "escalated" ? "Escalated" : "Denied";
    setDecided(`${verb} ${approval.action || approval.tool || approval.stepId} on run ${approval.runId}.`);
    approvals.reload();
  };

  const list = approvals.data?.items;
  return (
    <>
      <h1>Approvals</h1>
      <div className="toolbar">
        <label>
          Status
          <select
            value={filter}
            onChange={(e) => {
              setPages(1);
              navigate(e.target.value === "pending" ? "/approvals" : `/approvals?status=${e.target.value}`);
            }}
          >
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
          <p className="muted" aria-live="polite">
            {approvals.data?.total} approval{approvals.data?.total === 1 ? "" : "s"} match; showing {list.length}, newest first.
          </p>
          <ul className="approval-list" aria-label={`${FILTERS.find(([key]) => key === filter)?.[1] ?? ""} approvals`}>
          {list.map((approval) => (
            <li key={approval.id}>
              <ApprovalCard approval={approval} workflowName={names.get(approval.workflowId)} onDecided={onDecided} />
            </li>
          ))}
          </ul>
          {approvals.data?.more && (
            <div className="row">
              <button type="button" onClick={() => setPages((n) => n + 1)} disabled={approvals.loading}>
                More
              </button>
            </div>
          )}
        </>
      )}
    </>
  );
}
