"""workflows.apply against a live server: the first apply creates, the
same definition again changes nothing (same version), a changed one writes
the next version, and runs start by the workflow's name. A taken name on
create is ALREADY_EXISTS."""

from __future__ import annotations

import asyncio

import pytest

from conftest import unique
from weftflow import AlreadyExistsError, ApplyOutcome, AsyncWeft, Weft, transform, workflow


def test_apply_creates_then_is_idempotent_then_updates(client: Weft) -> None:
    name = unique("applied")
    first = client.workflows.apply(workflow(name).add(transform("echo", output={"x": "$.input.x"})))
    assert first.outcome == "created" and first.outcome is ApplyOutcome.CREATED
    assert first.name == name and first.version == 1 and first.id.startswith("wf_")

    same = client.workflows.apply(workflow(name).add(transform("echo", output={"x": "$.input.x"})))
    assert same.outcome == "unchanged"
    assert (same.id, same.version) == (first.id, 1)
    assert [v.version for v in client.workflows.versions(first.id)] == [1], "nothing was written"

    changed = client.workflows.apply(
        workflow(name).add(transform("echo", output={"x": "$.input.x", "y": "$.input.y"})), change_summary="adds y"
    )
    assert changed.outcome is ApplyOutcome.UPDATED
    assert (changed.id, changed.version) == (first.id, 2)
    assert "outcome='updated'" in repr(changed)

    run = client.runs.execute(name, input={"x": 1, "y": 2}, timeout=30)
    assert run.status == "completed" and run.output == {"x": 1, "y": 2}
    assert run.workflow_id == first.id and run.workflow_version == 2


def test_apply_needs_a_bounded_name_and_summary(client: Weft) -> None:
    step = transform("echo", output={"x": "$.input.x"})
    with pytest.raises(ValueError, match="needs a name"):
        client.workflows.apply(workflow("").add(step))
    with pytest.raises(ValueError, match="at most 200"):
        client.workflows.apply(workflow("n" * 201).add(step))
    with pytest.raises(ValueError, match="change_summary"):
        client.workflows.apply(workflow("n").add(step), change_summary="s" * 1001)


def test_create_with_a_taken_name_is_already_exists(client: Weft) -> None:
    name = unique("taken")
    client.workflows.create(workflow(name).add(transform("echo", output={"x": "$.input.x"})))
    with pytest.raises(AlreadyExistsError):
        client.workflows.create(workflow(name).add(transform("echo", output={"x": "$.input.x"})))


def test_apply_from_the_async_client(url: str) -> None:
    async def scenario() -> None:
        async with AsyncWeft(base_url=url) as client:
            name = unique("applied-async")
            definition = workflow(name).add(transform("echo", output={"x": "$.input.x"}))
            created = await client.workflows.apply(definition)
            again = await client.workflows.apply(definition)
            assert (created.outcome, again.outcome) == (ApplyOutcome.CREATED, ApplyOutcome.UNCHANGED)
            assert again.version == created.version == 1

    asyncio.run(scenario())
