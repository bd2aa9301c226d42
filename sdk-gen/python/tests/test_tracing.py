"""Trace continuation in the worker, without a server: the worker's task
handling (``Worker._execute``, which the stream and the polling worker
share) is fed Tasks whose ``trace_context`` we choose, and the spans an
in-memory exporter receives are checked: the handler's span is a child of
the run's context, carries the task's ids, is current inside async and
plain handlers, records a handler's error; an empty or malformed context
gives a root span and the task still completes. Without the OpenTelemetry
API nothing changes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, cast

import pytest
from opentelemetry import propagate, trace
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from weftflow import AsyncWeft, TaskContext, TaskError, Worker
from weftflow._tracing import start_task_span, tracing_available
from weftflow._worker_stream import UnaryLink
from weftflow.v1 import worker_pb2, worker_service_pb2 as pb

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
SDK = Path(__file__).resolve().parent.parent


class RecordingLink(UnaryLink):
    """A link that takes every report at once and keeps them."""

    def __init__(self) -> None:
        super().__init__(cast(AsyncWeft, None))
        self.completed: List[pb.CompleteTaskRequest] = []
        self.failed: List[pb.FailTaskRequest] = []

    async def heartbeat(self, request: pb.HeartbeatRequest, until: float) -> pb.HeartbeatResponse:
        return pb.HeartbeatResponse()

    async def complete(self, request: pb.CompleteTaskRequest, until: float) -> None:
        self.completed.append(request)

    async def fail(self, request: pb.FailTaskRequest, until: float) -> None:
        self.failed.append(request)


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    spans = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    yield spans
    spans.shutdown()


@pytest.fixture()
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    exporter.clear()
    yield exporter
    exporter.clear()


def make_task(trace_context: Dict[str, str], agent: str = "traced-agent") -> worker_pb2.Task:
    return worker_pb2.Task(
        task_id="task_1", run_id="wfrun_1", workflow_id="wf_1", step_id="research",
        agent=agent, attempt=2, lease_token=7, trace_context=trace_context,
    )


def run_task(worker: Worker, task: worker_pb2.Task) -> RecordingLink:
    """Runs one task through the worker's task handling; returns what it reported."""
    link = RecordingLink()

    async def go() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            await worker._execute(cast(AsyncWeft, None), link, executor, task, 60.0, 1e12, 60.0)

    asyncio.run(go())
    return link


def only_span(spans: InMemorySpanExporter) -> ReadableSpan:
    finished = spans.get_finished_spans()
    assert len(finished) == 1, [s.name for s in finished]
    spans.clear()
    return finished[0]


def assert_child_of_run(span: ReadableSpan) -> None:
    assert span.name == "weft.task traced-agent"
    assert span.kind == SpanKind.CONSUMER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_SPAN_ID
    assert span.parent.is_remote
    assert dict(span.attributes or {}) == {
        "weft.run_id": "wfrun_1", "weft.workflow_id": "wf_1", "weft.step_id": "research",
        "weft.task_id": "task_1", "weft.agent": "traced-agent", "weft.attempt": 2,
    }


def test_an_async_handler_runs_in_a_span_child_of_the_task_context(spans: InMemorySpanExporter) -> None:
    worker = Worker("http://127.0.0.1:1")
    seen: Dict[str, int] = {}

    @worker.agent("traced-agent")  # the decorator worker
    async def handle(task: TaskContext) -> Any:
        await asyncio.sleep(0.005)
        # After an await, still the handler's span: its own spans nest under it.
        seen["current"] = trace.get_current_span().get_span_context().span_id
        return {"done": True}

    link = run_task(worker, make_task({"traceparent": TRACEPARENT, "tracestate": "vendor=abc"}))
    assert len(link.completed) == 1 and not link.failed
    span = only_span(spans)
    assert_child_of_run(span)
    assert span.parent is not None and span.parent.trace_state.get("vendor") == "abc"
    assert seen["current"] == span.context.span_id
    assert span.status.status_code == StatusCode.UNSET


def test_a_plain_handler_in_its_thread_runs_in_the_span(spans: InMemorySpanExporter) -> None:
    seen: Dict[str, Any] = {}

    def handle(task: TaskContext) -> Any:
        seen["thread"] = threading.current_thread()
        seen["current"] = trace.get_current_span().get_span_context().span_id
        return "plain"

    link = run_task(Worker("http://127.0.0.1:1").agent("traced-agent", handle), make_task({"traceparent": TRACEPARENT}))
    assert len(link.completed) == 1
    span = only_span(spans)
    assert_child_of_run(span)
    assert seen["thread"] is not threading.main_thread()
    assert seen["current"] == span.context.span_id


def test_a_handler_error_is_recorded_and_the_task_fails_as_before(spans: InMemorySpanExporter) -> None:
    async def handle(task: TaskContext) -> Any:
        raise TaskError("upstream down", retryable=False, code="UPSTREAM_DOWN")

    link = run_task(Worker("http://127.0.0.1:1").agent("traced-agent", handle), make_task({"traceparent": TRACEPARENT}))
    assert [f.error for f in link.failed] == ["upstream down"] and not link.completed
    span = only_span(spans)
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.status.status_code == StatusCode.ERROR
    assert "upstream down" in (span.status.description or "")
    exception = next(e for e in span.events if e.name == "exception")
    assert (exception.attributes or {}).get("exception.message") == "upstream down"


@pytest.mark.parametrize(
    "carrier",
    [
        {},
        {"traceparent": ""},
        {"traceparent": "garbage"},
        {"traceparent": f"00-{'0' * 32}-{PARENT_SPAN_ID}-01"},  # all-zero trace id
        {"traceparent": f"ff-{TRACE_ID}-{PARENT_SPAN_ID}-01"},  # version ff is invalid
        {"traceparent": f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01-extra"},  # version 00 has four fields
        {"tracestate": "vendor=abc"},  # a tracestate without a traceparent
    ],
)
def test_an_empty_or_malformed_context_gives_a_root_span(spans: InMemorySpanExporter, carrier: Dict[str, str]) -> None:
    async def handle(task: TaskContext) -> Any:
        return "ok"

    link = run_task(Worker("http://127.0.0.1:1").agent("traced-agent", handle), make_task(carrier))
    assert len(link.completed) == 1 and not link.failed
    span = only_span(spans)
    assert span.parent is None
    assert format(span.context.trace_id, "032x") != TRACE_ID


def test_a_propagator_for_another_format_still_reads_the_w3c_traceparent(spans: InMemorySpanExporter) -> None:
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([]))
    try:
        span_wrapper = start_task_span(make_task({"traceparent": TRACEPARENT}))
        assert span_wrapper is not None
        span_wrapper.end()
        assert_child_of_run(only_span(spans))
    finally:
        propagate.set_global_textmap(before)


def test_the_workers_own_span_is_no_tasks_parent(spans: InMemorySpanExporter) -> None:
    async def handle(task: TaskContext) -> Any:
        return "ok"

    worker = Worker("http://127.0.0.1:1").agent("traced-agent", handle)
    with trace.get_tracer("test").start_as_current_span("around worker.run"):
        run_task(worker, make_task({}))
    task_span: Optional[ReadableSpan] = next(s for s in spans.get_finished_spans() if s.name == "weft.task traced-agent")
    assert task_span is not None and task_span.parent is None


def test_without_opentelemetry_nothing_changes() -> None:
    # A fresh interpreter where `import opentelemetry` fails, as it does
    # where the package is not installed.
    script = textwrap.dedent(
        """
        import asyncio, sys
        from concurrent.futures import ThreadPoolExecutor
        sys.modules["opentelemetry"] = None
        from weftflow import Worker
        from weftflow._tracing import start_task_span, tracing_available
        from weftflow.v1 import worker_pb2
        from weftflow._worker_stream import UnaryLink

        class RecordingLink(UnaryLink):
            def __init__(self):
                super().__init__(None)
                self.completed, self.failed = [], []
            async def complete(self, request, until):
                self.completed.append(request)
            async def fail(self, request, until):
                self.failed.append(request)

        assert not tracing_available()
        task = worker_pb2.Task(task_id="t", agent="a", trace_context={"traceparent": "%s"})
        assert start_task_span(task) is None
        link = RecordingLink()
        async def go():
            with ThreadPoolExecutor(1) as executor:
                await Worker("http://127.0.0.1:1").agent("a", lambda t: 1)._execute(None, link, executor, task, 60.0, 1e12, 60.0)
        asyncio.run(go())
        assert len(link.completed) == 1, link.failed
        print("ok")
        """
        % TRACEPARENT
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=SDK, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert tracing_available()
