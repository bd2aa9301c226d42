"""The builder makes the messages the documents describe (no server)."""

from __future__ import annotations

import pytest
from google.protobuf import json_format

from weftflow import from_value, workflow
from weftflow.v1 import workflow_pb2


def test_steps_carry_what_each_call_sets() -> None:
    built = (
        workflow("w")
        .input_schema({"type": "object"})
        .policy(allow_tools=["web_search"], max_total_cost={"amount": 1000, "currency": "usd"})
        .step({"id": "research", "type": "parallel", "steps": [{"id": "a", "agent": "x", "task": "t"}]})
        .transform({"id": "shape", "dependsOn": ["research"], "output": {"a": "$.a.output"}})
        .step({"id": "each", "type": "map", "over": "$.shape.output.items", "as": "item", "concurrency": 3,
               "step": {"id": "one", "agent": "y", "task": "{{ item }}"}})
        .condition({"id": "route", "expression": "$.shape.output.n > 1", "onTrue": {"next": "each"}, "onFalse": {"next": "stop"}})
        .step({"id": "hook", "type": "webhook", "url": "https://example.com", "body": {"n": 1}})
        .step({"id": "score", "agent": "s", "task": "t", "on_step_failure": {"action": "goto", "target": "fb"}, "retries": 2})
        .on_failure("continue")
        .build()
    )
    assert built.name == "w"
    assert built.input_schema["type"] == "object"
    assert built.policy.max_total_cost.amount == 1000
    assert built.steps[0].steps[0].type == "agent", "type defaults to agent"
    assert built.steps[1].type == "transform" and built.steps[1].output["a"] == "$.a.output"
    assert built.steps[2].step.task == "{{ item }}" and built.steps[2].concurrency == 3
    assert built.steps[3].type == "condition" and built.steps[3].on_false.next == "stop"
    assert from_value(built.steps[4].body) == {"n": 1}
    assert built.steps[5].on_step_failure.target == "fb", "snake_case keys work too"
    assert built.on_failure == workflow_pb2.FAILURE_MODE_CONTINUE


def test_an_unknown_step_key_is_refused_at_once() -> None:
    with pytest.raises(json_format.ParseError):
        workflow("w").step({"id": "a", "agnet": "typo"})


def test_resume_takes_an_event_a_step_or_neither_but_not_both() -> None:
    from weftflow._requests import resume_run

    plain = resume_run("run_1", None, None, None, None, from_step="b", settle_wait_ms=500)
    assert (plain.run_id, plain.event, plain.from_step, plain.settle_wait_ms) == ("run_1", "", "b", 500)
    assert not plain.HasField("input")
    decided = resume_run("run_1", None, None, "gate", {"ok": True})
    assert decided.input.resume.step == "gate" and from_value(decided.input.resume.input) == {"ok": True}
    with pytest.raises(ValueError, match="not both"):
        resume_run("run_1", "paid", None, "gate", None)
