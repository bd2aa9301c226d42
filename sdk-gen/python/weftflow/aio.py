"""``AsyncWeft``: the asyncio client, the same surface as :class:`~weftflow.Weft`
with ``await`` (and ``async for`` over ``stream_run``).

    async with AsyncWeft(base_url="http://127.0.0.1:7070") as client:
        wf = await client.workflows.apply(workflow("w").add(agent("a", agent="x", task="t")))
        run = await wf.run(user_id="u1", input={"website": "https://acme.com"})
        async for event in client.workflows.stream_run(run.id):
            print(event.type, event.step_id)
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, List, Mapping, Optional, Sequence, Tuple, TypeVar, cast

import grpc
import grpc.aio

from weftflow import _requests as req
from weftflow._channel import aio_channel, call_metadata
from weftflow._json import JSON
from weftflow._paging import every_item_async
from weftflow._tracing import trace_metadata
from weftflow.client import MAX_RECONNECTS
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

if TYPE_CHECKING:
    from weftflow.v1.approval_service_pb2_grpc import ApprovalServiceAsyncStub
    from weftflow.v1.run_service_pb2_grpc import RunServiceAsyncStub
    from weftflow.v1.schedule_service_pb2_grpc import ScheduleServiceAsyncStub
    from weftflow.v1.template_service_pb2_grpc import TemplateServiceAsyncStub
    from weftflow.v1.trigger_service_pb2_grpc import TriggerServiceAsyncStub
    from weftflow.v1.worker_service_pb2_grpc import WorkerServiceAsyncStub
    from weftflow.v1.workflow_service_pb2_grpc import WorkflowServiceAsyncStub

_Resp = TypeVar("_Resp")


class AsyncWorkflowHandle(WorkflowView):
    """A workflow from the server (see :class:`~weftflow.models.WorkflowView`
    for what it exposes), with :meth:`run` and :meth:`execute` bound to it."""

    def __init__(self, client: AsyncWeft, message: workflow_pb2.Workflow, outcome: Optional[ApplyOutcome] = None) -> None:
        super().__init__(message, outcome)
        self._client = client

    async def run(
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
        return await self._client.runs.start(
            self.id,
            user_id=user_id,
            input=input,
            idempotency_key=idempotency_key,
            version=version,
            shared_state=shared_state,
            trigger=trigger,
        )

    async def execute(
        self,
        *,
        input: JSON = None,
        user_id: str = "",
        idempotency_key: str = "",
        version: int = 0,
        timeout: float = 120,
    ) -> Run:
        """Runs this workflow and waits for it to end (see :meth:`AsyncRuns.execute`)."""
        return await self._client.runs.execute(
            self.id, input=input, user_id=user_id, idempotency_key=idempotency_key, version=version, timeout=timeout
        )


class AsyncRuns:
    """Runs: start, read, list, cancel, retry, resume, delete, events, stream."""

    def __init__(self, client: AsyncWeft) -> None:
        self._client = client
        self._stub = cast("RunServiceAsyncStub", run_service_pb2_grpc.RunServiceStub(client.channel))

    async def start(
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
        request = req.start_run(workflow_id, user_id, input, idempotency_key, version, shared_state, trigger)
        return Run.from_pb((await self._client._call(self._stub.StartRun, request, starts_run=True)).run)

    async def execute(
        self,
        workflow: str,
        *,
        input: JSON = None,
        user_id: str = "",
        idempotency_key: str = "",
        version: int = 0,
        timeout: float = 120,
    ) -> Run:
        """As :meth:`weftflow.client.Runs.execute`."""
        request = req.execute(workflow, input, user_id, idempotency_key, version, timeout)
        return Run.from_pb((await self._client._call(self._stub.ExecuteWorkflow, request, timeout=timeout + 15, starts_run=True)).run)

    async def get(self, run_id: str) -> Run:
        return Run.from_pb((await self._client._call(self._stub.GetRun, runs_pb.GetRunRequest(run_id=run_id))).run)

    async def list(
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
        request = req.list_runs(workflow_id, status, user_id, limit, offset, trigger, schedule_id)
        return [Run.from_pb(m) for m in (await self._client._call(self._stub.ListRuns, request)).runs]

    async def list_page(
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
        """As :meth:`weftflow.client.Runs.list_page`."""
        request = req.list_runs_page(workflow_id, status, user_id, trigger, schedule_id, page_size, page_token)
        response = await self._client._call(self._stub.ListRuns, request)
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
    ) -> AsyncIterator[Run]:
        """As :meth:`weftflow.client.Runs.list_all`, with ``async for``."""

        async def fetch(token: str) -> Tuple[List[Run], str]:
            page = await self.list_page(
                workflow_id, status=status, user_id=user_id, trigger=trigger, schedule_id=schedule_id,
                page_size=page_size, page_token=token,
            )
            return page.runs, page.next_page_token

        return every_item_async(fetch)

    async def cancel(self, run_id: str, reason: str = "") -> Run:
        request = runs_pb.CancelRunRequest(run_id=run_id, reason=reason)
        return Run.from_pb((await self._client._call(self._stub.CancelRun, request)).run)

    async def retry_from(self, run_id: str, step_id: str) -> Run:
        request = runs_pb.RetryRunFromRequest(run_id=run_id, step_id=step_id)
        return Run.from_pb((await self._client._call(self._stub.RetryRunFrom, request, starts_run=True)).run)

    async def resume(
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
        request = req.resume_run(run_id, event, payload, step, input, from_step, settle_wait_ms)
        return Run.from_pb((await self._client._call(self._stub.ResumeRun, request)).run)

    async def pause(self, run_id: str, *, reason: str = "") -> Run:
        request = runs_pb.PauseRunRequest(run_id=run_id, reason=reason)
        return Run.from_pb((await self._client._call(self._stub.PauseRun, request)).run)

    async def delete(self, run_id: str) -> None:
        await self._client._call(self._stub.DeleteRun, runs_pb.DeleteRunRequest(run_id=run_id))

    async def events(self, run_id: str, after_sequence: int = 0) -> List[RunEvent]:
        request = runs_pb.ListRunEventsRequest(run_id=run_id, after_sequence=after_sequence)
        return [RunEvent.from_pb(m) for m in (await self._client._call(self._stub.ListRunEvents, request)).events]

    async def estimate(self, workflow_id: str, *, input: JSON = None, version: int = 0) -> runs_pb.EstimateRunResponse:
        return await self._client._call(self._stub.EstimateRun, req.estimate(workflow_id, input, version))

    async def stream(self, run_id: str, *, after_sequence: int = 0) -> AsyncIterator[RunEvent]:
        """As :meth:`weft.client.Runs.stream`, for ``async for``."""
        after = after_sequence
        reconnects = 0
        while True:
            request = runs_pb.StreamRunEventsRequest(run_id=run_id, after_sequence=after)
            try:
                async for message in self._stub.StreamRunEvents(request, metadata=self._client._metadata):
                    reconnects = 0
                    if message.HasField("event"):
                        after = max(after, message.event.sequence)
                        yield RunEvent.from_pb(message.event)
                return
            except grpc.aio.AioRpcError as error:
                transient = error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN)
                if not transient or reconnects >= MAX_RECONNECTS:
                    raise error_from_rpc(error) from None
                reconnects += 1
                await asyncio.sleep(0.05 * (2**reconnects))


class AsyncWorkflows:
    """Definitions and versions, plus the documented run methods."""

    def __init__(self, client: AsyncWeft) -> None:
        self._client = client
        self._stub = cast("WorkflowServiceAsyncStub", workflow_service_pb2_grpc.WorkflowServiceStub(client.channel))

    def _bind(self, message: workflow_pb2.Workflow) -> AsyncWorkflowHandle:
        return AsyncWorkflowHandle(self._client, message)

    async def create(self, definition: req.Definition) -> AsyncWorkflowHandle:
        request = workflows_pb.CreateWorkflowRequest(workflow=req.to_workflow(definition))
        return self._bind((await self._client._call(self._stub.CreateWorkflow, request)).workflow)

    async def apply(self, definition: req.Definition, *, change_summary: str = "") -> AsyncWorkflowHandle:
        """As :meth:`weftflow.client.Workflows.apply`."""
        request = req.apply_workflow(definition, change_summary)
        response = await self._client._call(self._stub.ApplyWorkflow, request)
        return AsyncWorkflowHandle(self._client, response.workflow, apply_outcome(response.outcome))

    async def list(
        self, *, status: Optional[str] = None, tag: str = "", limit: int = 0, offset: int = 0
    ) -> List[AsyncWorkflowHandle]:
        response = await self._client._call(self._stub.ListWorkflows, req.list_workflows(status, tag, limit, offset))
        return [self._bind(w) for w in response.workflows]

    async def list_page(
        self,
        *,
        status: Optional[str] = None,
        tag: str = "",
        trigger_type: str = "",
        sort: str = "",
        order: str = "",
        page_size: int = 0,
        page_token: str = "",
    ) -> WorkflowPage[AsyncWorkflowHandle]:
        """As :meth:`weftflow.client.Workflows.list_page`."""
        request = req.list_workflows_page(status, tag, trigger_type, sort, order, page_size, page_token)
        response = await self._client._call(self._stub.ListWorkflows, request)
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
    ) -> AsyncIterator[AsyncWorkflowHandle]:
        """As :meth:`weftflow.client.Workflows.list_all`, with ``async for``."""

        async def fetch(token: str) -> Tuple[List[AsyncWorkflowHandle], str]:
            page = await self.list_page(
                status=status, tag=tag, trigger_type=trigger_type, sort=sort, order=order,
                page_size=page_size, page_token=token,
            )
            return page.workflows, page.next_page_token

        return every_item_async(fetch)

    async def get(self, workflow_id: str) -> AsyncWorkflowHandle:
        request = workflows_pb.GetWorkflowRequest(id=workflow_id)
        return self._bind((await self._client._call(self._stub.GetWorkflow, request)).workflow)

    async def update(
        self,
        workflow_id: str,
        changes: req.Definition,
        *,
        update_mask: Optional[Sequence[str]] = None,
        expected_version: int = 0,
    ) -> AsyncWorkflowHandle:
        request = req.update_workflow(workflow_id, changes, update_mask, expected_version)
        return self._bind((await self._client._call(self._stub.UpdateWorkflow, request)).workflow)

    async def delete(self, workflow_id: str) -> None:
        await self._client._call(self._stub.DeleteWorkflow, workflows_pb.DeleteWorkflowRequest(id=workflow_id))

    async def validate(self, definition: req.Definition) -> workflows_pb.ValidateWorkflowResponse:
        request = workflows_pb.ValidateWorkflowRequest(workflow=req.to_workflow(definition))
        return await self._client._call(self._stub.ValidateWorkflow, request)

    async def estimate(self, workflow_id: str, *, input: JSON = None, version: int = 0) -> runs_pb.EstimateRunResponse:
        return await self._client.runs.estimate(workflow_id, input=input, version=version)

    async def versions(self, workflow_id: str) -> List[workflow_pb2.WorkflowVersion]:
        request = workflows_pb.ListWorkflowVersionsRequest(id=workflow_id)
        return list((await self._client._call(self._stub.ListWorkflowVersions, request)).versions)

    async def get_version(self, workflow_id: str, version: int) -> workflow_pb2.Workflow:
        request = workflows_pb.GetWorkflowVersionRequest(id=workflow_id, version=version)
        return (await self._client._call(self._stub.GetWorkflowVersion, request)).workflow

    async def diff(self, workflow_id: str, v1: int, v2: int) -> workflows_pb.DiffWorkflowVersionsResponse:
        request = workflows_pb.DiffWorkflowVersionsRequest(id=workflow_id, v1=v1, v2=v2)
        return await self._client._call(self._stub.DiffWorkflowVersions, request)

    async def rollback(self, workflow_id: str, version: int, change_summary: str = "") -> AsyncWorkflowHandle:
        request = workflows_pb.RollbackWorkflowRequest(id=workflow_id, version=version, change_summary=change_summary)
        return self._bind((await self._client._call(self._stub.RollbackWorkflow, request)).workflow)

    async def run(
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
        return await self._client.runs.start(
            workflow_id,
            user_id=user_id,
            input=input,
            idempotency_key=idempotency_key,
            version=version,
            shared_state=shared_state,
            trigger=trigger,
        )

    async def get_run(self, run_id: str) -> Run:
        return await self._client.runs.get(run_id)

    async def list_runs(
        self, workflow_id: str, *, status: Optional[str] = None, user_id: str = "", limit: int = 0, offset: int = 0
    ) -> List[Run]:
        return await self._client.runs.list(workflow_id, status=status, user_id=user_id, limit=limit, offset=offset)

    async def cancel_run(self, run_id: str, reason: str = "") -> Run:
        return await self._client.runs.cancel(run_id, reason)

    async def retry_from(self, run_id: str, step_id: str) -> Run:
        return await self._client.runs.retry_from(run_id, step_id)

    def stream_run(self, run_id: str, *, after_sequence: int = 0) -> AsyncIterator[RunEvent]:
        """The run's events as they happen, ending after its terminal event."""
        return self._client.runs.stream(run_id, after_sequence=after_sequence)


class AsyncApprovals:
    """Decisions on approval steps and on tools a policy gates."""

    def __init__(self, client: AsyncWeft) -> None:
        self._client = client
        self._stub = cast("ApprovalServiceAsyncStub", approval_service_pb2_grpc.ApprovalServiceStub(client.channel))

    async def list(
        self, *, run_id: str = "", workflow_id: str = "", action: str = "", status: Optional[str] = None
    ) -> List[Approval]:
        request = req.list_approvals(run_id, workflow_id, action, status)
        return [Approval.from_pb(m) for m in (await self._client._call(self._stub.ListApprovals, request)).approvals]

    async def list_page(
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
        """As :meth:`weftflow.client.Approvals.list_page`."""
        request = req.list_approvals_page(run_id, workflow_id, action, status, kind, page_size, page_token)
        response = await self._client._call(self._stub.ListApprovals, request)
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
    ) -> AsyncIterator[Approval]:
        """As :meth:`weftflow.client.Approvals.list_all`, with ``async for``."""

        async def fetch(token: str) -> Tuple[List[Approval], str]:
            page = await self.list_page(
                run_id=run_id, workflow_id=workflow_id, action=action, status=status, kind=kind,
                page_size=page_size, page_token=token,
            )
            return page.approvals, page.next_page_token

        return every_item_async(fetch)

    async def get(self, approval_id: str) -> Approval:
        request = approvals_pb.GetApprovalRequest(approval_id=approval_id)
        return Approval.from_pb((await self._client._call(self._stub.GetApproval, request)).approval)

    async def decide(
        self, approval_id: str, decision: str, *, option: str = "", comment: str = "", decided_by: str = ""
    ) -> Approval:
        request = req.decide(approval_id, decision, option, comment, decided_by)
        return Approval.from_pb((await self._client._call(self._stub.DecideApproval, request)).approval)

    async def approve(
        self, approval_id: str, *, option: str = "", comment: str = "", decided_by: str = ""
    ) -> Approval:
        return await self.decide(approval_id, "approve", option=option, comment=comment, decided_by=decided_by)

    async def deny(
        self, approval_id: str, *, option: str = "", comment: str = "", decided_by: str = ""
    ) -> Approval:
        return await self.decide(approval_id, "deny", option=option, comment=comment, decided_by=decided_by)


class AsyncSchedules:
    """Cron schedules that start runs of a workflow (see :class:`~weftflow.client.Schedules`)."""

    def __init__(self, client: AsyncWeft) -> None:
        self._client = client
        self._stub = cast("ScheduleServiceAsyncStub", schedule_service_pb2_grpc.ScheduleServiceStub(client.channel))

    async def create(
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
        schedule = req.schedule(cron, timezone, input, enabled, overlap_policy, user_id, catch_up, version)
        request = schedules_pb.CreateScheduleRequest(workflow_id=workflow_id, schedule=schedule)
        return (await self._client._call(self._stub.CreateSchedule, request)).schedule

    async def list(self, workflow_id: str) -> List[schedules_pb.Schedule]:
        request = schedules_pb.ListSchedulesRequest(workflow_id=workflow_id)
        return list((await self._client._call(self._stub.ListSchedules, request)).schedules)

    async def get(self, schedule_id: str, *, next_fire_count: int = 0) -> schedules_pb.Schedule:
        request = schedules_pb.GetScheduleRequest(schedule_id=schedule_id, next_fire_count=next_fire_count)
        return (await self._client._call(self._stub.GetSchedule, request)).schedule

    async def update(
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
        changes = dict(cron=cron, timezone=timezone, input=input, enabled=enabled, overlap_policy=overlap_policy,
                       catch_up=catch_up, version=version, user_id=user_id)
        request = req.update_schedule(schedule_id, changes)
        return (await self._client._call(self._stub.UpdateSchedule, request)).schedule

    async def delete(self, schedule_id: str) -> None:
        await self._client._call(self._stub.DeleteSchedule, schedules_pb.DeleteScheduleRequest(schedule_id=schedule_id))

    async def pause(self, schedule_id: str) -> schedules_pb.Schedule:
        request = schedules_pb.PauseScheduleRequest(schedule_id=schedule_id)
        return (await self._client._call(self._stub.PauseSchedule, request)).schedule

    async def resume(self, schedule_id: str) -> schedules_pb.Schedule:
        request = schedules_pb.ResumeScheduleRequest(schedule_id=schedule_id)
        return (await self._client._call(self._stub.ResumeSchedule, request)).schedule


class AsyncTemplates:
    """Ready-made definitions and installing them (see :class:`~weftflow.client.Templates`)."""

    def __init__(self, client: AsyncWeft) -> None:
        self._client = client
        self._stub = cast("TemplateServiceAsyncStub", template_service_pb2_grpc.TemplateServiceStub(client.channel))

    async def list(
        self,
        *,
        category: str = "",
        is_builtin: Optional[bool] = None,
        tag: str = "",
        limit: int = 0,
        offset: int = 0,
    ) -> List[templates_pb.Template]:
        request = req.list_templates(category, is_builtin, tag, limit, offset)
        return list((await self._client._call(self._stub.ListTemplates, request)).templates)

    async def get(self, template_id: str) -> templates_pb.Template:
        request = templates_pb.GetTemplateRequest(template_id=template_id)
        return (await self._client._call(self._stub.GetTemplate, request)).template

    async def install(
        self, template_id: str, *, name: str = "", tags: Sequence[str] = (), status: Optional[str] = None
    ) -> workflow_pb2.Workflow:
        request = req.install_template(template_id, name, tags, status)
        return (await self._client._call(self._stub.InstallTemplate, request)).workflow

    async def create(
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
        request = req.create_template(name, description, category, tags, definition, from_workflow, version)
        return (await self._client._call(self._stub.CreateTemplate, request)).template

    async def delete(self, template_id: str) -> None:
        request = templates_pb.DeleteTemplateRequest(template_id=template_id)
        await self._client._call(self._stub.DeleteTemplate, request)


class AsyncTriggers:
    """Deploying workflows and arming their webhooks (see :class:`~weftflow.client.Triggers`)."""

    def __init__(self, client: AsyncWeft) -> None:
        self._client = client
        self._stub = cast("TriggerServiceAsyncStub", trigger_service_pb2_grpc.TriggerServiceStub(client.channel))

    async def deploy(self, workflow_id: str, *, rotate_secret: bool = False) -> triggers_pb.DeployWorkflowResponse:
        request = triggers_pb.DeployWorkflowRequest(workflow_id=workflow_id, rotate_secret=rotate_secret)
        return await self._client._call(self._stub.DeployWorkflow, request)

    async def undeploy(self, workflow_id: str) -> triggers_pb.TriggerStatus:
        request = triggers_pb.UndeployWorkflowRequest(workflow_id=workflow_id)
        return (await self._client._call(self._stub.UndeployWorkflow, request)).trigger

    async def arm(self, workflow_id: str, *, window_seconds: int = 0) -> triggers_pb.ArmWebhookResponse:
        request = triggers_pb.ArmWebhookRequest(workflow_id=workflow_id, window_seconds=window_seconds)
        return await self._client._call(self._stub.ArmWebhook, request)

    async def status(self, workflow_id: str) -> triggers_pb.TriggerStatus:
        request = triggers_pb.GetTriggerStatusRequest(workflow_id=workflow_id)
        return (await self._client._call(self._stub.GetTriggerStatus, request)).trigger


class AsyncWeft:
    """An asyncio connection to one Weft server (create it inside a running loop)."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:7070",
        api_key: Optional[str] = None,
        *,
        timeout: Optional[float] = None,
        headers: Optional[Sequence[Tuple[str, str]]] = None,
        channel: Optional[grpc.aio.Channel] = None,
    ) -> None:
        self.channel = channel or aio_channel(base_url)
        self._metadata = call_metadata(api_key, headers)
        self._timeout = timeout
        self.workflows = AsyncWorkflows(self)
        self.runs = AsyncRuns(self)
        self.approvals = AsyncApprovals(self)
        self.schedules = AsyncSchedules(self)
        self.templates = AsyncTemplates(self)
        self.triggers = AsyncTriggers(self)
        #: The generated WorkerService stub, used by :class:`~weftflow.Worker`.
        self.workers = cast("WorkerServiceAsyncStub", worker_service_pb2_grpc.WorkerServiceStub(self.channel))

    async def _call(
        self, method: Callable[..., Awaitable[_Resp]], request: Any, timeout: Optional[float] = None, starts_run: bool = False
    ) -> _Resp:
        """One unary call; ``starts_run``: the call carries the caller's trace context."""
        metadata = trace_metadata(self._metadata) if starts_run else self._metadata
        try:
            return await method(request, metadata=metadata, timeout=timeout or self._timeout)
        except grpc.aio.AioRpcError as error:
            raise error_from_rpc(error) from None

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> AsyncWeft:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
