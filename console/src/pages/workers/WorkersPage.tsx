/**
 * /workers: who serves which agent, and which agents have tasks nobody
 * claims (the usual answer to "why is my run not moving?"). Those agents
 * are listed first, their rows marked "no worker" in words as well as by
 * the highlight. Polled every 3 s while the tab is visible.
 */
import { useState } from "react";
import { useWeft } from "../../api/weft";
import { useLoad } from "../../api/useLoad";
import { ErrorNote } from "../../ui/ErrorNote";
import { when } from "../../ui/format";
import { ago, LIVE_WITHIN_MS, orderQueues, unserved } from "./queues";
import "./workers.css";

const POLL_MS = 3000;

export default function WorkersPage() {
  const weft = useWeft();
  const [agent, setAgent] = useState("");
  const list = useLoad(() => weft.workers.list({ agent: agent.trim(), pageSize: 200 }), [weft, agent], { pollMs: POLL_MS });
  const now = Date.now();
  const queues = orderQueues(list.data?.agentQueues ?? []);
  const workers = list.data?.workers ?? [];
  const stuck = queues.filter(unserved).length;
  return (
    <>
      <h1>Workers &amp; queues</h1>
      <form className="toolbar" role="search" aria-label="Filter by agent" onSubmit={(e) => e.preventDefault()}>
        <label>
          Agent
          <input type="search" value={agent} maxLength={200} placeholder="all agents" onChange={(e) => setAgent(e.target.value)} />
        </label>
      </form>
      <ErrorNote error={list.error} title="Cannot list workers" />
      {list.data === undefined && list.loading && <p aria-busy="true">Loading workers and queues…</p>}
      {list.data && (
        <>
          <h2 id="queues-title">Queued tasks by agent</h2>
          <p className="muted" aria-live="polite">
            {stuck > 0 ? `${stuck} agent${stuck === 1 ? " has" : "s have"} tasks waiting and no worker serving them.` : "Every agent with queued tasks is served."}
          </p>
          {queues.length === 0 ? (
            <p>No task is waiting for a worker.</p>
          ) : (
            <table aria-labelledby="queues-title" className="queues-table">
              <thead>
                <tr>
                  <th scope="col">Agent</th>
                  <th scope="col">Queued</th>
                  <th scope="col">Live workers</th>
                  <th scope="col">Served</th>
                  <th scope="col">Oldest queued</th>
                </tr>
              </thead>
              <tbody>
                {queues.map((queue) => {
                  const alone = unserved(queue);
                  return (
                    <tr key={queue.agent} className={alone ? "highlight" : undefined} data-agent={queue.agent}>
                      <th scope="row">
                        <code>{queue.agent}</code>
                        {alone && (
                          <span className="no-worker">
                            <span aria-hidden="true">⚠ </span>no worker
                          </span>
                        )}
                      </th>
                      <td>{queue.queued}</td>
                      <td>{queue.liveWorkers}</td>
                      <td>{queue.served ? "yes" : "no"}</td>
                      <td title={when(queue.oldestQueuedAt)}>{ago(queue.oldestQueuedAt, now)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
          <h2 id="workers-title">Workers</h2>
          {workers.length === 0 ? (
            <p>No worker is registered{agent.trim() ? ` for agent ${agent.trim()}` : ""}.</p>
          ) : (
            <table aria-labelledby="workers-title" className="workers-table">
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">Agents</th>
                  <th scope="col">Concurrency</th>
                  <th scope="col">In flight</th>
                  <th scope="col">Last seen</th>
                  <th scope="col">Live</th>
                </tr>
              </thead>
              <tbody>
                {workers.map((worker) => {
                  const live = worker.lastPollAt !== null && now - worker.lastPollAt.getTime() < LIVE_WITHIN_MS;
                  return (
                    <tr key={worker.id} data-worker-id={worker.id}>
                      <th scope="row">
                        {worker.name || worker.id}
                        <div className="muted">
                          <code>{worker.id}</code>
                        </div>
                      </th>
                      <td>
                        <ul className="agent-list">
                          {worker.agents.map((a) => (
                            <li key={a}>
                              <code>{a}</code>
                            </li>
                          ))}
                        </ul>
                      </td>
                      <td>{worker.concurrency}</td>
                      <td>{worker.inFlight}</td>
                      <td title={when(worker.lastPollAt)}>{ago(worker.lastPollAt, now)}</td>
                      <td>
                        <span className={`status status-${live ? "ok" : "idle"}`}>
                          <span aria-hidden="true">{live ? "●" : "○"}</span> {live ? "live" : "quiet"}
                        </span>
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
          {list.data.nextPageToken && <p className="muted">Showing the first 200 workers; filter by agent to see others.</p>}
        </>
      )}
    </>
  );
}
