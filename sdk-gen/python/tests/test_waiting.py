"""A run whose agent nobody serves says so: its step is READY (not
running) and, once the server's unclaimed wait (default 10 s) passes,
carries waiting_for naming the agent, with one task.unclaimed event; a
worker arriving later completes the run."""

from __future__ import annotations

import time
from typing import List

from conftest import unique
from weftflow import RunEvent, RunStatus, StepStatus, TaskContext, Weft, Worker, agent, workflow

#: The server's default unclaimed wait is 10 s; this leaves room for a busy machine.
WAITING_FOR_WITHIN_SECONDS = 30


def test_an_unserved_agent_is_named_then_served(client: Weft) -> None:
    name = unique("nobody-serves")
    wf = client.workflows.create(workflow(unique("unserved")).add(agent("ask", agent=name, task="anyone?")))
    run = wf.run()

    deadline = time.monotonic() + WAITING_FOR_WITHIN_SECONDS
    step = client.runs.get(run.id).step("ask")
    while not step.waiting_for and time.monotonic() < deadline:
        assert step.status in (StepStatus.PENDING, StepStatus.READY), f"nobody holds the task, yet {step!r}"
        time.sleep(0.5)
        step = client.runs.get(run.id).step("ask")
    assert step.status == "ready" and step.attempts == 0, step
    assert step.waiting_for == f"a worker for agent '{name}'"
    assert f"waiting_for=['ask: a worker for agent '{name}'']" in repr(client.runs.get(run.id)).replace('"', "'")
    # The event may be committed a moment after the step shows waiting_for.
    unclaimed = _unclaimed(client, run.id, within=10)
    assert len(unclaimed) == 1 and unclaimed[0].step_id == "ask" and unclaimed[0].data.get("agent") == name

    worker = Worker(client, name="pytest-late")

    @worker.agent(name)
    def answer(task: TaskContext) -> str:
        return "here"

    with worker.start():
        events = list(client.workflows.stream_run(run.id))
    assert events[-1].type == "run.completed"
    done = client.runs.get(run.id)
    assert done.status is RunStatus.COMPLETED and done.output == "here" and done.step("ask").waiting_for == ""
    assert len(_unclaimed(client, run.id, within=0)) == 1, "task.unclaimed is emitted once"


def _unclaimed(client: Weft, run_id: str, within: float) -> List[RunEvent]:
    """The run's task.unclaimed events, waiting up to ``within`` seconds for the first."""
    deadline = time.monotonic() + within
    while True:
        found = [e for e in client.runs.events(run_id) if e.type == "task.unclaimed"]
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)
