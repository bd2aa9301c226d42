/**
 * The console's shell: the connection, the navigation and the routes, all
 * under /ui/ (the server answers every /ui/ path with this page). Pages are
 * loaded on demand, so the first load carries neither the editor nor the
 * pages not visited. Navigation asks first when a page has unsaved work
 * (leaveGuard.ts).
 */
import { lazy, Suspense, useState } from "react";
import { Link, Redirect, Route, Router, Switch, useLocation } from "wouter";
import { WeftProvider, useConnection } from "../api/weft";
import { KeyPrompt } from "./KeyPrompt";
import { useGuardedLocation } from "./leaveGuard";

const WorkflowsPage = lazy(() => import("../pages/workflows/WorkflowsPage"));
const WorkflowPage = lazy(() => import("../pages/workflows/WorkflowPage"));
const EditorPage = lazy(() => import("../pages/editor/EditorPage"));
const StartRunPage = lazy(() => import("../pages/start/StartRunPage"));
const RunsPage = lazy(() => import("../pages/runs/RunsPage"));
const RunPage = lazy(() => import("../pages/run/RunPage"));
const ApprovalsPage = lazy(() => import("../pages/approvals/ApprovalsPage"));
const WorkersPage = lazy(() => import("../pages/workers/WorkersPage"));
const SchedulesPage = lazy(() => import("../pages/schedules/SchedulesPage"));
const TemplatesPage = lazy(() => import("../pages/templates/TemplatesPage"));

const NAV: [string, string][] = [
  ["/workflows", "Workflows"],
  ["/runs", "Runs"],
  ["/approvals", "Approvals"],
  ["/workers", "Workers & queues"],
  ["/schedules", "Schedules & triggers"],
  ["/templates", "Templates"],
];

function Shell() {
  const { needsKey, hasKey } = useConnection();
  const [asking, setAsking] = useState(false);
  const [location] = useLocation();
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/workflows" className="brand">
          Weft
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map(([href, label]) => (
              <li key={href}>
                <Link href={href} aria-current={location.startsWith(href) ? "page" : undefined}>
                  {label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" className="key-button" onClick={() => setAsking(true)}>
          {hasKey ? "API key ✓" : "API key"}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p aria-busy="true">Loading…</p>}>
          <Switch>
            <Route path="/">
              <Redirect to="/workflows" replace />
            </Route>
            <Route path="/workflows" component={WorkflowsPage} />
            <Route path="/workflows/new" component={EditorPage} />
            <Route path="/workflows/:id/edit" component={EditorPage} />
            <Route path="/workflows/:id/run" component={StartRunPage} />
            <Route path="/workflows/:id" component={WorkflowPage} />
            <Route path="/runs" component={RunsPage} />
            <Route path="/runs/:id" component={RunPage} />
            <Route path="/approvals" component={ApprovalsPage} />
            <Route path="/workers" component={WorkersPage} />
            <Route path="/schedules" component={SchedulesPage} />
            <Route path="/templates" component={TemplatesPage} />
            <Route>
              <h1>Not found</h1>
              <p>
                No page at this address. <Link href="/workflows">Go to workflows</Link>.
              </p>
            </Route>
          </Switch>
        </Suspense>
      </main>
      {(needsKey || asking) && <KeyPrompt onClose={() => setAsking(false)} />}
    </div>
  );
}

export function App() {
  return (
    <WeftProvider>
      <Router base="/ui" hook={useGuardedLocation}>
        <Shell />
      </Router>
    </WeftProvider>
  );
}
