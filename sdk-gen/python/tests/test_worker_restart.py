"""The worker runtime across server restarts, with no help from the test.
These start a server of their own (the binary in WEFT_BIN, set by
scripts/test-sdks) so they can stop it and start another on the same port:
on the same SQLite file the worker stays known; on a fresh one it registers
again by itself; and an answer given while the server is down lands once
it is back, within the lease, without running the task again. Each runs
with both transports: long polls, and the ConnectWorker stream (which
opens again through its hello, so it registers again with the same id)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator, List

import pytest

from conftest import unique
from weftflow import Run, TaskContext, Weft, Worker, WorkflowBuilder, from_value, run_status_name, workflow
from weftflow.v1 import run_pb2, worker_service_pb2 as worker_pb

#: Lease of these servers: longer than a restart takes.
LEASE_MS = 10_000


def _binary() -> str:
    binary = os.environ.get("WEFT_BIN", "")
    if not binary:
        if os.environ.get("CI") in ("true", "1"):
            pytest.fail("WEFT_BIN is not set: scripts/test-sdks sets it to the weft binary")
        pytest.skip("WEFT_BIN is not set (scripts/test-sdks sets it), so the restart tests did not run")
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``weft serve`` process on a port and SQLite file of the test's choosing."""

    def __init__(self, port: int, database: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = database.with_suffix(f".{time.monotonic_ns()}.log")
        env = dict(os.environ, WEFT_TASK_LEASE_MS=str(LEASE_MS), WEFT_LOG="info")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [_binary(), "serve", "--listen", f"127.0.0.1:{port}", "--database-url", f"sqlite://{database}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"weft exited: {self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"weft did not listen within 30 s: {self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM, then wait until it exited (the port is free again)."""
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture()
def servers(tmp_path: Path) -> Iterator[List[Server]]:
    started: List[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.stop()


def _wait_completed(client: Weft, run_id: str, within: float) -> Run:
    deadline = time.monotonic() + within
    while True:
        run = client.workflows.get_run(run_id)
        if run_status_name(run.status) not in ("pending", "running"):
            assert run_status_name(run.status) == "completed", run
            return run
        assert time.monotonic() < deadline, f"run {run_id} did not finish: {run}"
        time.sleep(0.05)


def _only_worker(client: Weft) -> worker_pb.ListWorkersResponse:
    listed = client._call(client.workers.ListWorkers, worker_pb.ListWorkersRequest())
    assert len(listed.workers) == 1, listed
    return listed


def _echo_workflow(agent: str) -> WorkflowBuilder:
    return workflow(unique("restart")).step({"id": "work", "agent": agent, "task": "work on {{ input.n }}"})


TRANSPORTS = pytest.mark.parametrize("polling", [True, False], ids=["polling", "stream"])


@TRANSPORTS
def test_a_worker_keeps_serving_across_a_restart_on_the_same_store_and_port(
    servers: List[Server], tmp_path: Path, polling: bool
) -> None:
    agent = unique("restart-agent")
    port, database = _free_port(), tmp_path / "weft.db"
    servers.append(Server(port, database))
    running = Worker(servers[0].url, worker_id=unique("py-w1"), concurrency=2, polling=polling).agent(
        agent, lambda task: {"done": task.text}
    ).start()
    try:
        with Weft(base_url=servers[0].url) as client:
            wf = client.workflows.create(_echo_workflow(agent))
            _wait_completed(client, wf.run(input={"n": 0}).id, 10)
            before = _only_worker(client).workers[0]
        servers[0].stop()
        servers.append(Server(port, database))
        with Weft(base_url=servers[1].url) as client:
            runs = [client.workflows.run(wf.id, input={"n": n}) for n in range(1, 4)]
            for n, started in enumerate(runs, start=1):
                run = _wait_completed(client, started.id, 20)
                assert from_value(run.steps[0].output) == {"done": f"work on {n}"}
            after = _only_worker(client).workers[0]
            assert after.worker_id == before.worker_id
            if polling:
                assert after.register_time == before.register_time, "the stored registration served the new server"
    finally:
        running.stop()


@TRANSPORTS
def test_a_worker_registers_again_by_itself_when_a_server_does_not_know_it(
    servers: List[Server], tmp_path: Path, polling: bool
) -> None:
    agent = unique("restart-agent")
    port = _free_port()
    servers.append(Server(port, tmp_path / "first.db"))
    running = Worker(servers[0].url, polling=polling).agent(agent, lambda task: {"done": task.text}).start()
    try:
        with Weft(base_url=servers[0].url) as client:
            wf = client.workflows.create(_echo_workflow(agent))
            _wait_completed(client, wf.run(input={"n": 0}).id, 10)
            assigned = _only_worker(client).workers[0].worker_id
        servers[0].stop()
        # Same port, another database: this server never heard of the worker.
        servers.append(Server(port, tmp_path / "second.db"))
        with Weft(base_url=servers[1].url) as client:
            wf = client.workflows.create(_echo_workflow(agent))
            for n in range(1, 3):
                run = _wait_completed(client, wf.run(input={"n": n}).id, 20)
                assert from_value(run.steps[0].output) == {"done": f"work on {n}"}
            assert _only_worker(client).workers[0].worker_id == assigned, "the server-assigned id is kept"
    finally:
        running.stop()


@TRANSPORTS
def test_an_answer_given_while_the_server_is_down_lands_after_the_restart(
    servers: List[Server], tmp_path: Path, polling: bool
) -> None:
    agent = unique("restart-agent")
    port, database = _free_port(), tmp_path / "weft.db"
    servers.append(Server(port, database))
    claimed, release = threading.Event(), threading.Event()
    calls: List[str] = []

    def held(task: TaskContext) -> object:
        calls.append(task.task.task_id)
        claimed.set()
        release.wait(30)
        return {"done": task.text}

    running = Worker(servers[0].url, polling=polling).agent(agent, held).start()
    try:
        with Weft(base_url=servers[0].url) as client:
            wf = client.workflows.create(_echo_workflow(agent))
            run_id = wf.run(input={"n": 7}).id
        assert claimed.wait(10), "the task was claimed"
        servers[0].stop()
        # The handler answers while nothing listens; the worker tries again.
        release.set()
        time.sleep(1.5)
        restarted = time.monotonic()
        servers.append(Server(port, database))
        with Weft(base_url=servers[1].url) as client:
            run = _wait_completed(client, run_id, 8)
            assert time.monotonic() - restarted < LEASE_MS / 1000, "landed before the lease ran out"
            step = run.steps[0]
            assert from_value(step.output) == {"done": "work on 7"}
            assert step.attempts == 1, "the answer was not lost, so the task did not run again"
            assert len(calls) == 1
    finally:
        running.stop()
