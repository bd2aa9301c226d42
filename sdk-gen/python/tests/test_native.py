"""Native results against a live server, sync and asyncio: statuses are
str enums, outputs plain JSON, timestamps aware datetimes, costs Money;
execute waits for a run by workflow id or name; events are native too."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from conftest import unique
from weftflow import AsyncWeft, Money, Run, RunEvent, RunStatus, StepStatus, Weft, WorkflowBuilder, WorkflowStatus, transform, workflow
from weftflow.v1 import run_pb2


def echo_x_workflow(name: str) -> WorkflowBuilder:
    """One transform whose output is {"x": <input x>}: completes without a worker."""
    return workflow(name).add(transform("echo", output={"x": "$.input.x"}))


def test_a_completed_run_reads_natively(client: Weft) -> None:
    wf = client.workflows.create(echo_x_workflow(unique("native")))
    assert wf.status in (WorkflowStatus.ACTIVE, WorkflowStatus.DRAFT) and isinstance(wf.created_at, datetime)
    run = client.runs.execute(wf.id, input={"x": 1}, timeout=30)
    assert isinstance(run, Run)
    assert run.status == "completed"
    assert run.output == {"x": 1}
    assert run.input == {"x": 1} and run.state == {}
    assert run.step("echo").status == StepStatus.COMPLETED and run.step("echo").output == {"x": 1}
    assert run.cost == Money(0, run.cost.currency) and isinstance(run.duration, int)
    assert run.created_at is not None and run.created_at.tzinfo == timezone.utc
    assert run.completed_at is not None and run.completed_at >= run.created_at
    assert run.raw.status == run_pb2.RUN_STATUS_COMPLETED
    assert repr(run) == f"Run(id={run.id!r}, status='completed', output={{'x': 1}})"
    assert str(run.status) == "completed" and f"{run.status}" == "completed"

    again = client.runs.get(run.id)
    assert again.output == {"x": 1} and again.status is RunStatus.COMPLETED
    assert [r.id for r in client.runs.list(wf.id)] == [run.id]
    events = client.runs.events(run.id)
    assert all(isinstance(e, RunEvent) for e in events)
    assert events[-1].type == "run.completed" and events[-1].output == {"x": 1}
    assert events[-1].timestamp is not None and events[-1].timestamp.tzinfo == timezone.utc
    streamed = list(client.workflows.stream_run(run.id))
    assert [e.sequence for e in streamed] == [e.sequence for e in events]


def test_execute_and_start_by_workflow_name(client: Weft) -> None:
    name = unique("by-name")
    client.workflows.create(echo_x_workflow(name))
    assert client.runs.execute(name, input={"x": 2}, timeout=30).output == {"x": 2}
    started = client.runs.start(name, input={"x": 3})
    assert started.status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.QUEUED)
    assert [e for e in client.workflows.stream_run(started.id)][-1].type == "run.completed"
    assert client.runs.get(started.id).output == {"x": 3}


def test_a_paused_run_says_what_it_waits_for(client: Weft) -> None:
    wf = client.workflows.create(
        workflow(unique("gate")).step({"id": "gate", "type": "approval", "action": "ship", "message": "Ship it?"})
    )
    run = wf.run()
    for _ in range(100):
        run = client.runs.get(run.id)
        if run.status == RunStatus.PAUSED:
            break
        time.sleep(0.05)
    assert run.status == "paused" and run.pending_action is not None
    assert run.pending_action.step == "gate" and run.pending_action.type == "approval"
    pending = client.approvals.list(run_id=run.id, status="pending")
    assert len(pending) == 1 and pending[0].status == "pending" and pending[0].action == "ship"
    decided = client.approvals.approve(pending[0].id, comment="fine")
    assert decided.status == "approved" and decided.decision == "approve" and decided.decided_at is not None
    assert [e for e in client.workflows.stream_run(run.id)][-1].type == "run.completed"
    assert client.runs.get(run.id).step("gate").output["decision"] in ("approve", "approved")


def test_the_async_client_returns_the_same_objects(url: str) -> None:
    async def scenario() -> None:
        async with AsyncWeft(base_url=url) as client:
            wf = await client.workflows.create(echo_x_workflow(unique("native-async")))
            run = await wf.execute(input={"x": 1}, timeout=30)
            assert run.status == "completed" and run.output == {"x": 1}
            got = await client.runs.get(run.id)
            assert got.status is RunStatus.COMPLETED and got.step("echo").output == {"x": 1}
            events = [e async for e in client.runs.stream(run.id)]
            assert isinstance(events[0], RunEvent) and events[-1].output == {"x": 1}

    asyncio.run(scenario())
