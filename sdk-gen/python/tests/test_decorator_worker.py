"""The decorator worker against a live server, made from the sync client
and served in a background thread: a bare return value is the output, an
Outcome carries cost and state writes, and the typed errors decide whether
an attempt is retried (any other exception is retried)."""

from __future__ import annotations

from typing import Any, Dict

from conftest import unique
from weftflow import (
    Money,
    NonRetryableError,
    Outcome,
    RetryableError,
    RunStatus,
    TaskContext,
    Weft,
    Worker,
    agent,
    workflow,
)


def test_bare_values_and_outcomes(client: Weft) -> None:
    greeter, counter = unique("greeter"), unique("counter")
    worker = Worker(client, name="pytest-decorators", concurrency=2)

    @worker.agent(greeter)
    def greet(task: TaskContext) -> Dict[str, Any]:
        return {"text": f"Hello, {task.input['name']}!"}

    @worker.agent(counter)
    async def count(task: TaskContext) -> Outcome:
        return Outcome(output=len(str(task.input["text"])), cost=Money(5, "usd"), state={"counted": True})

    wf = client.workflows.create(
        workflow(unique("decorated")).add(
            agent("greet", agent=greeter, task="greet", input_map={"name": "$.input.name"}),
            agent("count", agent=counter, task="count", depends_on=["greet"],
                  input_map={"text": "$.greet.output.text"}, state_writes=["counted"]),
        )
    )
    with worker.start():
        run = wf.execute(input={"name": "Ada"}, timeout=60)
    assert run.status == "completed", run
    assert run.step("greet").output == {"text": "Hello, Ada!"}
    assert run.output == len("Hello, Ada!")
    assert run.state == {"counted": True}
    assert run.step("count").cost == Money(5, "usd") and run.cost.amount == 5


def _attempts(client: Weft, handler_error: BaseException, retries: int) -> tuple[RunStatus, int, str]:
    """Runs one agent step whose handler raises ``handler_error`` on the
    first attempt only; returns the run's status, the step's attempts and error."""
    name = unique("flaky")
    worker = Worker(client, name="pytest-errors")
    calls = {"n": 0}

    @worker.agent(name)
    def flaky(task: TaskContext) -> str:
        calls["n"] += 1
        assert task.attempt == calls["n"] and task.step_id == "only" and task.run_id.startswith("wfrun_")
        if calls["n"] == 1:
            raise handler_error
        return "second time lucky"

    wf = client.workflows.create(workflow(unique("errors")).add(agent("only", agent=name, task="t", retries=retries)))
    with worker.start():
        run = wf.execute(timeout=60)
    step = run.step("only")
    return run.status, step.attempts, step.error


def test_a_retryable_error_is_retried(client: Weft) -> None:
    status, attempts, _ = _attempts(client, RetryableError("try again"), retries=2)
    assert (status, attempts) == (RunStatus.COMPLETED, 2)


def test_a_non_retryable_error_fails_the_step_at_once(client: Weft) -> None:
    status, attempts, error = _attempts(client, NonRetryableError("no use", code="BAD_INPUT"), retries=3)
    assert (status, attempts) == (RunStatus.FAILED, 1)
    assert "no use" in error


def test_any_other_exception_is_retried(client: Weft) -> None:
    status, attempts, _ = _attempts(client, KeyError("missing"), retries=1)
    assert (status, attempts) == (RunStatus.COMPLETED, 2)


def test_agent_names_are_bounded() -> None:
    worker = Worker("http://127.0.0.1:1")
    for bad in ("", "a" * 201):
        try:
            worker.agent(bad)
        except ValueError:
            continue
        raise AssertionError(f"agent name {bad[:10]!r}... was accepted")
