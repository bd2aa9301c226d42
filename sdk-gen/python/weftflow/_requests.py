"""Request messages from the layer's keyword arguments, shared by the sync
and asyncio clients so both speak exactly the same protocol."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence, Union

from google.protobuf import field_mask_pb2, json_format

from weftflow._json import JSON, to_struct, to_value
from weftflow.builder import WorkflowBuilder
from weftflow.v1 import (
    approval_service_pb2 as approvals,
    run_pb2,
    run_service_pb2 as runs,
    schedule_service_pb2 as schedules,
    template_service_pb2 as templates,
    workflow_pb2,
    workflow_service_pb2 as workflows,
)

#: A definition: a builder, the ``Workflow`` message, or its JSON form.
Definition = Union[WorkflowBuilder, workflow_pb2.Workflow, Mapping[str, Any]]

RUN_STATUSES = {
    "queued": run_pb2.RUN_STATUS_QUEUED,
    "pending": run_pb2.RUN_STATUS_PENDING,
    "running": run_pb2.RUN_STATUS_RUNNING,
    "paused": run_pb2.RUN_STATUS_PAUSED,
    "completed": run_pb2.RUN_STATUS_COMPLETED,
    "failed": run_pb2.RUN_STATUS_FAILED,
    "partial": run_pb2.RUN_STATUS_PARTIAL,
    "cancelled": run_pb2.RUN_STATUS_CANCELLED,
}

WORKFLOW_STATUSES = {
    "draft": workflow_pb2.WORKFLOW_STATUS_DRAFT,
    "active": workflow_pb2.WORKFLOW_STATUS_ACTIVE,
    "paused": workflow_pb2.WORKFLOW_STATUS_PAUSED,
    "archived": workflow_pb2.WORKFLOW_STATUS_ARCHIVED,
}

APPROVAL_STATUSES = {
    "pending": approvals.APPROVAL_STATUS_PENDING,
    "approved": approvals.APPROVAL_STATUS_APPROVED,
    "denied": approvals.APPROVAL_STATUS_DENIED,
    "expired": approvals.APPROVAL_STATUS_EXPIRED,
    "escalated": approvals.APPROVAL_STATUS_ESCALATED,
}

DECISIONS = {
    "approve": approvals.APPROVAL_DECISION_APPROVE,
    "deny": approvals.APPROVAL_DECISION_DENY,
    "escalate": approvals.APPROVAL_DECISION_ESCALATE,
}

OVERLAP = {
    "skip": schedules.SCHEDULE_OVERLAP_POLICY_SKIP,
    "allow": schedules.SCHEDULE_OVERLAP_POLICY_ALLOW,
    "buffer_one": schedules.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
}

CATCH_UP = {
    "once": schedules.SCHEDULE_CATCH_UP_ONCE,
    "none": schedules.SCHEDULE_CATCH_UP_NONE,
}


def run_status_name(status: Union[int, str]) -> str:
    """The lower-case name of a ``RunStatus`` ("completed"). Runs now carry
    :class:`~weftflow.RunStatus` (already that string); it is returned as is."""
    if isinstance(status, str):
        return str(status)
    for name, value in RUN_STATUSES.items():
        if value == status:
            return name
    return "unspecified"


def to_workflow(definition: Definition) -> workflow_pb2.Workflow:
    if isinstance(definition, WorkflowBuilder):
        return definition.build()
    if isinstance(definition, workflow_pb2.Workflow):
        return definition
    message = workflow_pb2.Workflow()
    json_format.ParseDict(dict(definition), message)
    return message


def list_workflows(status: Optional[str], tag: str, limit: int, offset: int) -> workflows.ListWorkflowsRequest:
    return workflows.ListWorkflowsRequest(
        status=WORKFLOW_STATUSES[status] if status else workflow_pb2.WORKFLOW_STATUS_UNSPECIFIED,
        tag=tag,
        limit=limit,
        offset=offset,
    )


def list_workflows_page(
    status: Optional[str], tag: str, trigger_type: str, sort: str, order: str, page_size: int, page_token: str
) -> workflows.ListWorkflowsRequest:
    request = list_workflows(status, tag, 0, 0)
    request.trigger_type = trigger_type
    request.sort = sort
    request.order = order
    request.page_size = page_size
    request.page_token = page_token
    return request


def update_workflow(
    workflow_id: str, changes: Definition, update_mask: Optional[Sequence[str]], expected_version: int
) -> workflows.UpdateWorkflowRequest:
    workflow = to_workflow(changes)
    workflow.id = workflow_id
    request = workflows.UpdateWorkflowRequest(workflow=workflow, expected_version=expected_version)
    if update_mask:
        request.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=list(update_mask)))
    return request


def start_run(
    workflow_id: str,
    user_id: str,
    input: JSON,
    idempotency_key: str,
    version: int,
    shared_state: Optional[Mapping[str, Any]],
    trigger: str,
) -> runs.StartRunRequest:
    request = runs.StartRunRequest(
        workflow_id=workflow_id,
        user_id=user_id,
        idempotency_key=idempotency_key,
        version=version,
        trigger=trigger,
    )
    if input is not None:
        request.input.CopyFrom(to_value(input))
    if shared_state is not None:
        request.shared_state.CopyFrom(to_struct(shared_state))
    return request


#: ExecuteWorkflow's server-side wait: at least a second, at most the 900
#: seconds the server allows (it lowers larger values anyway).
EXECUTE_TIMEOUT_RANGE = (1, 900)


def execute(
    workflow: str, input: JSON, user_id: str, idempotency_key: str, version: int, timeout: float
) -> runs.ExecuteWorkflowRequest:
    """ExecuteWorkflow for a workflow id or name; ``timeout`` in seconds."""
    low, high = EXECUTE_TIMEOUT_RANGE
    if not low <= timeout <= high:
        raise ValueError(f"execute: timeout must be {low} to {high} seconds, not {timeout}")
    request = runs.ExecuteWorkflowRequest(
        workflow_id=workflow,
        user_id=user_id,
        idempotency_key=idempotency_key,
        version=version,
        timeout_seconds=int(timeout),
    )
    if input is not None:
        request.input.CopyFrom(to_value(input))
    return request


#: Longest workflow name (the server's limit; apply finds workflows by it).
MAX_WORKFLOW_NAME = 200
#: Longest change summary ``apply`` sends (the server stores it with the version).
MAX_CHANGE_SUMMARY = 1000


def apply_workflow(definition: Definition, change_summary: str) -> workflows.ApplyWorkflowRequest:
    """ApplyWorkflow: the definition must carry its ``name`` (how it is found)."""
    workflow = to_workflow(definition)
    if not workflow.name:
        raise ValueError("apply: the workflow needs a name (it is how apply finds it)")
    if len(workflow.name) > MAX_WORKFLOW_NAME:
        raise ValueError(f"apply: a workflow name is at most {MAX_WORKFLOW_NAME} characters")
    if len(change_summary) > MAX_CHANGE_SUMMARY:
        raise ValueError(f"apply: change_summary is longer than {MAX_CHANGE_SUMMARY} characters")
    return workflows.ApplyWorkflowRequest(workflow=workflow, change_summary=change_summary)


def estimate(workflow_id: str, input: JSON, version: int) -> runs.EstimateRunRequest:
    request = runs.EstimateRunRequest(workflow_id=workflow_id, version=version)
    if input is not None:
        request.input.CopyFrom(to_value(input))
    return request


def list_runs(
    workflow_id: str,
    status: Optional[str],
    user_id: str,
    limit: int,
    offset: int,
    trigger: str = "",
    schedule_id: str = "",
) -> runs.ListRunsRequest:
    return runs.ListRunsRequest(
        workflow_id=workflow_id,
        status=RUN_STATUSES[status] if status else run_pb2.RUN_STATUS_UNSPECIFIED,
        user_id=user_id,
        limit=limit,
        offset=offset,
        trigger=trigger,
        schedule_id=schedule_id,
    )


def resume_run(
    run_id: str,
    event: Optional[str],
    payload: JSON,
    step: Optional[str],
    input: JSON,
    from_step: str = "",
    settle_wait_ms: int = 0,
) -> runs.ResumeRunRequest:
    """A wait step's ``event`` (with ``payload``), a decision for ``step``,
    or neither: a paused run continues, a failed or cancelled one restarts
    from its last checkpoint (or from ``from_step``)."""
    if event is not None and step is not None:
        raise ValueError("resume takes event= or step=, not both")
    request = runs.ResumeRunRequest(run_id=run_id, from_step=from_step, settle_wait_ms=settle_wait_ms)
    if event is not None:
        request.event = event
        if payload is not None:
            request.payload.CopyFrom(to_value(payload))
    elif step is not None:
        request.input.resume.step = step
        if input is not None:
            request.input.resume.input.CopyFrom(to_value(input))
    return request


def list_approvals(
    run_id: str, workflow_id: str, action: str, status: Optional[str]
) -> approvals.ListApprovalsRequest:
    return approvals.ListApprovalsRequest(
        run_id=run_id,
        workflow_id=workflow_id,
        action=action,
        status=APPROVAL_STATUSES[status] if status else approvals.APPROVAL_STATUS_UNSPECIFIED,
    )


APPROVAL_KINDS = {
    "step": approvals.APPROVAL_KIND_STEP,
    "tool_use": approvals.APPROVAL_KIND_TOOL_USE,
}


def list_runs_page(
    workflow_id: str,
    status: Optional[str],
    user_id: str,
    trigger: str,
    schedule_id: str,
    page_size: int,
    page_token: str,
) -> runs.ListRunsRequest:
    request = list_runs(workflow_id, status, user_id, 0, 0, trigger, schedule_id)
    request.page_size = page_size
    request.page_token = page_token
    return request


def list_approvals_page(
    run_id: str,
    workflow_id: str,
    action: str,
    status: Optional[str],
    kind: Optional[str],
    page_size: int,
    page_token: str,
) -> approvals.ListApprovalsRequest:
    if kind and kind not in APPROVAL_KINDS:
        raise ValueError(f"kind must be one of {sorted(APPROVAL_KINDS)}, not {kind!r}")
    request = list_approvals(run_id, workflow_id, action, status)
    request.kind = APPROVAL_KINDS[kind] if kind else approvals.APPROVAL_KIND_UNSPECIFIED
    request.page_size = page_size
    request.page_token = page_token
    return request


def decide(approval_id: str, decision: str, option: str, comment: str, decided_by: str) -> approvals.DecideApprovalRequest:
    return approvals.DecideApprovalRequest(
        approval_id=approval_id,
        decision=DECISIONS[decision],
        option=option,
        comment=comment,
        decided_by=decided_by,
    )


def schedule(
    cron: Optional[str] = None,
    timezone: Optional[str] = None,
    input: JSON = None,
    enabled: Optional[bool] = None,
    overlap_policy: Optional[str] = None,
    user_id: Optional[str] = None,
    catch_up: Optional[str] = None,
    version: Optional[int] = None,
    schedule_id: str = "",
) -> schedules.Schedule:
    """A ``Schedule`` with the fields given; unset ones keep their defaults."""
    message = schedules.Schedule(id=schedule_id)
    if cron is not None:
        message.cron_expression = cron
    if timezone is not None:
        message.timezone = timezone
    if input is not None:
        message.input_data.CopyFrom(to_value(input))
    if enabled is not None:
        message.enabled = enabled
    if overlap_policy is not None:
        message.overlap_policy = OVERLAP[overlap_policy]
    if user_id is not None:
        message.user_id = user_id
    if catch_up is not None:
        message.catch_up = CATCH_UP[catch_up]
    if version is not None:
        message.version = version
    return message


#: The Schedule field each keyword of ``update_schedule`` replaces.
_SCHEDULE_PATHS = {
    "cron": "cron_expression",
    "timezone": "timezone",
    "input": "input_data",
    "enabled": "enabled",
    "overlap_policy": "overlap_policy",
    "user_id": "user_id",
    "catch_up": "catch_up",
    "version": "version",
}


def update_schedule(schedule_id: str, changes: Mapping[str, Any]) -> schedules.UpdateScheduleRequest:
    """Replaces exactly the fields given (``None`` means "leave it")."""
    given = {key: value for key, value in changes.items() if value is not None}
    message = schedule(schedule_id=schedule_id, **given)
    mask = field_mask_pb2.FieldMask(paths=[_SCHEDULE_PATHS[key] for key in given])
    return schedules.UpdateScheduleRequest(schedule=message, update_mask=mask)


def list_templates(
    category: str, is_builtin: Optional[bool], tag: str, limit: int, offset: int
) -> templates.ListTemplatesRequest:
    request = templates.ListTemplatesRequest(category=category, tag=tag, limit=limit, offset=offset)
    if is_builtin is not None:
        request.is_builtin = is_builtin
    return request


def create_template(
    name: str,
    description: str,
    category: str,
    tags: Sequence[str],
    definition: Optional[Definition],
    from_workflow: str,
    version: int,
) -> templates.CreateTemplateRequest:
    template = templates.Template(name=name, description=description, category=category, tags=list(tags))
    if definition is not None:
        template.workflow.CopyFrom(to_workflow(definition))
    return templates.CreateTemplateRequest(template=template, workflow_id=from_workflow, workflow_version=version)


def install_template(
    template_id: str, name: str, tags: Sequence[str], status: Optional[str]
) -> templates.InstallTemplateRequest:
    return templates.InstallTemplateRequest(
        template_id=template_id,
        name=name,
        tags=list(tags),
        status=WORKFLOW_STATUSES[status] if status else workflow_pb2.WORKFLOW_STATUS_UNSPECIFIED,
    )
