"""``weftflow``: the Python client of the Weft workflow engine.

- :class:`Weft` (sync) and :class:`AsyncWeft` (asyncio): ``workflows``,
  ``runs``, ``approvals``, ``schedules``, ``templates``, ``triggers``,
  over gRPC;
- :func:`fire_webhook`: call an armed workflow webhook, signed;
- :func:`workflow`: the typed builder;
- :class:`Worker`: serve agents with plain or async functions;
- typed errors (:class:`NotFoundError`, :class:`InvalidArgumentError`, ...).

The generated messages and stubs are under ``weftflow.v1`` (proto package ``weft.v1``).
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
from weftflow.webhooks import WebhookRefused, fire_webhook
from weftflow.worker import Outcome, RunningWorker, TaskContext, TaskError, ToolVerdict, Worker

__all__ = [
    "JSON",
    "AbortedError",
    "AlreadyExistsError",
    "AsyncWeft",
    "AsyncWorkflowHandle",
    "CancelledError",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InvalidArgumentError",
    "NotFoundError",
    "Outcome",
    "PermissionError_",
    "ResourceExhaustedError",
    "RunningWorker",
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
    "fire_webhook",
    "format_money",
    "from_struct",
    "from_value",
    "run_status_name",
    "to_money",
    "to_policy",
    "to_step",
    "to_struct",
    "to_value",
    "workflow",
]
