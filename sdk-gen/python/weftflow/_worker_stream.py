"""How a worker's task calls reach the server, and its ConnectWorker stream.

A task's heartbeats, completion, failure and tool checks go through a
*link*: :class:`UnaryLink` makes the unary RPCs (the long-polling worker),
:class:`StreamLink` hands them to the :class:`StreamDriver` as reports on the
worker's one ``WorkerService.ConnectWorker`` stream. Either way a refusal is
the :class:`~weftflow.errors.WeftError` the unary RPC would have raised (a
``ReportAnswer.error`` is turned into one, details included), so the task
code treats both alike.

The driver runs on the worker's event loop with grpcio's asyncio streaming:
one coroutine reads (pushed tasks start at once, answers go to the task
that asked), one writes. Everything ready when the writer wakes goes out in
one message: the reports waiting (at most 256), and one credit per handler
slot freed since the last grant. A slot frees when its task is done (its
answer taken), so the tasks a worker holds leases on never outnumber its
``concurrency``.

A stream that breaks (a server restart, a failover) is opened again with
backoff and the same worker id; its hello registers the worker again, which
also answers a server that forgot it. Tasks in flight keep their leases: a
report that was sent but not answered fails with UNAVAILABLE, so the task's
own retries (within the lease) send it again on the next stream; reports not
yet sent wait for it. On shutdown the driver sends ``drain``, lets the tasks
in flight finish and report, half-closes, and returns once the server has
ended the stream.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Optional, Set, Tuple, Union, cast

import grpc
import grpc.aio

from weftflow.aio import AsyncWeft
from weftflow.errors import UnavailableError, WeftError, error_from_rpc, error_from_rpc_status
from weftflow.v1 import worker_pb2, worker_service_pb2 as pb

if TYPE_CHECKING:
    from grpc.aio import StreamStreamCall

    Call = StreamStreamCall[pb.ConnectWorkerRequest, pb.ConnectWorkerResponse]

log = logging.getLogger("weftflow.worker")

#: How long one CheckToolUse waits on the server for an approval decision.
APPROVAL_WAIT_SECONDS = 30
#: Pauses after failed polls, registrations or stream openings, so a down
#: server is not hammered: doubling from the first to the longest.
BACKOFF_FIRST_SECONDS = 0.2
BACKOFF_LONGEST_SECONDS = 5.0
#: The most unused credits the server lets one stream hold.
MAX_CREDITS = 1_000
#: The most reports the server takes in one message.
MAX_REPORTS_PER_MESSAGE = 256


def backoff(n: int, first: float, longest: float) -> float:
    """The ``n``th pause (from 1), doubling from ``first`` up to ``longest``."""
    return float(min(longest, first * 2 ** min(max(n - 1, 0), 16)))


class UnaryLink:
    """A task's calls as unary RPCs."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncWeft) -> None:
        self._client = client

    async def heartbeat(self, request: pb.HeartbeatRequest, until: float) -> pb.HeartbeatResponse:
        return await self._client._call(self._client.workers.Heartbeat, request)

    async def complete(self, request: pb.CompleteTaskRequest, until: float) -> None:
        await self._client._call(self._client.workers.CompleteTask, request)

    async def fail(self, request: pb.FailTaskRequest, until: float) -> None:
        await self._client._call(self._client.workers.FailTask, request)

    async def check_tool_use(self, request: pb.CheckToolUseRequest, until: float) -> pb.CheckToolUseResponse:
        return await self._client._call(self._client.workers.CheckToolUse, request, timeout=APPROVAL_WAIT_SECONDS + 10)


class StreamLink:
    """A task's calls as reports on the worker's stream."""

    __slots__ = ("_driver",)

    def __init__(self, driver: StreamDriver) -> None:
        self._driver = driver

    async def heartbeat(self, request: pb.HeartbeatRequest, until: float) -> pb.HeartbeatResponse:
        answer = await self._driver.ask(pb.WorkerReport(heartbeat=request), until)
        return cast(pb.HeartbeatResponse, _expect(answer, "heartbeat"))

    async def complete(self, request: pb.CompleteTaskRequest, until: float) -> None:
        _expect(await self._driver.ask(pb.WorkerReport(complete=request), until), "complete")

    async def fail(self, request: pb.FailTaskRequest, until: float) -> None:
        _expect(await self._driver.ask(pb.WorkerReport(fail=request), until), "fail")

    async def check_tool_use(self, request: pb.CheckToolUseRequest, until: float) -> pb.CheckToolUseResponse:
        # An approval wait can outlast the lease a little (the heartbeats
        # keep it), so its answer is awaited for the wait plus the lease.
        until = max(until, time.monotonic()) + request.wait_seconds
        answer = await self._driver.ask(pb.WorkerReport(check_tool_use=request), until)
        return cast(pb.CheckToolUseResponse, _expect(answer, "check_tool_use"))


Link = Union[UnaryLink, StreamLink]


def _expect(answer: pb.ReportAnswer, kind: str) -> Any:
    """The unary response in ``answer``, or the error its unary RPC would
    have raised."""
    if answer.HasField("error"):
        raise error_from_rpc_status(answer.error)
    got = answer.WhichOneof("answer")
    if got != kind:
        raise WeftError(grpc.StatusCode.INTERNAL, f"the server answered a {kind} report with {got or 'nothing'}")
    return getattr(answer, kind)


def _give_up(waiter: "asyncio.Future[pb.ReportAnswer]", why: str) -> None:
    if not waiter.done():
        waiter.set_exception(UnavailableError(grpc.StatusCode.UNAVAILABLE, why))


class _Lost(Exception):
    """The stream broke with ``error``."""

    def __init__(self, error: WeftError) -> None:
        super().__init__(str(error))
        self.error = error


class StreamDriver:
    """The worker's side of its ConnectWorker streams, one after another.

    ``spawn(task)`` runs a pushed task and returns its asyncio task, which
    is done once the task's answer was delivered (or given up)."""

    def __init__(
        self,
        client: AsyncWeft,
        registration: pb.RegisterWorkerRequest,
        concurrency: int,
        stop: asyncio.Event,
        spawn: Callable[[worker_pb2.Task], "asyncio.Task[None]"],
    ) -> None:
        self._client = client
        self._registration = registration
        self._capacity = max(1, min(concurrency, MAX_CREDITS))
        self._stop = stop
        self._spawn = spawn
        #: Reports not sent yet, with where their answers go.
        self._queue: Deque[Tuple[pb.WorkerReport, "asyncio.Future[pb.ReportAnswer]"]] = deque()
        #: Reports sent on the current stream and not answered yet.
        self._waiting: Dict[int, "asyncio.Future[pb.ReportAnswer]"] = {}
        self._next_id = 1
        #: Credits the current stream holds unused, as far as the worker knows.
        self._outstanding = 0
        #: Tasks taken and not done (slots taken).
        self._running = 0
        #: Tasks not finished (a handler running, or its answer on the way).
        self._jobs: Set["asyncio.Task[None]"] = set()
        self._draining = False
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    # -- what tasks call -------------------------------------------------

    async def ask(self, report: pb.WorkerReport, until: float) -> pb.ReportAnswer:
        """Sends ``report`` and waits for its answer; UNAVAILABLE when none
        came before ``until`` (monotonic: the lease's end, the stream is
        down) or the stream was lost with it unanswered, so the caller's
        retries apply."""
        waiter: "asyncio.Future[pb.ReportAnswer]" = self._loop.create_future()
        self._queue.append((report, waiter))
        self._wake.set()
        timer = self._loop.call_later(
            max(0.001, until - time.monotonic()), _give_up, waiter, "no answer on the worker stream while the lease held"
        )
        try:
            return await waiter
        finally:
            timer.cancel()

    # -- the streams -----------------------------------------------------

    async def open(self, credits: int, drain: bool) -> Tuple["Call", pb.ConnectWorkerResponse]:
        """A new stream whose hello registers the worker and grants
        ``credits``: the call and its first message (the welcome, perhaps
        with tasks). Raises the WeftError that refused it."""
        call: "Call" = self._client.workers.ConnectWorker(metadata=self._client._metadata)
        try:
            await call.write(pb.ConnectWorkerRequest(hello=self._registration, credits=credits, drain=drain))
            first = await call.read()
        except grpc.aio.AioRpcError as error:
            call.cancel()
            raise error_from_rpc(error) from None
        except BaseException:
            call.cancel()
            raise
        if first is grpc.aio.EOF:
            call.cancel()
            raise UnavailableError(grpc.StatusCode.UNAVAILABLE, "the worker stream ended before its welcome")
        message = cast(pb.ConnectWorkerResponse, first)
        if not message.HasField("welcome"):
            call.cancel()
            raise WeftError(grpc.StatusCode.INTERNAL, "the worker stream's first message has no welcome")
        # Opening again keeps the id, the server-assigned one included.
        self._registration.worker_id = message.welcome.worker_id
        self._outstanding = credits
        return call, message

    def first_credits(self) -> int:
        return self._capacity

    async def serve(self, call: "Call", first: pb.ConnectWorkerResponse) -> None:
        """Serves on ``call`` and the streams after it until ``stop``, then
        drains. Never fails after the first stream opened."""
        watcher = asyncio.ensure_future(self._watch_stop())
        try:
            failures = 0
            current: Optional[Tuple["Call", pb.ConnectWorkerResponse]] = (call, first)
            while True:
                if current is None:
                    if self._draining and self._idle():
                        return
                    credits = 0 if self._draining else max(0, self._capacity - self._running)
                    try:
                        current = await self.open(credits, self._draining)
                    except WeftError as error:
                        failures += 1
                        log.warning("opening the worker stream failed: %s", error)
                        await self._pause(failures)
                        continue
                try:
                    await self._run(*current)
                    return
                except _Lost as lost:
                    failures = 0 if lost.error.code == grpc.StatusCode.NOT_FOUND else failures + 1
                    log.warning("the worker stream broke; opening another: %s", lost.error)
                    current = None
                    await self._pause(max(1, failures))
        finally:
            watcher.cancel()
            for waiter in self._waiting.values():
                _give_up(waiter, "the worker stopped")
            self._waiting.clear()

    async def _watch_stop(self) -> None:
        await self._stop.wait()
        self._wake.set()

    async def _pause(self, failures: int) -> None:
        """Waits before opening another stream; a stop meanwhile starts the
        drain (the stream opened next only finishes the reports)."""
        try:
            await asyncio.wait_for(self._stop.wait(), backoff(failures, BACKOFF_FIRST_SECONDS, BACKOFF_LONGEST_SECONDS))
            self._draining = True
        except asyncio.TimeoutError:
            pass

    def _idle(self) -> bool:
        """Nothing left to report."""
        return not self._jobs and not self._queue

    def _grant(self) -> int:
        """Credits to grant now: one per free slot not yet granted."""
        if self._draining:
            return 0
        more = self._capacity - self._running - self._outstanding
        if more <= 0:
            return 0
        self._outstanding += more
        return more

    async def _run(self, call: "Call", first: pb.ConnectWorkerResponse) -> None:
        """Serves one stream until it ends: returns once drained and closed,
        raises :class:`_Lost` when it broke."""
        self._take(first)
        reader = asyncio.ensure_future(self._read(call))
        reader.add_done_callback(lambda _: self._wake.set())
        half_closed = False
        try:
            while True:
                if reader.done():
                    error = reader.result()
                    if error is None and half_closed:
                        if self._idle():
                            return
                        # A task pushed before the server read the drain
                        # came after the half-close: report it on another.
                        error = UnavailableError(grpc.StatusCode.UNAVAILABLE, "a task came after the half-close")
                    raise _Lost(error or UnavailableError(grpc.StatusCode.UNAVAILABLE, "the server ended the worker stream"))
                if half_closed:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                message = pb.ConnectWorkerRequest()
                if self._stop.is_set() and not self._draining:
                    self._draining = True
                    self._outstanding = 0
                    message.drain = True
                self._gather(message)
                if message.reports or message.credits or message.drain:
                    try:
                        await call.write(message)
                    except (grpc.aio.AioRpcError, asyncio.InvalidStateError, grpc.aio.UsageError, RuntimeError):
                        # The call ended; the reader has (or soon has) why.
                        error = await reader
                        raise _Lost(error or UnavailableError(grpc.StatusCode.UNAVAILABLE, "the worker stream closed"))
                    continue
                # Drained: every task reported. Half-close; the server ends
                # the stream once it has answered everything.
                if self._draining and self._idle() and not self._waiting:
                    await call.done_writing()
                    half_closed = True
                    continue
                self._wake.clear()
                await self._wake.wait()
        except _Lost:
            for waiter in self._waiting.values():
                _give_up(waiter, "the worker stream was lost before the answer")
            self._waiting.clear()
            raise
        finally:
            if not reader.done():
                reader.cancel()
            # Ends the call unless it already ended (drained and closed):
            # lost, or the worker's task was cancelled.
            call.cancel()

    def _gather(self, message: pb.ConnectWorkerRequest) -> None:
        """Puts the reports waiting (up to the server's limit) and the
        credits due into ``message``."""
        queue = self._queue
        while queue and len(message.reports) < MAX_REPORTS_PER_MESSAGE:
            report, waiter = queue.popleft()
            if waiter.done():  # its asker gave up
                continue
            report.report_id = self._next_id
            self._waiting[self._next_id] = waiter
            self._next_id += 1
            message.reports.append(report)
        if queue:
            self._wake.set()
        message.credits = self._grant()

    async def _read(self, call: "Call") -> Optional[WeftError]:
        """Reads until the stream ends: None when it ended OK, else why."""
        try:
            while True:
                message = await call.read()
                if message is grpc.aio.EOF:
                    return None
                self._take(cast(pb.ConnectWorkerResponse, message))
        except grpc.aio.AioRpcError as error:
            return error_from_rpc(error)

    def _take(self, message: pb.ConnectWorkerResponse) -> None:
        """A message from the server: runs its tasks, routes its answers."""
        for task in message.tasks:
            self._start(task)
        waiting = self._waiting
        for answer in message.answers:
            waiter = waiting.pop(answer.report_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(answer)

    def _start(self, task: worker_pb2.Task) -> None:
        if self._outstanding > 0:
            self._outstanding -= 1
        self._running += 1
        job = self._spawn(task)
        self._jobs.add(job)

        def finished(done: "asyncio.Task[None]") -> None:
            self._running -= 1
            self._jobs.discard(done)
            # While the server holds more than half the credits, the ones
            # freed now wait for the next message of reports rather than
            # take a message of their own.
            if self._draining or self._outstanding <= self._capacity // 2:
                self._wake.set()

        job.add_done_callback(finished)
