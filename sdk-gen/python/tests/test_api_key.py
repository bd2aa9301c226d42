"""API keys through the Python SDK: a server of the test's own (the binary
in WEFT_BIN) with a key made by ``weft keys create``. The client's
``api_key`` is sent with every call (a Worker made from the client
sends it too); without it, or with a wrong one, the
call raises UNAUTHENTICATED with the server's reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import grpc
import pytest

from conftest import unique
from test_worker_restart import Server, _binary, _free_port
from weftflow import TaskContext, Weft, WeftError, Worker, agent, workflow


def test_calls_carry_the_api_key_and_are_refused_without_it(tmp_path: Path) -> None:
    database = tmp_path / "keys.db"
    made = subprocess.run(
        [_binary(), "keys", "create", "--tenant", "acme", "--scope", "write", "--database-url", f"sqlite://{database}"],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    key = made.stdout.splitlines()[0].strip()
    assert key.startswith("wk_")
    server = Server(_free_port(), database)
    try:
        with Weft(base_url=server.url, api_key=key) as client:
            name = unique("keyed")
            client.workflows.create(workflow(name).transform({"id": "t", "output": {"x": "$.input"}}))
            assert [w.name for w in client.workflows.list()] == [name]

            # A Worker made from the client connects with the same key.
            worker = Worker(client, name="keyed-worker")
            served = unique("keyed-agent")

            @worker.agent(served)
            def answer(task: TaskContext) -> str:
                return "keyed"

            flow = client.workflows.create(workflow(unique("keyed-run")).add(agent("a", agent=served, task="t")))
            with worker.start():
                assert flow.execute(timeout=60).output == "keyed"
        for api_key, reason in [(None, "API_KEY_REQUIRED"), ("wk_wrong", "API_KEY_MALFORMED")]:
            with Weft(base_url=server.url, api_key=api_key) as client:
                with pytest.raises(WeftError) as refused:
                    client.workflows.list()
                assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
                assert refused.value.reason == reason
    finally:
        server.stop()
