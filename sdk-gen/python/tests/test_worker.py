"""The worker runtime against a live server: async and plain handlers
complete tasks, a TaskError fails the step, retry_from runs it again, and a
cancelled run sets the handler's cancelled event."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from conftest import unique
from weftflow import AsyncWeft, Outcome, TaskContext, TaskError, Weft, Worker, from_value, run_status_name, workflow


def test_worker_serves_fails_and_retries(url: str) -> None:
    agent = unique("echo-agent")
    plain = unique("plain-agent")
    fail_next = {"flaky": True}

    async def echo(task: TaskContext) -> Outcome:
        if task.input.get("mode") == "flaky" and fail_next["flaky"]:
            fail_next["flaky"] = False
            raise TaskError("upstream down", retryable=False, code="UPSTREAM_DOWN")
        return Outcome({"echoed": task.text, "company": task.input.get("company")}, cost=7)

    def shout(task: TaskContext) -> Any:
        assert threading.current_thread() is not threading.main_thread(), "plain handlers run in a thread"
        return {"loud": str(task.input.get("company", "")).upper()}

    async def scenario() -> None:
        async with AsyncWeft(base_url=url) as client:
            stop = asyncio.Event()
            serving = asyncio.ensure_future(
                Worker(client, name="pytest", concurrency=2).agent(agent, echo).agent(plain, shout).serve(stop)
            )
            try:
                wf = await client.workflows.create(
                    workflow(unique("worked"))
                    .step({"id": "first", "agent": agent, "task": "hello {{ input.company }}",
                           "inputMap": {"company": "$.input.company", "mode": "$.input.mode"}})
                    .step({"id": "second", "agent": plain, "dependsOn": ["first"], "task": "again",
                           "inputMap": {"company": "$.first.output.company"}})
                )
                run = await wf.run(input={"company": "Acme", "mode": "steady"})
                events = [e async for e in client.workflows.stream_run(run.id)]
                assert events[-1].type == "run.completed"
                done = await client.workflows.get_run(run.id)
                outputs = {s.id: from_value(s.output) for s in done.steps}
                assert outputs["first"] == {"echoed": "hello Acme", "company": "Acme"}
                assert outputs["second"] == {"loud": "ACME"}
                assert done.cost.amount == 7

                flaky = await wf.run(input={"company": "Beta", "mode": "flaky"})
                flaky_events = [e async for e in client.workflows.stream_run(flaky.id)]
                assert flaky_events[-1].type == "run.failed"
                failed = await client.workflows.get_run(flaky.id)
                assert run_status_name(failed.status) == "failed"
                assert "upstream down" in next(s.error for s in failed.steps if s.id == "first")

                retried = await client.workflows.retry_from(flaky.id, "first")
                _ = [e async for e in client.workflows.stream_run(retried.id)]
                assert run_status_name((await client.workflows.get_run(retried.id)).status) == "completed"
            finally:
                stop.set()
                await asyncio.wait_for(serving, 30)

    asyncio.run(scenario())


def test_a_cancelled_run_tells_the_handler(url: str) -> None:
    agent = unique("slow-agent")
    started, told = threading.Event(), threading.Event()

    async def slow(task: TaskContext) -> Outcome:
        started.set()
        await task.cancelled.wait()
        told.set()
        return Outcome({"late": True})

    with Weft(base_url=url) as client:
        running = Worker(url, heartbeat_every=0.2).agent(agent, slow).start()
        try:
            wf = client.workflows.create(workflow(unique("cancel")).step({"id": "wait", "agent": agent, "task": "t"}))
            run = wf.run(input={})
            # Once the handler runs: step.started comes when the task is
            # queued, and a cancel before the worker took it withdraws it.
            assert started.wait(10), "the handler started"
            client.workflows.cancel_run(run.id, "test")
            assert told.wait(10), "the handler saw the cancel"
            assert run_status_name(client.workflows.get_run(run.id).status) == "cancelled"
        finally:
            running.stop()


def test_a_worker_never_holds_more_tasks_than_its_concurrency(url: str) -> None:
    agent = unique("busy-agent")
    state = {"active": 0, "most": 0}

    async def busy(task: TaskContext) -> Outcome:
        state["active"] += 1
        state["most"] = max(state["most"], state["active"])
        await asyncio.sleep(0.15)
        state["active"] -= 1
        return Outcome({"ok": True})

    async def scenario() -> None:
        async with AsyncWeft(base_url=url) as client:
            stop = asyncio.Event()
            serving = asyncio.ensure_future(Worker(client, concurrency=2).agent(agent, busy).serve(stop))
            try:
                branches = [{"id": f"b{i}", "agent": agent, "task": "work"} for i in range(6)]
                wf = await client.workflows.create(workflow(unique("fan")).step({"id": "fan", "type": "parallel", "steps": branches}))
                run = await wf.run(input={})
                events = [e async for e in client.workflows.stream_run(run.id)]
                assert events[-1].type == "run.completed"
                assert state["most"] == 2
            finally:
                stop.set()
                await asyncio.wait_for(serving, 30)

    asyncio.run(scenario())
