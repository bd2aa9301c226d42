"""The typed constructors and native results, without a server: what
typed_usage.py (checked by mypy --strict) builds, and the values the
constructors refuse before anything is sent."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from google.protobuf import json_format

from typed_usage import every_kind, read
from weftflow import (
    Money,
    Run,
    RunEvent,
    RunStatus,
    StepStatus,
    agent,
    delay,
    loop,
    map_,
    transform,
    workflow,
)
from weftflow.v1 import run_pb2


def test_every_kind_builds_the_documented_json() -> None:
    built = every_kind("typed").build()
    kinds = {s.id: s.type for s in built.steps}
    assert kinds == {
        "scrape": "agent", "fallback": "agent", "shape": "transform", "fit": "condition", "each": "map",
        "fan": "parallel", "gate": "approval", "paid": "wait", "hold": "delay", "notify": "webhook",
        "lookup": "http_request", "pages": "loop", "plan": "planner", "tidy": "script",
    }
    steps = {s.id: json_format.MessageToDict(s) for s in built.steps}
    assert steps["scrape"]["inputMap"] == {"site": "$.input.website"} and steps["scrape"]["retries"] == 2
    assert steps["scrape"]["onStepFailure"] == {"action": "goto", "target": "fallback"}
    assert steps["scrape"]["timeout"] == "5m" and steps["scrape"]["stateWrites"] == ["seen"]
    assert steps["fallback"]["onStepFailure"] == {"action": "continue"}
    assert steps["fit"]["onTrue"] == {"next": "each"} and steps["fit"]["onFalse"] == {"next": "hold"}
    assert steps["each"]["as"] == "lead" and steps["each"]["concurrency"] == 4
    assert steps["each"]["step"]["agent"] == "scorer"
    assert [s["id"] for s in steps["fan"]["steps"]] == ["twitter", "news"]
    assert steps["fan"]["steps"][1]["timeout"] == "120s"
    assert steps["gate"]["defaultAction"] == "deny" and steps["gate"]["options"] == ["approve", "reject"]
    assert steps["paid"]["onTimeout"] == {"next": "hold"} and steps["paid"]["timeout"] == "3600s"
    assert steps["hold"]["duration"] == 30
    assert steps["notify"]["waitForCallback"] is True and steps["notify"]["headers"] == {"x-team": "sales"}
    assert steps["lookup"]["body"] == {"q": "{{ input.website }}"}
    assert steps["pages"]["until"] == "$.pages.output[-1:].done == true" and steps["pages"]["maxIterations"] == 10
    assert "over" not in steps["pages"] and "while" not in steps["pages"]
    assert steps["tidy"]["language"] == "python" and steps["tidy"]["timeout"] == "60500ms"


def test_dict_steps_still_work_beside_typed_ones() -> None:
    built = workflow("mixed").add(agent("a", agent="x", task="t")).step({"id": "b", "dependsOn": ["a"], "agent": "x", "task": "u"}).build()
    assert [(s.id, s.type, list(s.depends_on)) for s in built.steps] == [("a", "agent", []), ("b", "agent", ["a"])]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: agent("bad id!", agent="x", task="t"), "step id"),
        (lambda: agent("a" * 129, agent="x", task="t"), "step id"),
        (lambda: agent("a", agent="", task="t"), "agent is required"),
        (lambda: agent("a", agent="x", task="t", retries=101), "retries"),
        (lambda: agent("a", agent="x", task="t", retries=-1), "retries"),
        (lambda: agent("a", agent="x", task="t", timeout="soon"), "duration"),
        (lambda: agent("a", agent="x", task="t", timeout=0), "timeout"),
        (lambda: map_("m", over="$.x", step=agent("s", agent="x", task="t"), concurrency=0), "concurrency"),
        (lambda: map_("m", over="$.x", step=agent("s", agent="x", task="t"), concurrency=1001), "concurrency"),
        (lambda: loop("l", step=agent("s", agent="x", task="t")), "exactly one"),
        (lambda: loop("l", step=agent("s", agent="x", task="t"), over="$.x", until="$.y"), "exactly one"),
        (lambda: loop("l", step=agent("s", agent="x", task="t"), over="$.x", max_iterations=100_001), "max_iterations"),
        (lambda: delay("d", seconds=0), "seconds"),
        (lambda: delay("d", seconds=timedelta(days=400)), "seconds"),
        (lambda: transform("t", output={}), "output key"),
    ],
)
def test_the_constructors_refuse_what_the_server_would(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_depends_on_as_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="list of step ids"):
        agent("a", agent="x", task="t", depends_on="b")


def test_native_run_from_a_message() -> None:
    message = run_pb2.Run(id="wfrun_1", status=run_pb2.RUN_STATUS_COMPLETED, duration=3)
    message.output.struct_value.update({"x": 1, "names": ["a", "b"]})
    message.cost.amount, message.cost.currency = 12, "usd"
    message.start_time.FromSeconds(1_700_000_000)
    step = message.steps.add(id="greet", type="agent", status=run_pb2.STEP_STATUS_READY, waiting_for="a worker for agent 'g'")
    step.output.number_value = 2.0
    done = message.steps.add(id="score", type="agent", status=run_pb2.STEP_STATUS_COMPLETED, worker_id="w-1")
    done.input.struct_value.update({"lead": "acme"})
    run = Run.from_pb(message)
    assert run.status == "completed" and run.status is RunStatus.COMPLETED and str(run.status) == "completed"
    assert run.output == {"x": 1, "names": ["a", "b"]} and isinstance(run.output["x"], int)
    assert run.cost == Money(12, "usd") and run.duration == 3
    assert run.started_at is not None and run.started_at.tzinfo == timezone.utc and run.started_at.year == 2023
    assert run.completed_at is None and run.error is None and run.pending_action is None
    assert run.step("greet").status == "ready" and run.step("greet").status is StepStatus.READY
    assert run.step("greet").waiting_for == "a worker for agent 'g'" and run.step("greet").output == 2
    assert run.step("greet").input is None and run.step("greet").worker_id == ""
    assert run.step("score").input == {"lead": "acme"} and run.step("score").worker_id == "w-1"
    assert run.raw is message
    assert repr(run).startswith("Run(id='wfrun_1', status='completed', output={'names': ['a', 'b'], 'x': 1}")
    assert "waiting_for" in repr(run)
    assert read(run)[0].startswith("wfrun_1 completed True")
    with pytest.raises(KeyError):
        run.step("missing")


def test_an_unknown_status_number_reads_as_unspecified() -> None:
    run = Run.from_pb(run_pb2.Run(id="wfrun_2", status=99))  # type: ignore[arg-type]
    assert run.status == RunStatus.UNSPECIFIED and run.raw.status == 99


def test_native_event_from_a_message() -> None:
    message = run_pb2.RunEvent(run_id="wfrun_1", sequence=7, type="step.completed", step_id="a", status="completed")
    message.output.string_value = "hi"
    message.data.update({"agent": "g"})
    event = RunEvent.from_pb(message)
    assert (event.sequence, event.output, event.data, event.cost) == (7, "hi", {"agent": "g"}, None)
    assert repr(event) == "RunEvent(#7 step.completed step='a' status='completed' output='hi')"


def test_the_old_helpers_accept_native_values() -> None:
    # Code written against the raw messages keeps working on native results.
    from weftflow import from_value, run_status_name, to_value

    assert run_status_name(RunStatus.COMPLETED) == "completed" and run_status_name(run_pb2.RUN_STATUS_FAILED) == "failed"
    assert from_value({"x": 1}) == {"x": 1} and from_value(to_value({"x": 1})) == {"x": 1} and from_value(None) is None
