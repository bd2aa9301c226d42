"""``weftflow``: the Python SDK of the Weft workflow engine.

- :class:`Weft` (sync) and :class:`AsyncWeft` (asyncio): ``workflows``
  (``apply``, ``create``, ...), ``runs`` (``start``, ``execute``, ``get``,
  ``stream``, ...), ``approvals``, ``schedules``, ``templates``,
  ``triggers``, over gRPC. They return native objects (:class:`Run`,
  :class:`StepRun`, :class:`RunEvent`, :class:`Approval`, workflow
  handles): ``str`` enums, plain JSON, ``datetime``, :class:`Money`, with
  the generated message at ``.raw``;
- :func:`workflow` and one typed constructor per step kind (:func:`agent`,
  :func:`transform`, :func:`condition`, :func:`map_`, ...);
- :class:`Worker`: serve agents with decorated functions, plain or async;
- :func:`fire_webhook`: call an armed workflow webhook, signed;
- typed errors (:class:`NotFoundError`, :class:`InvalidArgumentError`, ...).

The generated messages and stubs are under ``weftflow.v1`` (proto package
``weft.v1``).
"""

from weftflow._json import JSON, format_money, from_struct, from_value, to_money, to_struct, to_value
from weftflow._requests import run_status_name
from weftflow.aio import AsyncWeft, AsyncWorkflowHandle
from weftflow.builder import WorkflowBuilder, to_policy, to_step, workflow
from weftflow.client import Weft, WorkflowHandle
from weftflow.errors import (
    AbortedError,
    AlreadyExistsError,
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    NotFoundError,
    PermissionError_,
    ResourceExhaustedError,
    UnavailableError,
    UnimplementedError,
    WeftError,
)
from weftflow.models import (
    ApplyOutcome,
    Approval,
    ApprovalPage,
    ApprovalStatus,
    Cost,
    Money,
    PendingAction,
    Run,
    RunError,
    RunEvent,
    RunPage,
    RunStatus,
    StepRun,
    StepStatus,
    WorkflowPage,
    WorkflowStatus,
    WorkflowView,
)
from weftflow.steps import (
    Goto,
    Step,
    agent,
    approval,
    condition,
    delay,
    goto,
    http_request,
    loop,
    map_,
    parallel,
    planner,
    script,
    transform,
    wait,
    webhook,
)
from weftflow.webhooks import WebhookRefused, fire_webhook
from weftflow.worker import (
    NonRetryableError,
    Outcome,
    RetryableError,
    RunningWorker,
    TaskContext,
    TaskError,
    ToolVerdict,
    Worker,
)

__all__ = [
    "JSON",
    "AbortedError",
    "AlreadyExistsError",
    "ApplyOutcome",
    "Approval",
    "ApprovalPage",
    "ApprovalStatus",
    "AsyncWeft",
    "AsyncWorkflowHandle",
    "CancelledError",
    "Cost",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "Goto",
    "InvalidArgumentError",
    "Money",
    "NonRetryableError",
    "NotFoundError",
    "Outcome",
    "PendingAction",
    "PermissionError_",
    "ResourceExhaustedError",
    "RetryableError",
    "Run",
    "RunError",
    "RunEvent",
    "RunPage",
    "RunStatus",
    "RunningWorker",
    "Step",
    "StepRun",
    "StepStatus",
    "TaskContext",
    "TaskError",
    "ToolVerdict",
    "UnavailableError",
    "UnimplementedError",
    "Weft",
    "WebhookRefused",
    "WeftError",
    "Worker",
    "WorkflowBuilder",
    "WorkflowHandle",
    "WorkflowPage",
    "WorkflowStatus",
    "WorkflowView",
    "agent",
    "approval",
    "condition",
    "delay",
    "fire_webhook",
    "format_money",
    "from_struct",
    "from_value",
    "goto",
    "http_request",
    "loop",
    "map_",
    "parallel",
    "planner",
    "run_status_name",
    "script",
    "to_money",
    "to_policy",
    "to_step",
    "to_struct",
    "to_value",
    "transform",
    "wait",
    "webhook",
    "workflow",
]
