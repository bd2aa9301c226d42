"""The worker over its ConnectWorker stream, against a live server: a chain
completes with no unary task call, the tasks a worker holds never outnumber
its concurrency (its handlers, and the server's own in-flight count), a
cancel reaches the handler, so does a pause and its end, a refused report raises the unary call's typed
error, shutdown drains and reports the tasks in flight, and a server
without the stream (UNIMPLEMENTED) is long-polled instead. Restarts and
reconnects are in test_worker_restart.py (both transports)."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any, Dict, List

import grpc
import grpc.aio

from conftest import unique
from weftflow import AsyncWeft, Outcome, TaskContext, Worker, from_value, run_status_name, workflow
from weftflow.errors import AbortedError
from weftflow.v1 import worker_service_pb2 as pb


class CountingWorkers:
    """The client's WorkerService stub, counting the methods used; with
    ``unimplemented`` its ConnectWorker answers as an older server would."""

    def __init__(self, stub: Any, unimplemented: bool = False) -> None:
        self._stub = stub
        self._unimplemented = unimplemented
        self.used: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        self.used[name] += 1
        if name == "ConnectWorker" and self._unimplemented:
            return lambda **_: UnimplementedCall()
        return getattr(self._stub, name)


class UnimplementedCall:
    """A ConnectWorker call on a server that has no such method."""

    def _refuse(self) -> grpc.aio.AioRpcError:
        return grpc.aio.AioRpcError(grpc.StatusCode.UNIMPLEMENTED, grpc.aio.Metadata(), grpc.aio.Metadata(), "unimplemented")

    async def write(self, _: Any) -> None:
        raise self._refuse()

    async def read(self) -> Any:
        raise self._refuse()

    def cancel(self) -> bool:
        return True


def _counted(client: AsyncWeft, unimplemented: bool = False) -> Counter[str]:
    """Counts the WorkerService methods ``client`` uses from now on."""
    counting = CountingWorkers(client.workers, unimplemented)
    client.workers = counting  # type: ignore[assignment]
    return counting.used


def _chain(agent: str, steps: int) -> Any:
    builder = workflow(unique("chain")).step({"id": "s0", "agent": agent, "task": "step", "inputMap": {"n": "$.input.n"}})
    for i in range(1, steps):
        builder = builder.step(
            {"id": f"s{i}", "agent": agent, "task": "step", "dependsOn": [f"s{i - 1}"], "inputMap": {"n": f"$.s{i - 1}.output.n"}}
        )
    return builder


def test_a_chain_completes_over_the_stream(url: str) -> None:
    agent = unique("chain-agent")

    async def add_one(task: TaskContext) -> Outcome:
        return Outcome({"n": int(task.input["n"]) + 1}, cost=1)

    async def scenario() -> None:
        async with AsyncWeft(base_url=url) as client:
            used = _counted(client)
            stop = asyncio.Event()
            serving = asyncio.ensure_future(Worker(client, concurrency=4).agent(agent, add_one).serve(stop))
            try:
                wf = await client.workflows.create(_chain(agent, 10))
                runs = [await wf.run(input={"n": k * 100}) for k in range(5)]
                for k, run in enumerate(runs):
                    events = [e async for e in client.workflows.stream_run(run.id)]
                    assert events[-1].type == "run.completed"
                    done = await client.workflows.get_run(run.id)
                    assert from_value(next(s.output for s in done.steps if s.id == "s9")) == {"n": k * 100 + 10}
                    assert done.cost.amount == 10
            finally:
                stop.set()
                await asyncio.wait_for(serving, 30)
            assert used["ConnectWorker"] == 1, used
            unary = {"RegisterWorker", "PollTask", "Heartbeat", "CompleteTask", "FailTask", "CheckToolUse"}
            assert not unary & set(used), f"no unary task calls: {used}"

    asyncio.run(scenario())


def test_a_streaming_worker_never_holds_more_tasks_than_its_concurrency(url: str) -> None:
    agent = unique("busy-agent")
    state = {"active": 0, "most": 0}
    server_counts: List[int] = []

    async def busy(task: TaskContext) -> Outcome:
        state["active"] += 1
        state["most"] = max(state["most"], state["active"])
        await asyncio.sleep(0.1)
        state["active"] -= 1
        return Outcome({"ok": True})

    def plain(task: TaskContext) -> Dict[str, bool]:
        threading.Event().wait(0.05)
        return {"ok": True}

    async def scenario() -> None:
        async with AsyncWeft(base_url=url) as client:
            stop = asyncio.Event()
            worker_id = unique("py-stream-busy")
            serving = asyncio.ensure_future(
                Worker(client, worker_id=worker_id, concurrency=3).agent(agent, busy).agent(agent + "-plain", plain).serve(stop)
            )
            watching = True

            async def watch() -> None:
                while watching:
                    listed = await client._call(client.workers.ListWorkers, pb.ListWorkersRequest(agent=agent))
                    server_counts.extend(w.in_flight for w in listed.workers if w.worker_id == worker_id)
                    await asyncio.sleep(0.01)

            watcher = asyncio.ensure_future(watch())
            try:
                branches = [{"id": f"b{i}", "agent": agent, "task": "work"} for i in range(12)]
                branches += [{"id": f"p{i}", "agent": agent + "-plain", "task": "work"} for i in range(6)]
                wf = await client.workflows.create(workflow(unique("fan")).step({"id": "fan", "type": "parallel", "steps": branches}))
                run = await wf.run(input={})
                events = [e async for e in client.workflows.stream_run(run.id)]
                assert events[-1].type == "run.completed"
            finally:
                watching = False
                await watcher
                stop.set()
                await asyncio.wait_for(serving, 30)
            assert state["most"] == 3, state
            assert server_counts and max(server_counts) <= 3, server_counts
            assert max(server_counts) >= 2, f"the server saw the tasks in flight: {server_counts}"

    asyncio.run(scenario())


def test_a_cancel_reaches_the_handler_over_the_stream(url: str) -> None:
    agent = unique("slow-agent")

    async def scenario() -> None:
        told = asyncio.Event()

        started = asyncio.Event()

        async def slow(task: TaskContext) -> Outcome:
            started.set()
            await task.cancelled.wait()
            told.set()
            return Outcome({"late": True})

        async with AsyncWeft(base_url=url) as client:
            used = _counted(client)
            stop = asyncio.Event()
            serving = asyncio.ensure_future(Worker(client, heartbeat_every=0.2).agent(agent, slow).serve(stop))
            try:
                wf = await client.workflows.create(workflow(unique("cancel")).step({"id": "wait", "agent": agent, "task": "t"}))
                run = await wf.run(input={})
                # Once the handler runs: a cancel before the worker's stream
                # is up would withdraw the task before it is pushed.
                await asyncio.wait_for(started.wait(), 10)
                await client.runs.cancel(run.id, "test")
                await asyncio.wait_for(told.wait(), 10)
                assert run_status_name((await client.workflows.get_run(run.id)).status) == "cancelled"
            finally:
                stop.set()
                await asyncio.wait_for(serving, 30)
            assert "Heartbeat" not in used and used["ConnectWorker"] == 1, used

    asyncio.run(scenario())


def test_a_refused_report_raises_the_unary_calls_error(url: str) -> None:
    agent = unique("stale-agent")
    seen: List[BaseException] = []

    async def stale(task: TaskContext) -> Outcome:
        assert task._link is not None
        request = pb.HeartbeatRequest(task_id=task.task.task_id, lease_token=task.task.lease_token + 1)
        try:
            await task._link.heartbeat(request, task._lease_until)
        except Exception as error:
            seen.append(error)
        return Outcome({"ok": True})

    async def scenario() -> None:
        async with AsyncWeft(base_url=url) as client:
            stop = asyncio.Event()
            serving = asyncio.ensure_future(Worker(client).agent(agent, stale).serve(stop))
            try:
                wf = await client.workflows.create(workflow(unique("stale")).step({"id": "s", "agent": agent, "task": "t"}))
                run = await wf.run(input={})
                events = [e async for e in client.workflows.stream_run(run.id)]
                assert events[-1].type == "run.completed"
            finally:
                stop.set()
                await asyncio.wait_for(serving, 30)
        assert len(seen) == 1 and isinstance(seen[0], AbortedError), seen
        assert seen[0].reason == "LEASE_STALE" and seen[0].code == grpc.StatusCode.ABORTED

    asyncio.run(scenario())


def test_shutdown_drains_the_stream_and_reports_the_tasks_in_flight(url: str) -> None:
    agent = unique("drain-agent")

    async def scenario() -> None:
        started = asyncio.Event()

        async def slowish(task: TaskContext) -> Outcome:
            started.set()
            await asyncio.sleep(0.5)
            return Outcome({"finished": True})

        async with AsyncWeft(base_url=url) as client:
            stop = asyncio.Event()
            serving = asyncio.ensure_future(Worker(client, concurrency=2).agent(agent, slowish).serve(stop))
            wf = await client.workflows.create(workflow(unique("drain")).step({"id": "s", "agent": agent, "task": "t"}))
            run = await wf.run(input={})
            await asyncio.wait_for(started.wait(), 10)
            stop.set()
            await asyncio.wait_for(serving, 10)
            done = await client.workflows.get_run(run.id)
            assert run_status_name(done.status) == "completed", done
            assert from_value(done.steps[0].output) == {"finished": True}
            assert done.steps[0].attempts == 1

    asyncio.run(scenario())


def test_a_server_without_the_stream_is_long_polled(url: str) -> None:
    agent = unique("old-server-agent")

    async def scenario() -> None:
        async with AsyncWeft(base_url=url) as client:
            used = _counted(client, unimplemented=True)
            stop = asyncio.Event()
            serving = asyncio.ensure_future(Worker(client).agent(agent, lambda task: {"polled": task.text}).serve(stop))
            try:
                wf = await client.workflows.create(workflow(unique("old")).step({"id": "s", "agent": agent, "task": "hi"}))
                run = await wf.run(input={})
                events = [e async for e in client.workflows.stream_run(run.id)]
                assert events[-1].type == "run.completed"
                done = await client.workflows.get_run(run.id)
                assert from_value(done.steps[0].output) == {"polled": "hi"}
            finally:
                stop.set()
                await asyncio.wait_for(serving, 30)
            assert used["ConnectWorker"] == 1 and used["RegisterWorker"] >= 1 and used["PollTask"] >= 1, used
            assert used["CompleteTask"] == 1, used

    asyncio.run(scenario())


def test_a_paused_run_is_seen_by_the_handler_over_the_stream(url: str) -> None:
    agent = unique("pausing-agent")

    async def scenario() -> None:
        running, paused, resumed = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def patient(task: TaskContext) -> Outcome:
            running.set()
            for _ in range(400):
                if task.is_paused:
                    paused.set()
                elif paused.is_set():
                    resumed.set()
                    return Outcome({"held": True})
                await asyncio.sleep(0.05)
            return Outcome({"held": False})

        async with AsyncWeft(base_url=url) as client:
            stop = asyncio.Event()
            serving = asyncio.ensure_future(Worker(client, heartbeat_every=0.2).agent(agent, patient).serve(stop))
            try:
                wf = await client.workflows.create(workflow(unique("pause")).step({"id": "s", "agent": agent, "task": "t"}))
                run = await wf.run(input={})
                await asyncio.wait_for(running.wait(), 10)
                await client.runs.pause(run.id, reason="test")
                await asyncio.wait_for(paused.wait(), 10)
                await client.runs.resume(run.id)
                await asyncio.wait_for(resumed.wait(), 10)
                events = [e async for e in client.workflows.stream_run(run.id)]
                assert events[-1].type == "run.completed"
                done = await client.workflows.get_run(run.id)
                assert run_status_name(done.status) == "completed", done
                assert from_value(done.steps[0].output) == {"held": True}
            finally:
                stop.set()
                await asyncio.wait_for(serving, 30)

    asyncio.run(scenario())


class Proxy:
    """A TCP proxy to the server whose connections the test can cut."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections: List[asyncio.StreamWriter] = []
        self.opened = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.connections += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        for writer in self.connections:
            writer.transport.abort()
        self.connections.clear()

    async def close(self) -> None:
        self.cut()
        self.server.close()


def test_a_dropped_stream_reconnects_and_reports_the_task_it_held(url: str) -> None:
    agent = unique("dropped-agent")
    port = int(url.rsplit(":", 1)[1])

    async def scenario() -> None:
        claimed, release = asyncio.Event(), asyncio.Event()
        calls: List[str] = []

        async def held(task: TaskContext) -> Outcome:
            calls.append(task.task.task_id)
            claimed.set()
            await release.wait()
            return Outcome({"done": task.text})

        proxy = Proxy(port)
        proxied = f"http://127.0.0.1:{await proxy.start()}"
        worker_id = unique("py-dropped")
        async with AsyncWeft(base_url=url) as client, AsyncWeft(base_url=proxied) as through:
            stop = asyncio.Event()
            serving = asyncio.ensure_future(Worker(through, worker_id=worker_id).agent(agent, held).serve(stop))
            try:
                wf = await client.workflows.create(workflow(unique("dropped")).step({"id": "s", "agent": agent, "task": "t"}))
                run = await wf.run(input={})
                await asyncio.wait_for(claimed.wait(), 10)
                proxy.cut()
                await asyncio.sleep(0.3)
                release.set()
                deadline = asyncio.get_running_loop().time() + 15
                while run_status_name((await client.workflows.get_run(run.id)).status) != "completed":
                    assert asyncio.get_running_loop().time() < deadline, "the answer landed on the new stream"
                    await asyncio.sleep(0.05)
                done = await client.workflows.get_run(run.id)
                assert from_value(done.steps[0].output) == {"done": "t"}
                assert done.steps[0].attempts == 1 and len(calls) == 1
                assert proxy.opened >= 2, "the worker connected again"
                listed = await client._call(client.workers.ListWorkers, pb.ListWorkersRequest(agent=agent))
                assert [w.worker_id for w in listed.workers] == [worker_id]
            finally:
                stop.set()
                await asyncio.wait_for(serving, 30)
                await proxy.close()

    asyncio.run(scenario())
