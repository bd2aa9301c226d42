"""Trace continuation for task handlers: each task's handler runs inside a
span (``weft.task <agent>``) whose parent is the run's W3C Trace Context,
which the server sends as ``Task.trace_context`` (an OpenTelemetry text-map
carrier: ``traceparent``, maybe ``tracestate``). The worker's span, and every
span the handler makes, then joins the run's trace.

Only when the OpenTelemetry API (``opentelemetry-api``, the ``weftflow[otel]``
extra) imports: without it :func:`start_task_span` returns None and nothing
else changes. The API is only a facade; where the spans go is whatever
tracer provider the application set (none: they are no-ops).

A missing, empty or malformed context is never an error: the span is then a
root span.

The other way round, the clients send the current span's context as W3C
``traceparent`` (and ``tracestate``) metadata on the calls that start a run
(:func:`trace_metadata`), so a run started inside a span joins the caller's
trace.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING, Dict, Iterator, Mapping, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span

    from weftflow.v1 import worker_pb2

#: The instrumentation scope of the worker's spans.
TRACER_NAME = "weftflow"


@functools.lru_cache(maxsize=None)
def tracing_available() -> bool:
    """Whether the OpenTelemetry API imports (checked once, on the first task)."""
    try:
        import opentelemetry.context  # noqa: F401
        import opentelemetry.propagate  # noqa: F401
        import opentelemetry.trace  # noqa: F401
    except ImportError:
        return False
    return True


class TaskSpan:
    """A handler's span, open while the handler runs."""

    __slots__ = ("_span", "_active", "_ended")

    def __init__(self, span: Span, active: Context) -> None:
        self._span = span
        self._active = active
        self._ended = False

    @contextlib.contextmanager
    def activated(self) -> Iterator[None]:
        """Makes the span the current one inside the block: tasks and
        ``contextvars`` copies made there (the handler's) keep it."""
        from opentelemetry import context

        token = context.attach(self._active)
        try:
            yield
        finally:
            context.detach(token)

    def end(self, error: Optional[BaseException] = None, stopped: bool = False) -> None:
        """Ends the span (once): ``error`` is recorded on it; ``stopped`` says
        the run was cancelled or the lease lost."""
        if self._ended:
            return
        self._ended = True
        from opentelemetry.trace import Status, StatusCode

        if error is not None:
            self._span.record_exception(error)
            self._span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        if stopped:
            self._span.set_attribute("weft.stopped", True)
        self._span.end()


def start_task_span(task: worker_pb2.Task) -> Optional[TaskSpan]:
    """Starts the span of ``task``'s handler, child of the run's trace
    context; None without the OpenTelemetry API."""
    if not tracing_available():
        return None
    from opentelemetry import trace

    parent = _parent_context(task.trace_context)
    span = trace.get_tracer(TRACER_NAME).start_span(
        f"weft.task {task.agent}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "weft.run_id": task.run_id,
            "weft.workflow_id": task.workflow_id,
            "weft.step_id": task.step_id,
            "weft.task_id": task.task_id,
            "weft.agent": task.agent,
            "weft.attempt": task.attempt,
        },
    )
    return TaskSpan(span, trace.set_span_in_context(span, parent))


def _parent_context(carrier: Mapping[str, str]) -> Context:
    """The context the carrier names, over an empty one (never the worker's
    current context: a span around ``worker.run()`` is no task's parent).
    The global propagator first; when it finds no span context (it was set
    to read another format), the W3C one, which the contract names."""
    from opentelemetry import propagate, trace
    from opentelemetry.context import Context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    root = Context()
    if not carrier:
        return root
    # A plain dict: the getter reads keys of any mapping, and a copy keeps
    # the protobuf map out of third-party propagators.
    plain = dict(carrier)
    for propagator in (propagate.get_global_textmap(), TraceContextTextMapPropagator()):
        try:
            extracted = propagator.extract(plain, context=root)
        except Exception:  # a propagator failing on bad input: no context
            continue
        if trace.get_current_span(extracted).get_span_context().is_valid:
            return extracted
    return root


def trace_metadata(metadata: Sequence[Tuple[str, str]]) -> Tuple[Tuple[str, str], ...]:
    """``metadata`` plus the current span's context as W3C ``traceparent`` /
    ``tracestate`` (always that format, whatever the global propagator: it
    is what the server reads); unchanged without the OpenTelemetry API,
    without a current span, or when ``metadata`` has a ``traceparent``
    already (the application's wins)."""
    if not tracing_available() or any(key == "traceparent" for key, _ in metadata):
        return tuple(metadata)
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: Dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return (*metadata, *((key, value) for key, value in carrier.items() if key in ("traceparent", "tracestate")))
