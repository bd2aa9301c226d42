"""The clients' side of tracing: the calls that start a run (start, execute,
retry_from) carry the current span's context as W3C ``traceparent``
metadata, so the run joins the caller's trace; other calls, and calls made
outside any span, carry none; a ``traceparent`` the application gave is
kept. Checked on the wire against an in-process RunService that records
what it received."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Tuple

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from weftflow import AsyncWeft, Weft
from weftflow.v1 import run_pb2, run_service_pb2 as runs_pb

Seen = List[Tuple[str, Dict[str, str]]]


class RecordingRuns:
    """Answers the run calls with a bare run and keeps each call's metadata."""

    ANSWERS: Dict[str, Tuple[Any, Any]] = {
        "StartRun": (runs_pb.StartRunRequest, runs_pb.StartRunResponse),
        "ExecuteWorkflow": (runs_pb.ExecuteWorkflowRequest, runs_pb.ExecuteWorkflowResponse),
        "RetryRunFrom": (runs_pb.RetryRunFromRequest, runs_pb.RetryRunFromResponse),
        "GetRun": (runs_pb.GetRunRequest, runs_pb.GetRunResponse),
    }

    def __init__(self) -> None:
        self.seen: Seen = []

    def handler(self) -> grpc.GenericRpcHandler:
        def answering(method: str, response: Any) -> Callable[[Any, grpc.ServicerContext], Any]:
            def answer(request: Any, context: grpc.ServicerContext) -> Any:
                self.seen.append((method, {key: str(value) for key, value in context.invocation_metadata()}))
                return response(run=run_pb2.Run(id="wfrun_1", workflow_id="wf_1"))

            return answer

        return grpc.method_handlers_generic_handler(
            "weft.v1.RunService",
            {
                method: grpc.unary_unary_rpc_method_handler(
                    answering(method, response),
                    request_deserializer=request.FromString,
                    response_serializer=lambda message: message.SerializeToString(),
                )
                for method, (request, response) in self.ANSWERS.items()
            },
        )


@pytest.fixture()
def runs_server() -> Iterator[Tuple[str, RecordingRuns]]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    runs = RecordingRuns()
    server.add_generic_rpc_handlers((runs.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", runs
    finally:
        server.stop(None)


@pytest.fixture(scope="module")
def tracer() -> trace.Tracer:
    # A recording provider, so spans have real ids (test_tracing.py may have
    # set it already: one per process).
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    return trace.get_tracer("test")


def traceparent_of(span: trace.Span) -> str:
    ids = span.get_span_context()
    return f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{int(ids.trace_flags):02x}"


def test_the_sync_client_sends_the_callers_trace_on_run_starts(runs_server: Tuple[str, RecordingRuns], tracer: trace.Tracer) -> None:
    url, runs = runs_server
    with Weft(url, api_key="k") as client:
        with tracer.start_as_current_span("caller") as span:
            client.runs.start("wf_1")
            client.runs.execute("wf_1", timeout=5)
            client.runs.retry_from("wfrun_1", "first")
            client.runs.get("wfrun_1")
        client.runs.start("wf_1")
    expected = traceparent_of(span)
    assert [(method, meta.get("traceparent")) for method, meta in runs.seen] == [
        ("StartRun", expected),
        ("ExecuteWorkflow", expected),
        ("RetryRunFrom", expected),
        ("GetRun", None),
        ("StartRun", None),
    ]
    assert all(meta.get("authorization") == "Bearer k" for _, meta in runs.seen)


def test_the_async_client_sends_the_callers_trace_on_run_starts(runs_server: Tuple[str, RecordingRuns], tracer: trace.Tracer) -> None:
    url, runs = runs_server

    async def scenario() -> str:
        async with AsyncWeft(url) as client:
            with tracer.start_as_current_span("caller") as span:
                await client.runs.start("wf_1")
                await client.runs.get("wfrun_1")
            await client.runs.start("wf_1")
            return traceparent_of(span)

    expected = asyncio.run(scenario())
    assert [(method, meta.get("traceparent")) for method, meta in runs.seen] == [
        ("StartRun", expected),
        ("GetRun", None),
        ("StartRun", None),
    ]


def test_a_traceparent_the_application_sets_is_kept(runs_server: Tuple[str, RecordingRuns], tracer: trace.Tracer) -> None:
    url, runs = runs_server
    mine = "00-11111111111111111111111111111111-2222222222222222-01"
    with Weft(url, headers=[("traceparent", mine)]) as client:
        with tracer.start_as_current_span("caller"):
            client.runs.start("wf_1")
    assert [meta.get("traceparent") for _, meta in runs.seen] == [mine]
