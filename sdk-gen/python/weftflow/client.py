"""``Weft``: the synchronous client.

One gRPC channel, shared by a stub per service, behind the documented
surface: ``client.workflows`` (definitions and, as the documents write
them, runs), ``client.runs``, ``client.approvals``, ``client.schedules``,
``client.templates`` and ``client.triggers``. Every failure raises a typed :class:`~weftflow.WeftError`.

    client = Weft(base_url="http://127.0.0.1:7070")
    wf = client.workflows.apply(workflow("w").add(agent("a", agent="x", task="t")))
    run = wf.run(user_id="u1", input={"website": "https://acme.com"})
    for event in client.workflows.stream_run(run.id):
        print(event.type, event.step_id)
    print(client.runs.get(run.id))   # Run(id='wfrun_…', status='completed', output={...})

Results are the native objects of :mod:`weftflow.models`, each with its
message at ``.raw``.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, List, Mapping, Optional, Sequence, Tuple, TypeVar

import grpc

from weftflow import _requests as req
from weftflow._channel import call_metadata, sync_channel
from weftflow._json import JSON
from weftflow._paging import every_item
from weftflow._tracing import trace_metadata
from weftflow.errors import error_from_rpc
from weftflow.models import Approval, ApprovalPage, ApplyOutcome, Run, RunEvent, RunPage, WorkflowPage, WorkflowView, apply_outcome
from weftflow.v1 import (
    approval_service_pb2 as approvals_pb,
    approval_service_pb2_grpc,
    run_pb2,
    run_service_pb2 as runs_pb,
    run_service_pb2_grpc,
    schedule_service_pb2 as schedules_pb,
    schedule_service_pb2_grpc,
    template_service_pb2 as templates_pb,
    template_service_pb2_grpc,
    trigger_service_pb2 as triggers_pb,
    trigger_service_pb2_grpc,
    worker_service_pb2_grpc,
    workflow_pb2,
    workflow_service_pb2 as workflows_pb,
    workflow_service_pb2_grpc,
)

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")

#: Reconnections of a stream tried in a row before its error is raised.
MAX_RECONNECTS = 5


class WorkflowHandle(WorkflowView):
    """A workflow from the server (see :class:`~weftflow.models.WorkflowView`
    for what it exposes), with :meth:`run` and :meth:`execute` bound to it."""

    def __init__(self, client: Weft, message: workflow_pb2.Workflow, outcome: Optional[ApplyOutcome] = None) -> None:
        super().__init__(message, outcome)
        self._client = client

    def run(
        self,
        *,
        user_id: str = "",
        input: JSON = None,
        idempotency_key: str = "",
        version: int = 0,
        shared_state: Optional[Mapping[str, Any]] = None,
        trigger: str = "",
    ) -> Run:
        """Starts a run of this workflow (latest version unless ``version``)."""
        return self._client.runs.start(
            self.id,
            user_id=user_id,
            input=input,
            idempotency_key=idempotency_key,
            version=version,
            shared_state=shared_state,
            trigger=trigger,
        )

    def execute(
        self,
        *,
        input: JSON = None,
        user_id: str = "",
        idempotency_key: str = "",
        version: int = 0,
        timeout: float = 120,
    ) -> Run:
        """Runs this workflow and waits for it to end (see :meth:`Runs.execute`)."""
        return self._client.runs.execute(
            self.id, input=input, user_id=user_id, idempotency_key=idempotency_key, version=version, timeout=timeout
        )


class Runs:
    """Runs: start, read, list, cancel, retry, resume, delete, events, stream."""

    def __init__(self, client: Weft) -> None:
        self._client = client
        self._stub = run_service_pb2_grpc.RunServiceStub(client.channel)

    def start(
        self,
        workflow_id: str,
        *,
        user_id: str = "",
        input: JSON = None,
        idempotency_key: str = "",
        version: int = 0,
        shared_state: Optional[Mapping[str, Any]] = None,
        trigger: str = "",
    ) -> Run:
        """Starts a run; returns at once (the run goes on)."""
        request = req.start_run(workflow_id, user_id, input, idempotency_key, version, shared_state, trigger)
        return Run.from_pb(self._client._call(self._stub.StartRun, request, starts_run=True).run)

    def execute(
        self,
        workflow: str,
        *,
        input: JSON = None,
        user_id: str = "",
        idempotency_key: str = "",
        version: int = 0,
        timeout: float = 120,
    ) -> Run:
        """Starts a run of ``workflow`` (an id or a name) and waits, up to
        ``timeout`` seconds (1 to 900), for it to end; returns the run in its
        terminal status. A run still going then raises
        ``DeadlineExceededError`` naming the steps it waits on (the run goes
        on; follow it by id)."""
        request = req.execute(workflow, input, user_id, idempotency_key, version, timeout)
        # The call itself may take the whole wait, plus the answer's way back.
        return Run.from_pb(self._client._call(self._stub.ExecuteWorkflow, request, timeout=timeout + 15, starts_run=True).run)

    def get(self, run_id: str) -> Run:
        """Current status, per-step results and cost of a run."""
        return Run.from_pb(self._client._call(self._stub.GetRun, runs_pb.GetRunRequest(run_id=run_id)).run)

    def list(
        self,
        workflow_id: str,
        *,
        status: Optional[str] = None,
        user_id: str = "",
        limit: int = 0,
        offset: int = 0,
        trigger: str = "",
        schedule_id: str = "",
    ) -> List[Run]:
        """Runs of a workflow, newest first (``status="completed"``,
        ``trigger="schedule"`` or ``schedule_id=...`` filter)."""
        request = req.list_runs(workflow_id, status, user_id, limit, offset, trigger, schedule_id)
        return [Run.from_pb(m) for m in self._client._call(self._stub.ListRuns, request).runs]

    def list_page(
        self,
        workflow_id: str = "",
        *,
        status: Optional[str] = None,
        user_id: str = "",
        trigger: str = "",
        schedule_id: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> RunPage:
        """One page of runs, newest first: of one workflow, or of the whole
        tenant when ``workflow_id`` is empty. ``page_size`` defaults to 50
        (at most 200); a token is tied to its filters."""
        request = req.list_runs_page(workflow_id, status, user_id, trigger, schedule_id, page_size, page_token)
        response = self._client._call(self._stub.ListRuns, request)
        return RunPage([Run.from_pb(m) for m in response.runs], response.next_page_token, response.total)

    def list_all(
        self,
        workflow_id: str = "",
        *,
        status: Optional[str] = None,
        user_id: str = "",
        trigger: str = "",
        schedule_id: str = "",
        page_size: int = 0,
    ) -> Iterator[Run]:
        """Every run matching the filters, newest first, fetched a page at a
        time as the loop asks."""

        def fetch(token: str) -> Tuple[List[Run], str]:
            page = self.list_page(
                workflow_id, status=status, user_id=user_id, trigger=trigger, schedule_id=schedule_id,
                page_size=page_size, page_token=token,
            )
            return page.runs, page.next_page_token

        return every_item(fetch)

    def cancel(self, run_id: str, reason: str = "") -> Run:
        """Cancels a live run (a finished one: ``FailedPreconditionError``)."""
        return Run.from_pb(self._client._call(self._stub.CancelRun, runs_pb.CancelRunRequest(run_id=run_id, reason=reason)).run)

    def retry_from(self, run_id: str, step_id: str) -> Run:
        """A new run reusing every completed output upstream of ``step_id``."""
        request = runs_pb.RetryRunFromRequest(run_id=run_id, step_id=step_id)
        return Run.from_pb(self._client._call(self._stub.RetryRunFrom, request, starts_run=True).run)

    def resume(
        self,
        run_id: str,
        *,
        event: Optional[str] = None,
        payload: JSON = None,
        step: Optional[str] = None,
        input: JSON = None,
        from_step: str = "",
        settle_wait_ms: int = 0,
    ) -> Run:
        """Delivers a wait step's ``event``, decides a paused ``step``, or
        with neither continues a paused run (or restarts a failed one from
        its last checkpoint, or from ``from_step``)."""
        request = req.resume_run(run_id, event, payload, step, input, from_step, settle_wait_ms)
        return Run.from_pb(self._client._call(self._stub.ResumeRun, request).run)

    def pause(self, run_id: str, *, reason: str = "") -> Run:
        """Holds a running run at its next safe point (PAUSED, pending action
        "manual"); :meth:`resume` with neither event nor step continues it."""
        return Run.from_pb(self._client._call(self._stub.PauseRun, runs_pb.PauseRunRequest(run_id=run_id, reason=reason)).run)

    def delete(self, run_id: str) -> None:
        """Deletes a finished run."""
        self._client._call(self._stub.DeleteRun, runs_pb.DeleteRunRequest(run_id=run_id))

    def events(self, run_id: str, after_sequence: int = 0) -> List[RunEvent]:
        """The events recorded so far (one page), oldest first."""
        request = runs_pb.ListRunEventsRequest(run_id=run_id, after_sequence=after_sequence)
        return [RunEvent.from_pb(m) for m in self._client._call(self._stub.ListRunEvents, request).events]

    def estimate(self, workflow_id: str, *, input: JSON = None, version: int = 0) -> runs_pb.EstimateRunResponse:
        """Dry-pass cost estimate for a sample input; no agent runs."""
        return self._client._call(self._stub.EstimateRun, req.estimate(workflow_id, input, version))

    def stream(self, run_id: str, *, after_sequence: int = 0) -> Iterator[RunEvent]:
        """The run's events after ``after_sequence``, then live ones, ending
        after its terminal event. A dropped connection is resumed from the
        last event received (no gap, no duplicate); a refusal (unknown run,
        ...) raises the typed error."""
        after = after_sequence
        reconnects = 0
        while True:
            request = runs_pb.StreamRunEventsRequest(run_id=run_id, after_sequence=after)
            try:
                for message in self._stub.StreamRunEvents(request, metadata=self._client._metadata):
                    reconnects = 0
                    if message.HasField("event"):
                        after = max(after, message.event.sequence)
                        yield RunEvent.from_pb(message.event)
                return
            except grpc.RpcError as error:
                code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
                transient = code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN)
                if not transient or reconnects >= MAX_RECONNECTS:
                    raise error_from_rpc(error) from None
                reconnects += 1
                time.sleep(0.05 * (2**reconnects))


class Workflows:
    """Definitions and versions, plus the documented run methods."""

    def __init__(self, client: Weft) -> None:
        self._client = client
        self._stub = workflow_service_pb2_grpc.WorkflowServiceStub(client.channel)

    def _bind(self, message: workflow_pb2.Workflow) -> WorkflowHandle:
        return WorkflowHandle(self._client, message)

    def create(self, definition: req.Definition) -> WorkflowHandle:
        """Creates a workflow definition; returns it at version 1."""
        request = workflows_pb.CreateWorkflowRequest(workflow=req.to_workflow(definition))
        return self._bind(self._client._call(self._stub.CreateWorkflow, request).workflow)

    def apply(self, definition: req.Definition, *, change_summary: str = "") -> WorkflowHandle:
        """Creates the workflow named in ``definition``, or updates it when
        the definition differs from its latest version; nothing is written
        when it is the same. ``.outcome`` says which (created, updated,
        unchanged) and ``.version`` is the version now current."""
        request = req.apply_workflow(definition, change_summary)
        response = self._client._call(self._stub.ApplyWorkflow, request)
        return WorkflowHandle(self._client, response.workflow, apply_outcome(response.outcome))

    def list(
        self, *, status: Optional[str] = None, tag: str = "", limit: int = 0, offset: int = 0
    ) -> List[WorkflowHandle]:
        """Workflow definitions, newest first."""
        response = self._client._call(self._stub.ListWorkflows, req.list_workflows(status, tag, limit, offset))
        return [self._bind(w) for w in response.workflows]

    def list_page(
        self,
        *,
        status: Optional[str] = None,
        tag: str = "",
        trigger_type: str = "",
        sort: str = "",
        order: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> WorkflowPage[WorkflowHandle]:
        """One page of workflows: ``sort`` is "createdAt" (default),
        "updatedAt" or "name", ``order`` "desc" (default) or "asc"; a token
        is tied to its filters and order."""
        request = req.list_workflows_page(status, tag, trigger_type, sort, order, page_size, page_token)
        response = self._client._call(self._stub.ListWorkflows, request)
        return WorkflowPage([self._bind(w) for w in response.workflows], response.next_page_token, response.total)

    def list_all(
        self,
        *,
        status: Optional[str] = None,
        tag: str = "",
        trigger_type: str = "",
        sort: str = "",
        order: str = "",
        page_size: int = 0,
    ) -> Iterator[WorkflowHandle]:
        """Every workflow matching the filters, a page at a time as the loop asks."""

        def fetch(token: str) -> Tuple[List[WorkflowHandle], str]:
            page = self.list_page(
                status=status, tag=tag, trigger_type=trigger_type, sort=sort, order=order,
                page_size=page_size, page_token=token,
            )
            return page.workflows, page.next_page_token

        return every_item(fetch)

    def get(self, workflow_id: str) -> WorkflowHandle:
        """One workflow definition (its latest version)."""
        request = workflows_pb.GetWorkflowRequest(id=workflow_id)
        return self._bind(self._client._call(self._stub.GetWorkflow, request).workflow)

    def update(
        self,
        workflow_id: str,
        changes: req.Definition,
        *,
        update_mask: Optional[Sequence[str]] = None,
        expected_version: int = 0,
    ) -> WorkflowHandle:
        """Replaces fields (every field set, or those in ``update_mask``); the version goes up."""
        request = req.update_workflow(workflow_id, changes, update_mask, expected_version)
        return self._bind(self._client._call(self._stub.UpdateWorkflow, request).workflow)

    def delete(self, workflow_id: str) -> None:
        """Deletes a workflow definition (runs in progress go on)."""
        self._client._call(self._stub.DeleteWorkflow, workflows_pb.DeleteWorkflowRequest(id=workflow_id))

    def validate(self, definition: req.Definition) -> workflows_pb.ValidateWorkflowResponse:
        """Checks a definition without storing it; lists every problem."""
        request = workflows_pb.ValidateWorkflowRequest(workflow=req.to_workflow(definition))
        return self._client._call(self._stub.ValidateWorkflow, request)

    def estimate(self, workflow_id: str, *, input: JSON = None, version: int = 0) -> runs_pb.EstimateRunResponse:
        """Dry-pass cost estimate for a sample input; no agent runs."""
        return self._client.runs.estimate(workflow_id, input=input, version=version)

    def versions(self, workflow_id: str) -> List[workflow_pb2.WorkflowVersion]:
        """The version history, newest first."""
        request = workflows_pb.ListWorkflowVersionsRequest(id=workflow_id)
        return list(self._client._call(self._stub.ListWorkflowVersions, request).versions)

    def get_version(self, workflow_id: str, version: int) -> workflow_pb2.Workflow:
        """One past version of a workflow."""
        request = workflows_pb.GetWorkflowVersionRequest(id=workflow_id, version=version)
        return self._client._call(self._stub.GetWorkflowVersion, request).workflow

    def diff(self, workflow_id: str, v1: int, v2: int) -> workflows_pb.DiffWorkflowVersionsResponse:
        """A JSON Patch from version ``v1`` to ``v2``."""
        request = workflows_pb.DiffWorkflowVersionsRequest(id=workflow_id, v1=v1, v2=v2)
        return self._client._call(self._stub.DiffWorkflowVersions, request)

    def rollback(self, workflow_id: str, version: int, change_summary: str = "") -> WorkflowHandle:
        """A new version with the content of ``version``."""
        request = workflows_pb.RollbackWorkflowRequest(id=workflow_id, version=version, change_summary=change_summary)
        return self._bind(self._client._call(self._stub.RollbackWorkflow, request).workflow)

    def run(
        self,
        workflow_id: str,
        *,
        user_id: str = "",
        input: JSON = None,
        idempotency_key: str = "",
        version: int = 0,
        shared_state: Optional[Mapping[str, Any]] = None,
        trigger: str = "",
    ) -> Run:
        """Starts a run of ``workflow_id``."""
        return self._client.runs.start(
            workflow_id,
            user_id=user_id,
            input=input,
            idempotency_key=idempotency_key,
            version=version,
            shared_state=shared_state,
            trigger=trigger,
        )

    def get_run(self, run_id: str) -> Run:
        """Current status, per-step results and cost of a run."""
        return self._client.runs.get(run_id)

    def list_runs(
        self, workflow_id: str, *, status: Optional[str] = None, user_id: str = "", limit: int = 0, offset: int = 0
    ) -> List[Run]:
        """Runs of a workflow, newest first."""
        return self._client.runs.list(workflow_id, status=status, user_id=user_id, limit=limit, offset=offset)

    def cancel_run(self, run_id: str, reason: str = "") -> Run:
        """Cancels a live run."""
        return self._client.runs.cancel(run_id, reason)

    def retry_from(self, run_id: str, step_id: str) -> Run:
        """Retries a run from a step, reusing completed upstream outputs."""
        return self._client.runs.retry_from(run_id, step_id)

    def stream_run(self, run_id: str, *, after_sequence: int = 0) -> Iterator[RunEvent]:
        """The run's events as they happen, ending after its terminal event."""
        return self._client.runs.stream(run_id, after_sequence=after_sequence)


class Approvals:
    """Decisions on approval steps and on tools a policy gates."""

    def __init__(self, client: Weft) -> None:
        self._client = client
        self._stub = approval_service_pb2_grpc.ApprovalServiceStub(client.channel)

    def list(
        self, *, run_id: str = "", workflow_id: str = "", action: str = "", status: Optional[str] = None
    ) -> List[Approval]:
        """Approvals, filtered (e.g. ``run_id=..., status="pending"``)."""
        request = req.list_approvals(run_id, workflow_id, action, status)
        return [Approval.from_pb(m) for m in self._client._call(self._stub.ListApprovals, request).approvals]

    def list_page(
        self,
        *,
        run_id: str = "",
        workflow_id: str = "",
        action: str = "",
        status: Optional[str] = None,
        kind: Optional[str] = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> ApprovalPage:
        """One page of approvals, newest first (``kind="step"`` or
        ``"tool_use"``); a token is tied to its filters."""
        request = req.list_approvals_page(run_id, workflow_id, action, status, kind, page_size, page_token)
        response = self._client._call(self._stub.ListApprovals, request)
        return ApprovalPage([Approval.from_pb(m) for m in response.approvals], response.next_page_token, response.total)

    def list_all(
        self,
        *,
        run_id: str = "",
        workflow_id: str = "",
        action: str = "",
        status: Optional[str] = None,
        kind: Optional[str] = None,
        page_size: int = 0,
    ) -> Iterator[Approval]:
        """Every approval matching the filters, a page at a time as the loop asks."""

        def fetch(token: str) -> Tuple[List[Approval], str]:
            page = self.list_page(
                run_id=run_id, workflow_id=workflow_id, action=action, status=status, kind=kind,
                page_size=page_size, page_token=token,
            )
            return page.approvals, page.next_page_token

        return every_item(fetch)

    def get(self, approval_id: str) -> Approval:
        request = approvals_pb.GetApprovalRequest(approval_id=approval_id)
        return Approval.from_pb(self._client._call(self._stub.GetApproval, request).approval)

    def decide(
        self, approval_id: str, decision: str, *, option: str = "", comment: str = "", decided_by: str = ""
    ) -> Approval:
        """Decides a pending approval: "approve", "deny" or "escalate"."""
        request = req.decide(approval_id, decision, option, comment, decided_by)
        return Approval.from_pb(self._client._call(self._stub.DecideApproval, request).approval)

    def approve(self, approval_id: str, *, option: str = "", comment: str = "", decided_by: str = "") -> Approval:
        return self.decide(approval_id, "approve", option=option, comment=comment, decided_by=decided_by)

    def deny(self, approval_id: str, *, option: str = "", comment: str = "", decided_by: str = "") -> Approval:
        return self.decide(approval_id, "deny", option=option, comment=comment, decided_by=decided_by)


class Schedules:
    """Cron schedules that start runs of a workflow (trigger "schedule")."""

    def __init__(self, client: Weft) -> None:
        self._client = client
        self._stub = schedule_service_pb2_grpc.ScheduleServiceStub(client.channel)

    def create(
        self,
        workflow_id: str,
        *,
        cron: str,
        timezone: str = "",
        input: JSON = None,
        enabled: Optional[bool] = None,
        overlap_policy: Optional[str] = None,
        catch_up: Optional[str] = None,
        version: Optional[int] = None,
        user_id: str = "",
    ) -> schedules_pb.Schedule:
        """A schedule of ``workflow_id``: ``cron`` (5 fields, or 6 with
        seconds) read in ``timezone`` (IANA, default UTC)."""
        schedule = req.schedule(cron, timezone, input, enabled, overlap_policy, user_id, catch_up, version)
        request = schedules_pb.CreateScheduleRequest(workflow_id=workflow_id, schedule=schedule)
        return self._client._call(self._stub.CreateSchedule, request).schedule

    def list(self, workflow_id: str) -> List[schedules_pb.Schedule]:
        request = schedules_pb.ListSchedulesRequest(workflow_id=workflow_id)
        return list(self._client._call(self._stub.ListSchedules, request).schedules)

    def get(self, schedule_id: str, *, next_fire_count: int = 0) -> schedules_pb.Schedule:
        """One schedule, with its next fire times (``next_fire_count``,
        default 5, at most 100)."""
        request = schedules_pb.GetScheduleRequest(schedule_id=schedule_id, next_fire_count=next_fire_count)
        return self._client._call(self._stub.GetSchedule, request).schedule

    def update(
        self,
        schedule_id: str,
        *,
        cron: Optional[str] = None,
        timezone: Optional[str] = None,
        input: JSON = None,
        enabled: Optional[bool] = None,
        overlap_policy: Optional[str] = None,
        catch_up: Optional[str] = None,
        version: Optional[int] = None,
        user_id: Optional[str] = None,
    ) -> schedules_pb.Schedule:
        """Replaces the fields given; the others keep their values."""
        changes = dict(cron=cron, timezone=timezone, input=input, enabled=enabled, overlap_policy=overlap_policy,
                       catch_up=catch_up, version=version, user_id=user_id)
        return self._client._call(self._stub.UpdateSchedule, req.update_schedule(schedule_id, changes)).schedule

    def delete(self, schedule_id: str) -> None:
        self._client._call(self._stub.DeleteSchedule, schedules_pb.DeleteScheduleRequest(schedule_id=schedule_id))

    def pause(self, schedule_id: str) -> schedules_pb.Schedule:
        request = schedules_pb.PauseScheduleRequest(schedule_id=schedule_id)
        return self._client._call(self._stub.PauseSchedule, request).schedule

    def resume(self, schedule_id: str) -> schedules_pb.Schedule:
        request = schedules_pb.ResumeScheduleRequest(schedule_id=schedule_id)
        return self._client._call(self._stub.ResumeSchedule, request).schedule


class Templates:
    """Ready-made definitions, built in or saved by the tenant, and
    installing one as a new workflow."""

    def __init__(self, client: Weft) -> None:
        self._client = client
        self._stub = template_service_pb2_grpc.TemplateServiceStub(client.channel)

    def list(
        self,
        *,
        category: str = "",
        is_builtin: Optional[bool] = None,
        tag: str = "",
        limit: int = 0,
        offset: int = 0,
    ) -> List[templates_pb.Template]:
        """Templates matching the filters, built-ins first, then by name."""
        request = req.list_templates(category, is_builtin, tag, limit, offset)
        return list(self._client._call(self._stub.ListTemplates, request).templates)

    def get(self, template_id: str) -> templates_pb.Template:
        request = templates_pb.GetTemplateRequest(template_id=template_id)
        return self._client._call(self._stub.GetTemplate, request).template

    def install(
        self, template_id: str, *, name: str = "", tags: Sequence[str] = (), status: Optional[str] = None
    ) -> WorkflowHandle:
        """Creates a workflow (version 1) from the template."""
        request = req.install_template(template_id, name, tags, status)
        return WorkflowHandle(self._client, self._client._call(self._stub.InstallTemplate, request).workflow)

    def create(
        self,
        name: str,
        *,
        description: str = "",
        category: str = "",
        tags: Sequence[str] = (),
        definition: Optional[req.Definition] = None,
        from_workflow: str = "",
        version: int = 0,
    ) -> templates_pb.Template:
        """Saves a template: ``definition``, or a version of ``from_workflow``
        (the latest unless ``version`` is given)."""
        request = req.create_template(name, description, category, tags, definition, from_workflow, version)
        return self._client._call(self._stub.CreateTemplate, request).template

    def delete(self, template_id: str) -> None:
        """Deletes a template of the tenant; built-ins cannot be deleted."""
        self._client._call(self._stub.DeleteTemplate, templates_pb.DeleteTemplateRequest(template_id=template_id))


class Triggers:
    """Deploying a workflow so that its webhook can start runs, and arming
    the webhook for one call (see :func:`weftflow.fire_webhook` for the call)."""

    def __init__(self, client: Weft) -> None:
        self._client = client
        self._stub = trigger_service_pb2_grpc.TriggerServiceStub(client.channel)

    def deploy(self, workflow_id: str, *, rotate_secret: bool = False) -> triggers_pb.DeployWorkflowResponse:
        """Deploys; ``.webhook_secret`` is set only when this call created or
        rotated it (store it: it is not shown again)."""
        request = triggers_pb.DeployWorkflowRequest(workflow_id=workflow_id, rotate_secret=rotate_secret)
        return self._client._call(self._stub.DeployWorkflow, request)

    def undeploy(self, workflow_id: str) -> triggers_pb.TriggerStatus:
        request = triggers_pb.UndeployWorkflowRequest(workflow_id=workflow_id)
        return self._client._call(self._stub.UndeployWorkflow, request).trigger

    def arm(self, workflow_id: str, *, window_seconds: int = 0) -> triggers_pb.ArmWebhookResponse:
        """Opens the window (default 600 s) in which the webhook accepts one call."""
        request = triggers_pb.ArmWebhookRequest(workflow_id=workflow_id, window_seconds=window_seconds)
        return self._client._call(self._stub.ArmWebhook, request)

    def status(self, workflow_id: str) -> triggers_pb.TriggerStatus:
        request = triggers_pb.GetTriggerStatusRequest(workflow_id=workflow_id)
        return self._client._call(self._stub.GetTriggerStatus, request).trigger


class Weft:
    """A synchronous connection to one Weft server."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:7070",
        api_key: Optional[str] = None,
        *,
        timeout: Optional[float] = None,
        headers: Optional[Sequence[Tuple[str, str]]] = None,
        channel: Optional[grpc.Channel] = None,
    ) -> None:
        """``base_url`` is ``http://host:port`` (or https); ``api_key`` is sent
        as ``Authorization: Bearer``; ``timeout`` (seconds) bounds each unary
        call; ``channel`` replaces the one made from ``base_url``."""
        self.channel = channel or sync_channel(base_url)
        #: The server's URL; a :class:`~weftflow.Worker` made from this client
        #: opens its own asyncio connection to it with the same credentials.
        self.base_url = base_url
        self._metadata = call_metadata(api_key, headers)
        self._timeout = timeout
        self.workflows = Workflows(self)
        self.runs = Runs(self)
        self.approvals = Approvals(self)
        self.schedules = Schedules(self)
        self.templates = Templates(self)
        self.triggers = Triggers(self)
        #: The generated WorkerService stub (the worker runtime uses AsyncWeft).
        self.workers = worker_service_pb2_grpc.WorkerServiceStub(self.channel)

    def _call(self, method: Callable[..., _Resp], request: Any, timeout: Optional[float] = None, starts_run: bool = False) -> _Resp:
        """One unary call; ``starts_run``: the call carries the caller's trace context."""
        metadata = trace_metadata(self._metadata) if starts_run else self._metadata
        try:
            return method(request, metadata=metadata, timeout=timeout or self._timeout)
        except grpc.RpcError as error:
            raise error_from_rpc(error) from None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Weft:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
