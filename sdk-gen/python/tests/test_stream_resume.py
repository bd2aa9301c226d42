"""stream_run survives a dropped connection: the first stream breaks after
three events; the iterator reconnects from the last sequence it handed out,
with no gap and no duplicate. A refusal is not retried."""

from __future__ import annotations

from typing import Any, Iterator, List

import grpc
import pytest

from conftest import pure_workflow
from weftflow import NotFoundError, Weft


class Dropped(grpc.RpcError):
    """What a reset connection looks like to the stub's iterator."""


def test_a_dropped_stream_resumes_without_gap_or_duplicate(client: Weft) -> None:
    wf = client.workflows.create(pure_workflow())
    run = wf.run(input={"company": "Acme"})
    real = client.runs._stub.StreamRunEvents
    opened: List[int] = []

    def flaky(request: Any, **kwargs: Any) -> Iterator[Any]:
        opened.append(request.after_sequence)
        first = len(opened) == 1
        for n, message in enumerate(real(request, **kwargs)):
            if first and n == 3:
                raise Dropped()
            yield message

    client.runs._stub.StreamRunEvents = flaky  # type: ignore[assignment]
    events = list(client.workflows.stream_run(run.id))
    assert opened == [0, 3], "reopened after the third event"
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "run.completed"


def test_a_refusal_is_raised_not_retried(client: Weft) -> None:
    calls: List[int] = []
    real = client.runs._stub.StreamRunEvents

    def counted(request: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(request, **kwargs)

    client.runs._stub.StreamRunEvents = counted  # type: ignore[assignment]
    with pytest.raises(NotFoundError):
        list(client.runs.stream("wfrun_missing"))
    assert calls == [1]
