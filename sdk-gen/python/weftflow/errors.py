"""Typed errors.

Every failed call raises a :class:`WeftError` subclass chosen by the gRPC
status code, carrying what the server put in ``grpc-status-details-bin``:
the ``google.rpc.ErrorInfo`` reason (``WORKFLOW_NOT_FOUND``,
``VALIDATION_ERROR``, ...) and the ``google.rpc.BadRequest`` field
violations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field of a request."""

    #: Path of the field (``steps[2].dependsOn``, ``input.website``).
    field: str
    #: What is wrong with it.
    description: str
    #: Machine-readable problem code (``UNKNOWN_DEPENDENCY``), when given.
    reason: str = ""


class WeftError(Exception):
    """Any error answered by Weft (or the transport on its way)."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: Optional[Mapping[str, str]] = None,
        field_violations: Sequence[FieldViolation] = (),
    ) -> None:
        super().__init__(f"[{code.name}] {message}")
        #: The gRPC status code.
        self.code = code
        #: The server's message.
        self.message = message
        #: The ``ErrorInfo`` reason, UPPER_SNAKE, or "".
        self.reason = reason
        #: The ``ErrorInfo`` domain (``weft.dev``), or "".
        self.domain = domain
        #: The ``ErrorInfo`` metadata.
        self.metadata: Dict[str, str] = dict(metadata or {})
        #: The ``BadRequest`` field violations (empty when none).
        self.field_violations: List[FieldViolation] = list(field_violations)


class NotFoundError(WeftError):
    """NOT_FOUND: an unknown workflow, version, run, approval, ..."""


class InvalidArgumentError(WeftError):
    """INVALID_ARGUMENT: see :attr:`WeftError.field_violations`."""


class FailedPreconditionError(WeftError):
    """FAILED_PRECONDITION: the action does not fit the current state."""


class AbortedError(WeftError):
    """ABORTED: a conflict (stale ``expected_version``, stale lease)."""


class AlreadyExistsError(WeftError):
    """ALREADY_EXISTS."""


class UnimplementedError(WeftError):
    """UNIMPLEMENTED: the RPC is not built on this server yet."""


class UnavailableError(WeftError):
    """UNAVAILABLE: the server or its database cannot answer now; retry."""


class ResourceExhaustedError(WeftError):
    """RESOURCE_EXHAUSTED: a size or concurrency limit."""


class DeadlineExceededError(WeftError):
    """DEADLINE_EXCEEDED."""


class PermissionError_(WeftError):
    """UNAUTHENTICATED or PERMISSION_DENIED."""


class CancelledError(WeftError):
    """CANCELLED: the call was cancelled by the caller."""


_CLASSES: Dict[grpc.StatusCode, Type[WeftError]] = {
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.UNIMPLEMENTED: UnimplementedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAUTHENTICATED: PermissionError_,
    grpc.StatusCode.PERMISSION_DENIED: PermissionError_,
    grpc.StatusCode.CANCELLED: CancelledError,
}

Metadata = Optional[Sequence[Tuple[str, Union[str, bytes]]]]


def error_from_status(code: grpc.StatusCode, message: str, trailers: Metadata) -> WeftError:
    """The typed error for a status code, message and trailing metadata."""
    reason = domain = ""
    metadata: Dict[str, str] = {}
    violations: List[FieldViolation] = []
    for key, raw in trailers or ():
        if key != _DETAILS_KEY or not isinstance(raw, bytes):
            continue
        try:
            status = status_pb2.Status.FromString(raw)
        except Exception:  # a malformed detail leaves the code and message
            continue
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations = [
                    FieldViolation(v.field, v.description, getattr(v, "reason", ""))
                    for v in bad.field_violations
                ]
    kind = _CLASSES.get(code, WeftError)
    return kind(code, message, reason=reason, domain=domain, metadata=metadata, field_violations=violations)


_CODES: Dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def error_from_rpc_status(status: status_pb2.Status) -> WeftError:
    """The typed error for a ``google.rpc.Status`` carried in a message (a
    worker stream's ``ReportAnswer.error``): the same error its unary call
    would have raised, details included."""
    code = _CODES.get(status.code, grpc.StatusCode.UNKNOWN)
    return error_from_status(code, status.message, [(_DETAILS_KEY, status.SerializeToString())])


def error_from_rpc(error: grpc.RpcError) -> WeftError:
    """The typed error for a failed call (sync or asyncio)."""
    if isinstance(error, grpc.aio.AioRpcError):
        trailers = error.trailing_metadata()
        return error_from_status(error.code(), error.details() or "", list(trailers) if trailers else None)
    if isinstance(error, grpc.Call):
        return error_from_status(error.code(), error.details() or "", error.trailing_metadata())
    return WeftError(grpc.StatusCode.UNKNOWN, str(error))
