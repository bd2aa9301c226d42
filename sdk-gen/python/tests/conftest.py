"""Shared by the SDK tests: the live server (WEFT_URL, set by scripts/test-sdks)."""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest

from weftflow import Weft, WorkflowBuilder, workflow


@pytest.fixture(scope="session")
def url() -> str:
    value = os.environ.get("WEFT_URL")
    if not value:
        pytest.fail("WEFT_URL is not set: run the SDK tests through scripts/test-sdks")
    return value


@pytest.fixture()
def client(url: str) -> Iterator[Weft]:
    # The server scripts/test-sdks starts has no keys yet (anonymous on
    # loopback); WEFT_API_KEY points the tests at a server that needs one.
    with Weft(base_url=url, api_key=os.environ.get("WEFT_API_KEY")) as weft:
        yield weft


def unique(prefix: str) -> str:
    """A unique name, so reruns against one server never collide."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def pure_workflow(name: str = "") -> WorkflowBuilder:
    """A workflow of one transform: it completes without any worker."""
    return (
        workflow(name or unique("pure"))
        .input_schema({"type": "object", "required": ["company"], "properties": {"company": {"type": "string"}}})
        .transform({"id": "shape", "output": {"company": "$.input.company", "site": "$.input.website"}})
    )
