"""The asyncio client against a live server: the same operations with
await, and stream_run as an async iterator."""

from __future__ import annotations

import asyncio

import pytest

from conftest import pure_workflow, unique
from weftflow import AsyncWeft, FailedPreconditionError, InvalidArgumentError, NotFoundError, from_value, run_status_name, workflow


def test_async_client(url: str) -> None:
    async def scenario() -> None:
        async with AsyncWeft(base_url=url) as client:
            wf = await client.workflows.create(pure_workflow())
            assert (await client.workflows.get(wf.id)).name == wf.name
            updated = await client.workflows.update(wf.id, {"description": "second"})
            assert updated.version == 2
            assert [v.version for v in await client.workflows.versions(wf.id)] == [2, 1]

            run = await wf.run(user_id="u", input={"company": "Acme"})
            events = [event async for event in client.workflows.stream_run(run.id)]
            assert events[0].type == "run.started" and events[-1].type == "run.completed"
            done = await client.workflows.get_run(run.id)
            assert run_status_name(done.status) == "completed"
            assert from_value(done.steps[0].output) == {"company": "Acme", "site": None}
            assert [r.id for r in await client.workflows.list_runs(wf.id)] == [run.id]

            with pytest.raises(NotFoundError):
                await client.workflows.get_run("wfrun_nope")
            with pytest.raises(InvalidArgumentError) as invalid:
                await client.workflows.create(workflow(unique("bad")).step({"id": "a", "agent": "x", "task": "t", "dependsOn": ["ghost"]}))
            assert invalid.value.field_violations
            with pytest.raises(FailedPreconditionError):
                await client.workflows.cancel_run(run.id)
            schedule = await client.schedules.create(
                wf.id, cron="0 9 * * *", timezone="Europe/Paris", input={"company": "Acme"}
            )
            assert len((await client.schedules.get(schedule.id, next_fire_count=3)).next_fire_times) == 3
            await client.schedules.delete(schedule.id)
            with pytest.raises(NotFoundError):
                await client.schedules.get(schedule.id)
            assert len(await client.templates.list(is_builtin=True)) >= 5
            with pytest.raises(NotFoundError):
                async for _ in client.runs.stream("wfrun_nope"):
                    pass

            # Several calls in flight at once on one channel.
            runs = await asyncio.gather(*(client.workflows.run(wf.id, input={"company": f"C{i}"}) for i in range(5)))
            assert len({r.id for r in runs}) == 5

    asyncio.run(scenario())
