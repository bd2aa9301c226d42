"""Native result objects: what the clients hand back instead of protobuf.

Runs, step results, events and approvals come back as frozen dataclasses
of plain Python: statuses are ``str``-valued enums (``RunStatus.COMPLETED
== "completed"``), inputs, outputs, state and event data are ``dict`` /
``list`` JSON, timestamps are timezone-aware UTC ``datetime`` (``None``
when unset), durations are seconds, and costs are :class:`Money`. Each
keeps the generated message it was made from at ``.raw``.

This module owns the conversions from the generated messages (one
direction only; requests are built in ``_requests.py``). A status value a
newer server sends and this SDK does not know reads as ``UNSPECIFIED``
rather than failing the call; ``.raw`` still has the number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Dict, Generic, List, Optional, Type, TypeVar

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from weftflow._json import from_struct, from_value
from weftflow.v1 import approval_service_pb2, common_pb2, run_pb2, workflow_pb2, workflow_service_pb2


class _Status(str, Enum):
    """A status written as the documents write it; compares equal to that string."""

    def __str__(self) -> str:
        return str(self.value)

    def __repr__(self) -> str:
        return repr(self.value)


class RunStatus(_Status):
    """Lifecycle status of a run."""

    UNSPECIFIED = "unspecified"
    QUEUED = "queued"
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    PARTIAL = "partial"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True once the run can change no more (completed, failed, partial, cancelled)."""
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.PARTIAL, RunStatus.CANCELLED)


class StepStatus(_Status):
    """Status of one step within a run. ``READY``: waiting for a worker (see
    :attr:`StepRun.waiting_for`) or a scheduler slot."""

    UNSPECIFIED = "unspecified"
    PENDING = "pending"
    READY = "ready"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class WorkflowStatus(_Status):
    """Status of a workflow definition."""

    UNSPECIFIED = "unspecified"
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class ApprovalStatus(_Status):
    """Status of an approval."""

    UNSPECIFIED = "unspecified"
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    ESCALATED = "escalated"


class ApplyOutcome(_Status):
    """What ``workflows.apply`` did."""

    UNSPECIFIED = "unspecified"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


_E = TypeVar("_E", bound=_Status)


def enum_value(kind: Type[_E], enum_name: str) -> _E:
    """``RUN_STATUS_COMPLETED`` (a generated enum value's name) as ``kind``'s member.

    The generated names are ``<PREFIX>_<VALUE>``; the member whose value is
    the lower-cased tail wins. Unknown names read as UNSPECIFIED."""
    lowered = enum_name.lower()
    for member in kind:
        if lowered.endswith("_" + member.value):
            return member
    return kind("unspecified")


def _enum(kind: Type[_E], descriptor_enum: Any, number: int) -> _E:
    try:
        name = descriptor_enum.Name(number)
    except ValueError:  # a value newer than this SDK
        return kind("unspecified")
    return enum_value(kind, name)


def _time(message: Message, name: str) -> Optional[datetime]:
    if not message.HasField(name):
        return None
    stamp: timestamp_pb2.Timestamp = getattr(message, name)
    return stamp.ToDatetime(tzinfo=timezone.utc)


def _json(message: Message, name: str) -> Any:
    return from_value(getattr(message, name)) if message.HasField(name) else None


@dataclass(frozen=True)
class Money:
    """An amount in the currency's minor unit (cents), e.g. ``Money(12, "usd")``."""

    amount: int
    currency: str = "usd"

    @staticmethod
    def from_pb(message: common_pb2.Money) -> Money:
        return Money(int(message.amount), message.currency or "usd")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} cents"


#: Costs are money; the documents call them cost.
Cost = Money


@dataclass(frozen=True)
class RunError:
    """Why a run failed: a stable ``code``, a ``message``, and the step, if any."""

    code: str
    message: str
    step_id: str = ""


@dataclass(frozen=True)
class PendingAction:
    """What a paused run waits for (``type``: approval, confirmation, event,
    tool_approval, cost_exceeded or manual)."""

    step: str
    type: str
    message: str
    options: List[str]
    event: str
    approval_id: str
    tool: str
    expires_at: Optional[datetime]


@dataclass(frozen=True, repr=False)
class StepRun:
    """The result of one step within a run."""

    id: str
    type: str
    status: StepStatus
    attempts: int
    output: Any
    error: str
    cost: Money
    #: Seconds from start to end (or to now while it runs).
    duration: int
    parent_id: str
    item_index: Optional[int]
    #: Why a READY step has not started, once it has waited a while, e.g.
    #: "a worker for agent 'web-researcher'". Empty otherwise.
    waiting_for: str
    started_at: Optional[datetime]
    completed_at: Optional[datetime]
    #: The input of the latest attempt, for steps run as a task (agent,
    #: planner, webhook, http_request, script): the task's input as it was
    #: handed over. None for steps the engine runs itself, pending steps, and
    #: in every answer but ``runs.get`` (starting, executing or acting on a
    #: run leaves it out).
    input: Any
    #: The worker that claimed the latest attempt, as registered. Empty
    #: before a claim, for steps the server runs itself, and in every answer
    #: but ``runs.get``.
    worker_id: str
    raw: run_pb2.StepRun = field(compare=False)

    @staticmethod
    def from_pb(message: run_pb2.StepRun) -> StepRun:
        return StepRun(
            id=message.id,
            type=message.type,
            status=_enum(StepStatus, run_pb2.StepStatus, message.status),
            attempts=message.attempts,
            output=_json(message, "output"),
            error=message.error,
            cost=Money.from_pb(message.cost),
            duration=message.duration,
            parent_id=message.parent_id,
            item_index=message.item_index if message.HasField("item_index") else None,
            waiting_for=message.waiting_for,
            started_at=_time(message, "start_time"),
            completed_at=_time(message, "complete_time"),
            input=_json(message, "input"),
            worker_id=message.worker_id,
            raw=message,
        )

    def __repr__(self) -> str:
        parts = [f"id={self.id!r}", f"status={str(self.status)!r}"]
        if self.output is not None:
            parts.append(f"output={self.output!r}")
        if self.error:
            parts.append(f"error={self.error!r}")
        if self.waiting_for:
            parts.append(f"waiting_for={self.waiting_for!r}")
        return f"StepRun({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
class Run:
    """One execution of a workflow: ``status``, ``input``, ``output``,
    ``state``, per-step results in ``steps`` (see :meth:`step`), ``cost``."""

    id: str
    workflow_id: str
    workflow_version: int
    status: RunStatus
    input: Any
    output: Any
    #: The shared state bag, as it stands.
    state: Dict[str, Any]
    steps: List[StepRun]
    cost: Money
    #: Seconds from start to completion (or to now while it runs).
    duration: int
    error: Optional[RunError]
    pending_action: Optional[PendingAction]
    can_retry_from: str
    cancel_reason: str
    trigger: str
    user_id: str
    idempotency_key: str
    retry_of_run_id: str
    schedule_id: str
    created_at: Optional[datetime]
    started_at: Optional[datetime]
    completed_at: Optional[datetime]
    #: For a run a schedule started: the cron time it stands for.
    scheduled_at: Optional[datetime]
    raw: run_pb2.Run = field(compare=False)

    @staticmethod
    def from_pb(message: run_pb2.Run) -> Run:
        error = None
        if message.HasField("error"):
            error = RunError(message.error.code, message.error.message, message.error.step_id)
        pending = None
        if message.HasField("pending_action"):
            action = message.pending_action
            pending = PendingAction(
                step=action.step,
                type=action.type,
                message=action.message,
                options=list(action.options),
                event=action.event,
                approval_id=action.approval_id,
                tool=action.tool,
                expires_at=_time(action, "expire_time"),
            )
        return Run(
            id=message.id,
            workflow_id=message.workflow_id,
            workflow_version=message.workflow_version,
            status=_enum(RunStatus, run_pb2.RunStatus, message.status),
            input=_json(message, "input"),
            output=_json(message, "output"),
            state=from_struct(message.shared_state) if message.HasField("shared_state") else {},
            steps=[StepRun.from_pb(step) for step in message.steps],
            cost=Money.from_pb(message.cost),
            duration=message.duration,
            error=error,
            pending_action=pending,
            can_retry_from=message.can_retry_from,
            cancel_reason=message.cancel_reason,
            trigger=message.trigger,
            user_id=message.user_id,
            idempotency_key=message.idempotency_key,
            retry_of_run_id=message.retry_of_run_id,
            schedule_id=message.schedule_id,
            created_at=_time(message, "create_time"),
            started_at=_time(message, "start_time"),
            completed_at=_time(message, "complete_time"),
            scheduled_at=_time(message, "scheduled_time"),
            raw=message,
        )

    def step(self, step_id: str) -> StepRun:
        """The result of step ``step_id``; ``KeyError`` if the run has none."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"run {self.id} has no step {step_id!r}")

    @property
    def done(self) -> bool:
        """True once the run reached a terminal status."""
        return self.status.terminal

    def __repr__(self) -> str:
        parts = [f"id={self.id!r}", f"status={str(self.status)!r}"]
        if self.output is not None or self.status == RunStatus.COMPLETED:
            parts.append(f"output={self.output!r}")
        if self.error is not None:
            parts.append(f"error={self.error.code}: {self.error.message!r}")
        waiting = [f"{s.id}: {s.waiting_for}" for s in self.steps if s.waiting_for]
        if waiting:
            parts.append(f"waiting_for={waiting!r}")
        if self.pending_action is not None:
            parts.append(f"pending={self.pending_action.type!r}")
        return f"Run({', '.join(parts)})"


@dataclass(frozen=True, repr=False)
class RunEvent:
    """One change in a run's life. ``status`` is the step's status for
    ``step.*`` events and the run's for ``run.*`` ones (a plain string);
    fields that do not apply to the ``type`` are empty or ``None``."""

    run_id: str
    sequence: int
    type: str
    step_id: str
    status: str
    output: Any
    error: str
    cost: Optional[Money]
    total_cost: Optional[Money]
    can_retry_from: str
    action: str
    #: Seconds (for terminal run events and step.completed / step.failed).
    duration: int
    data: Dict[str, Any]
    timestamp: Optional[datetime]
    raw: run_pb2.RunEvent = field(compare=False)

    @staticmethod
    def from_pb(message: run_pb2.RunEvent) -> RunEvent:
        return RunEvent(
            run_id=message.run_id,
            sequence=message.sequence,
            type=message.type,
            step_id=message.step_id,
            status=message.status,
            output=_json(message, "output"),
            error=message.error,
            cost=Money.from_pb(message.cost) if message.HasField("cost") else None,
            total_cost=Money.from_pb(message.total_cost) if message.HasField("total_cost") else None,
            can_retry_from=message.can_retry_from,
            action=message.action,
            duration=message.duration_seconds,
            data=from_struct(message.data) if message.HasField("data") else {},
            timestamp=_time(message, "create_time"),
            raw=message,
        )

    def __repr__(self) -> str:
        parts = [f"#{self.sequence}", self.type]
        if self.step_id:
            parts.append(f"step={self.step_id!r}")
        if self.status:
            parts.append(f"status={self.status!r}")
        if self.output is not None:
            parts.append(f"output={self.output!r}")
        if self.error:
            parts.append(f"error={self.error!r}")
        return f"RunEvent({' '.join(parts)})"


@dataclass(frozen=True, repr=False)
class Approval:
    """A decision awaited from a person: an approval step or a gated tool."""

    id: str
    run_id: str
    workflow_id: str
    step_id: str
    #: "step" or "tool_use".
    kind: str
    action: str
    tool: str
    tool_arguments: Dict[str, Any]
    message: str
    options: List[str]
    status: ApprovalStatus
    #: "approve", "deny" or "escalate"; "" before a decision.
    decision: str
    default_action: str
    option: str
    comment: str
    decided_by: str
    expires_at: Optional[datetime]
    decided_at: Optional[datetime]
    created_at: Optional[datetime]
    raw: approval_service_pb2.Approval = field(compare=False)

    @staticmethod
    def from_pb(message: approval_service_pb2.Approval) -> Approval:
        def word(descriptor_enum: Any, number: int, prefix: str) -> str:
            if number == 0:
                return ""
            try:
                return str(descriptor_enum.Name(number)).removeprefix(prefix).lower()
            except ValueError:
                return ""

        return Approval(
            id=message.id,
            run_id=message.run_id,
            workflow_id=message.workflow_id,
            step_id=message.step_id,
            kind=word(approval_service_pb2.ApprovalKind, message.kind, "APPROVAL_KIND_"),
            action=message.action,
            tool=message.tool,
            tool_arguments=from_struct(message.tool_arguments) if message.HasField("tool_arguments") else {},
            message=message.message,
            options=list(message.options),
            status=_enum(ApprovalStatus, approval_service_pb2.ApprovalStatus, message.status),
            decision=word(approval_service_pb2.ApprovalDecision, message.decision, "APPROVAL_DECISION_"),
            default_action=word(approval_service_pb2.ApprovalDecision, message.default_action, "APPROVAL_DECISION_"),
            option=message.option,
            comment=message.comment,
            decided_by=message.decided_by,
            expires_at=_time(message, "expire_time"),
            decided_at=_time(message, "decide_time"),
            created_at=_time(message, "create_time"),
            raw=message,
        )

    def __repr__(self) -> str:
        what = self.tool or self.action
        return f"Approval(id={self.id!r}, status={str(self.status)!r}, action={what!r}, run_id={self.run_id!r})"


def workflow_status(message: workflow_pb2.Workflow) -> WorkflowStatus:
    return _enum(WorkflowStatus, workflow_pb2.WorkflowStatus, message.status)


def apply_outcome(number: int) -> ApplyOutcome:
    return _enum(ApplyOutcome, workflow_service_pb2.ApplyOutcome, number)


def timestamp(message: Message, name: str) -> Optional[datetime]:
    """A Timestamp field as an aware UTC datetime, ``None`` when unset."""
    return _time(message, name)


class WorkflowView:
    """The read side of a workflow from the server, shared by the sync and
    asyncio handles: ``id``, ``name``, ``version``, ``status``, ``tags``,
    timestamps, and ``outcome`` when it came from ``workflows.apply``."""

    def __init__(self, message: workflow_pb2.Workflow, outcome: Optional[ApplyOutcome] = None) -> None:
        #: The ``Workflow`` message as the server answered it.
        self.raw = message
        #: For a workflow returned by ``apply``: created, updated or unchanged.
        self.outcome = outcome

    @property
    def message(self) -> workflow_pb2.Workflow:
        """The ``Workflow`` message (the same as :attr:`raw`)."""
        return self.raw

    @property
    def id(self) -> str:
        return self.raw.id

    @property
    def name(self) -> str:
        return self.raw.name

    @property
    def version(self) -> int:
        return self.raw.version

    @property
    def description(self) -> str:
        return self.raw.description

    @property
    def tags(self) -> List[str]:
        return list(self.raw.tags)

    @property
    def status(self) -> WorkflowStatus:
        return workflow_status(self.raw)

    @property
    def step_ids(self) -> List[str]:
        """Ids of the top-level steps, in definition order."""
        return [step.id for step in self.raw.steps]

    @property
    def created_at(self) -> Optional[datetime]:
        return _time(self.raw, "create_time")

    @property
    def updated_at(self) -> Optional[datetime]:
        return _time(self.raw, "update_time")

    def __repr__(self) -> str:
        parts = [f"id={self.id!r}", f"name={self.name!r}", f"version={self.version}", f"status={str(self.status)!r}"]
        if self.outcome is not None:
            parts.append(f"outcome={str(self.outcome)!r}")
        return f"Workflow({', '.join(parts)})"


@dataclass(frozen=True)
class RunPage:
    """One page of runs, newest first (``Runs.list_page``)."""

    runs: List[Run]
    #: Pass it as ``page_token`` for the next page; ``""`` on the last page.
    next_page_token: str
    #: Runs matching the filters, across all pages.
    total: int


@dataclass(frozen=True)
class ApprovalPage:
    """One page of approvals, newest first (``Approvals.list_page``)."""

    approvals: List[Approval]
    #: Pass it as ``page_token`` for the next page; ``""`` on the last page.
    next_page_token: str
    #: Approvals matching the filters, across all pages.
    total: int


#: The workflow handle a page holds: the sync or the asyncio client's.
H = TypeVar("H", bound=WorkflowView)


@dataclass(frozen=True)
class WorkflowPage(Generic[H]):
    """One page of workflows (``Workflows.list_page``)."""

    workflows: List[H]
    #: Pass it as ``page_token`` for the next page; ``""`` on the last page.
    next_page_token: str
    #: Workflows matching the filters, across all pages.
    total: int
