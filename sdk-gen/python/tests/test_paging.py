"""Paging runs and approvals by token, sync and asyncio: ``list_page``
hands back a page, its next token and the total; ``list_all`` walks every
page as the loop asks; without a workflow the whole tenant's runs list; a
token reused with other filters is refused."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from conftest import unique
from weftflow import AsyncWeft, InvalidArgumentError, RunPage, Weft, WorkflowPage, transform, workflow


def runs_of_new_workflow(client: Weft, count: int) -> tuple[str, list[str]]:
    """Starts ``count`` runs of a new one-transform workflow; its id and the run ids."""
    wf = client.workflows.create(workflow(unique("paging")).add(transform("copy", output={"n": "$.input.n"})))
    return wf.id, [client.runs.start(wf.id, input={"n": n}).id for n in range(count)]


def test_runs_page_by_token_and_list_all_walks_them(client: Weft) -> None:
    workflow_id, started = runs_of_new_workflow(client, 5)
    first = client.runs.list_page(workflow_id, page_size=2)
    assert isinstance(first, RunPage) and first.total == 5 and len(first.runs) == 2 and first.next_page_token
    second = client.runs.list_page(workflow_id, page_size=2, page_token=first.next_page_token)
    last = client.runs.list_page(workflow_id, page_size=2, page_token=second.next_page_token)
    assert (len(second.runs), len(last.runs), last.next_page_token) == (2, 1, "")
    paged = [r.id for r in first.runs + second.runs + last.runs]
    # Runs started within one millisecond may list either way round (ids
    # are random within it), so the pages are compared as a set.
    assert sorted(paged) == sorted(started), "every run once, none twice"
    assert [r.id for r in client.runs.list_all(workflow_id, page_size=2)] == paged

    tenant = client.runs.list_page(page_size=200)
    assert tenant.total >= 5
    if not tenant.next_page_token:
        assert set(paged) <= {r.id for r in tenant.runs}, "no workflow: the tenant's runs"
    assert client.runs.list_page(workflow_id, status="completed", page_size=1).total == 5


def test_a_token_with_other_filters_or_made_up_is_refused(client: Weft) -> None:
    workflow_id, _ = runs_of_new_workflow(client, 2)
    first = client.runs.list_page(workflow_id, page_size=1)
    with pytest.raises(InvalidArgumentError):
        client.runs.list_page(workflow_id, status="failed", page_size=1, page_token=first.next_page_token)
    with pytest.raises(InvalidArgumentError):
        client.approvals.list_page(page_token="not-a-token")
    with pytest.raises(ValueError, match="tool_use"):
        client.approvals.list_page(kind="nonsense")


def test_approvals_page_by_token_sync_and_async(client: Weft, url: str) -> None:
    wf = client.workflows.create(
        workflow(unique("paging-approvals")).step(
            {"id": "gate", "type": "approval", "action": "ship", "timeout": "1h", "defaultAction": "deny"}
        )
    )
    run_ids = sorted(client.runs.start(wf.id, input={}).id for _ in range(3))
    deadline = time.monotonic() + 10
    while client.approvals.list_page(workflow_id=wf.id, status="pending", page_size=1).total < 3:
        assert time.monotonic() < deadline, "three approvals open"
        time.sleep(0.05)

    first = client.approvals.list_page(workflow_id=wf.id, page_size=2)
    rest = client.approvals.list_page(workflow_id=wf.id, page_size=2, page_token=first.next_page_token)
    assert (len(first.approvals), len(rest.approvals), rest.next_page_token, first.total) == (2, 1, "", 3)
    assert sorted(a.run_id for a in first.approvals + rest.approvals) == run_ids
    walked = list(client.approvals.list_all(workflow_id=wf.id, kind="step", page_size=1))
    assert len(walked) == 3 and all(a.kind == "step" for a in walked)
    assert client.approvals.list_page(workflow_id=wf.id, kind="tool_use").total == 0

    async def scenario() -> None:
        async with AsyncWeft(base_url=url, api_key=os.environ.get("WEFT_API_KEY")) as weft:
            page = await weft.approvals.list_page(workflow_id=wf.id, page_size=2)
            assert page.total == 3 and len(page.approvals) == 2
            seen = [a.run_id async for a in weft.approvals.list_all(workflow_id=wf.id, page_size=1)]
            assert sorted(seen) == run_ids
            runs = [r.id async for r in weft.runs.list_all(wf.id, page_size=2)]
            assert sorted(runs) == run_ids
            assert (await weft.runs.list_page(wf.id, page_size=1)).total == 3

    asyncio.run(scenario())


def test_workflows_page_by_token_in_the_order_asked(client: Weft, url: str) -> None:
    tag = unique("paging-tag")
    for letter in "cab":
        client.workflows.create(workflow(f"{tag}-{letter}").tags(tag).add(transform("t", output={"x": "$.input.x"})))
    first = client.workflows.list_page(tag=tag, sort="name", order="asc", page_size=2)
    assert isinstance(first, WorkflowPage) and first.total == 3
    assert [w.name for w in first.workflows] == [f"{tag}-a", f"{tag}-b"]
    rest = client.workflows.list_page(tag=tag, sort="name", order="asc", page_size=2, page_token=first.next_page_token)
    assert ([w.name for w in rest.workflows], rest.next_page_token) == ([f"{tag}-c"], "")
    assert [w.name for w in client.workflows.list_all(tag=tag, sort="name", order="desc", page_size=1)] == [
        f"{tag}-c",
        f"{tag}-b",
        f"{tag}-a",
    ]
    with pytest.raises(InvalidArgumentError):
        client.workflows.list_page(tag=tag, sort="updatedAt", page_token=first.next_page_token)

    async def scenario() -> None:
        async with AsyncWeft(base_url=url, api_key=os.environ.get("WEFT_API_KEY")) as weft:
            names = [w.name async for w in weft.workflows.list_all(tag=tag, sort="name", order="asc", page_size=2)]
            assert names == [f"{tag}-a", f"{tag}-b", f"{tag}-c"]
            assert (await weft.workflows.list_page(tag=tag, page_size=1)).total == 3

    asyncio.run(scenario())
