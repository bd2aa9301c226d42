"""The sync client against a live server: definitions and versions, runs
and stream_run, approvals, and the typed errors (schedules, templates and
triggers: test_starters.py)."""

from __future__ import annotations

import grpc
import pytest

from conftest import pure_workflow, unique
from weftflow import (
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    RunStatus,
    UnimplementedError,
    Weft,
    WeftError,
    from_struct,
    from_value,
    run_status_name,
    workflow,
)
from weftflow.v1 import run_pb2, trigger_service_pb2, trigger_service_pb2_grpc


def test_workflow_lifecycle(client: Weft) -> None:
    name = unique("crud")
    created = client.workflows.create(pure_workflow(name).description("first"))
    assert created.id.startswith("wf_") and created.version == 1
    got = client.workflows.get(created.id)
    assert got.name == name and from_struct(got.raw.input_schema)["required"] == ["company"]
    assert created.id in [w.id for w in client.workflows.list(limit=1000)]

    renamed = client.workflows.update(created.id, {"name": f"{name}-v2"}, expected_version=1)
    assert renamed.version == 2 and renamed.name == f"{name}-v2"
    assert len(renamed.message.steps) == 1, "an update without steps keeps them"
    assert [v.version for v in client.workflows.versions(created.id)] == [2, 1]
    assert any(op.path == "/name" for op in client.workflows.diff(created.id, 1, 2).diff)
    rolled = client.workflows.rollback(created.id, 1, "back")
    assert rolled.version == 3 and rolled.name == name
    assert client.workflows.get_version(created.id, 2).name == f"{name}-v2"

    client.workflows.delete(created.id)
    with pytest.raises(NotFoundError):
        client.workflows.get(created.id)


def test_validate_lists_every_problem(client: Weft) -> None:
    bad = workflow(unique("bad")).step({"id": "a", "agent": "x", "task": "t", "dependsOn": ["missing"]}).step(
        {"id": "a", "agent": "x", "task": "t"}
    )
    answer = client.workflows.validate(bad)
    assert not answer.valid and len(answer.problems) >= 2
    assert client.workflows.validate(pure_workflow()).valid


def test_typed_errors(client: Weft) -> None:
    with pytest.raises(NotFoundError) as missing:
        client.workflows.get_run("wfrun_doesnotexist")
    assert isinstance(missing.value, WeftError)
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    assert missing.value.domain == "weft.dev" and missing.value.reason.endswith("NOT_FOUND")

    before = len(client.workflows.list(limit=1000))
    with pytest.raises(InvalidArgumentError) as invalid:
        client.workflows.create(workflow(unique("invalid")).step({"id": "a", "agent": "x", "task": "t", "dependsOn": ["ghost"]}))
    assert invalid.value.reason == "VALIDATION_ERROR"
    assert invalid.value.field_violations, "the problems travel as field violations"
    assert any("dependsOn" in v.field or "ghost" in v.description for v in invalid.value.field_violations)
    assert len(client.workflows.list(limit=1000)) == before, "nothing was stored"

    wf = client.workflows.create(pure_workflow())
    with pytest.raises(InvalidArgumentError) as schema:
        wf.run(input={"website": "https://acme.com"})
    assert schema.value.reason == "INPUT_SCHEMA_VIOLATION" and schema.value.field_violations

    run = wf.run(input={"company": "Acme"})
    list(client.workflows.stream_run(run.id))
    with pytest.raises(FailedPreconditionError) as finished:
        client.workflows.cancel_run(run.id)
    assert finished.value.reason == "RUN_NOT_ACTIVE"

    # DeliverCallback is served at its REST binding only: UNIMPLEMENTED over gRPC.
    stub = trigger_service_pb2_grpc.TriggerServiceStub(client.channel)
    with pytest.raises(UnimplementedError):
        client._call(stub.DeliverCallback, trigger_service_pb2.DeliverCallbackRequest(token="t"))


def test_run_and_stream_run(client: Weft) -> None:
    wf = client.workflows.create(pure_workflow())
    assert client.workflows.estimate(wf.id, input={"company": "Acme"}).step_count == 1
    run = client.workflows.run(wf.id, user_id="user_1", input={"company": "Acme", "website": "https://acme.com"})
    assert run.id.startswith("wfrun_")
    events = list(client.workflows.stream_run(run.id))
    types = [e.type for e in events]
    assert types[0] == "run.started" and types[-1] == "run.completed" and "step.completed" in types
    assert [e.sequence for e in events] == list(range(1, len(events) + 1)), "no gap"
    shaped = next(e for e in events if e.type == "step.completed" and e.step_id == "shape")
    assert from_value(shaped.output) == {"company": "Acme", "site": "https://acme.com"}

    done = client.workflows.get_run(run.id)
    assert done.status == "completed" and done.status is RunStatus.COMPLETED and done.raw.status == run_pb2.RUN_STATUS_COMPLETED
    assert [r.id for r in client.workflows.list_runs(wf.id, status="completed")] == [run.id]
    assert len(client.runs.events(run.id)) == len(events)
    tail = list(client.runs.stream(run.id, after_sequence=2))
    assert [e.sequence for e in tail] == [e.sequence for e in events[2:]]
    with pytest.raises(NotFoundError):
        list(client.runs.stream("wfrun_nope"))


def test_approval_decided_through_the_api(client: Weft) -> None:
    wf = client.workflows.create(
        workflow(unique("approve"))
        .step({"id": "gate", "type": "approval", "action": "send_email", "timeout": "1h", "defaultAction": "deny"})
        .transform({"id": "after", "dependsOn": ["gate"], "output": {"decided": "$.gate.output.decision"}})
    )
    run = wf.run(input={})
    seen = []
    for event in client.workflows.stream_run(run.id):
        seen.append(event.type)
        if event.type == "approval.pending":
            (pending,) = client.approvals.list(run_id=run.id, status="pending")
            assert pending.action == "send_email"
            assert client.approvals.get(pending.id).id == pending.id
            decided = client.approvals.approve(pending.id, decided_by="pytest", comment="fine")
            assert decided.decided_by == "pytest"
    assert "approval.decided" in seen
    assert run_status_name(client.workflows.get_run(run.id).status) == "completed"
    with pytest.raises(NotFoundError):
        client.approvals.get("apr_nope")
