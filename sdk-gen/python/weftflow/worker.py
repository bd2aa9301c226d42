"""The worker runtime: serve agents with plain functions, async or not.

    from weftflow import Weft, Worker

    worker = Worker(Weft("http://127.0.0.1:7070"), name="researchers", concurrency=8)

    @worker.agent("web-researcher")
    def research(task):                      # or ``async def``
        return {"site": task.input["website"]}

    worker.run()                             # or ``with worker.start(): ...``

A handler gets a :class:`TaskContext` (``task.input``: the step's inputMap
values; ``task.text``: the rendered task; ``task.cancelled``;
``task.check_tool``) and returns either a bare JSON value, the step's
output, or an :class:`Outcome` (``output``, ``cost``, ``state`` writes).
Raising :class:`NonRetryableError` fails the step at once; raising
:class:`RetryableError` fails the attempt, which is retried while the
step's ``retries`` last (:class:`TaskError` takes ``retryable=`` and a
``code``). **Any other exception also fails the attempt retryably**: an
unexpected crash is treated as transient, so a step that must not be
retried should raise ``NonRetryableError``. Plain (non-async) handlers run
in threads of the worker's own (one per slot).

Like the Rust runtime it connects one ``WorkerService.ConnectWorker``
stream (its hello registers the worker), grants the server one credit per
free handler slot and runs up to ``concurrency`` handlers at once on the
tasks the server pushes; heartbeats, completions, failures and tool checks
travel back on the same stream, batched (``weftflow/_worker_stream.py``). A
server without the stream (UNIMPLEMENTED) is served by long polls instead,
as is every server with ``polling=True``. Either way it heartbeats every
task (a third of the lease) so the lease holds, sets ``task.cancelled``
when the run is cancelled or the lease is lost (then gives the handler a
grace period and cancels it; its answer no longer counts), completes or
fails the task with the handler's answer (trying again while the server is
unreachable, for as long as the lease would hold, so a restart costs
neither the result nor a re-execution), connects or registers again by
itself with backoff and the same worker id when the stream breaks or a
poll is told NOT_FOUND for this worker (a server on a fresh database, or
one that forgot a worker silent too long), and on shutdown stops taking
tasks (the stream's drain), lets the tasks in flight finish and report,
and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Mapping, Optional, Set, TypeVar, Union, overload

import grpc

from weftflow._json import JSON, MoneyLike, from_struct, to_money, to_struct, to_value
from weftflow._tracing import TaskSpan, start_task_span
from weftflow._worker_stream import (
    APPROVAL_WAIT_SECONDS,
    BACKOFF_FIRST_SECONDS,
    BACKOFF_LONGEST_SECONDS,
    Link,
    StreamDriver,
    StreamLink,
    UnaryLink,
    backoff as _backoff,
)
from weftflow.aio import AsyncWeft
from weftflow.client import Weft
from weftflow.models import Money
from weftflow.errors import NotFoundError, UnimplementedError, WeftError
from weftflow.v1 import common_pb2, worker_pb2, worker_service_pb2 as pb

log = logging.getLogger("weftflow.worker")

#: How long one poll waits on the server for a task.
POLL_WAIT_SECONDS = 20
#: How long a handler told of a cancel may take to return by itself.
CANCEL_GRACE_SECONDS = 5.0
#: Least time between two registrations of one worker, seconds.
MIN_REGISTRATION_GAP_SECONDS = 1.0
#: Pauses between tries of an answer the server did not take because it was
#: unreachable: doubling from the first to the longest, within the lease.
ANSWER_RETRY_FIRST_SECONDS = 0.1
ANSWER_RETRY_LONGEST_SECONDS = 2.0
#: Status codes of a call that may not have reached the server, or that the
#: server could not take: it was unreachable, restarting, or failing over.
TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DEADLINE_EXCEEDED)


@dataclass
class Outcome:
    """What a handler answers for a task that worked, when a bare output is
    not enough: ``Outcome(output={...}, cost=12, state={"seen": True})``."""

    #: The step's output, seen by later steps as ``$.<step>.output``.
    output: JSON
    #: What the attempt cost: cents of usd, a :class:`~weftflow.Money`, or
    #: ``{"amount", "currency"}``.
    cost: Optional[Union[MoneyLike, Money]] = None
    #: Shared-state keys the step writes (each declared in its ``stateWrites``).
    state: Optional[Mapping[str, Any]] = None
    #: The former name of ``state``; both are sent when both are given.
    state_writes: Optional[Mapping[str, Any]] = None


#: Longest error message sent to the server; a longer one is cut (a stack
#: dump in an exception's text must not become a huge step error).
MAX_ERROR_CHARS = 4000


class TaskError(Exception):
    """Raise to fail the attempt: ``retryable=False`` fails the step at once,
    ``code`` (UPPER_SNAKE) is recorded with the error."""

    def __init__(self, message: str, *, retryable: bool = True, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code


class RetryableError(TaskError):
    """Fails the attempt; the step is tried again while its ``retries`` last."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message, retryable=True, code=code)


class NonRetryableError(TaskError):
    """Fails the step at once, whatever its ``retries``."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message, retryable=False, code=code)


@dataclass(frozen=True)
class ToolVerdict:
    """The server's answer to :meth:`TaskContext.check_tool`."""

    allowed: bool
    reason: str


@dataclass
class TaskContext:
    """One claimed task, as a handler sees it."""

    #: The task as the server sent it (ids, attempt, policy, lease, ...).
    task: worker_pb2.Task
    #: The step's inputMap values.
    input: Dict[str, Any]
    #: Set when the run is cancelled or the lease is lost.
    cancelled: asyncio.Event
    _client: AsyncWeft
    _loop: asyncio.AbstractEventLoop
    _cost_cents: int = 0
    _paused: bool = False
    #: Until when the lease holds (``time.monotonic()``): a lease length
    #: after the claim or the last heartbeat the server took.
    _lease_until: float = 0.0
    #: How its calls reach the server (the stream, or unary RPCs).
    _link: Optional[Link] = None

    @property
    def text(self) -> str:
        """The rendered task text."""
        return self.task.task

    @property
    def run_id(self) -> str:
        return self.task.run_id

    @property
    def step_id(self) -> str:
        return self.task.step_id

    @property
    def agent(self) -> str:
        return self.task.agent

    @property
    def attempt(self) -> int:
        """1 for the first attempt, 2 after one retry, ..."""
        return self.task.attempt

    @property
    def state(self) -> Dict[str, Any]:
        """The shared-state keys the step declares in ``stateReads``, as plain JSON."""
        return from_struct(self.task.state) if self.task.HasField("state") else {}

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled.is_set()

    @property
    def is_paused(self) -> bool:
        """True while the last heartbeat said the step is paused."""
        return self._paused

    def report_cost(self, cents: int) -> None:
        """Cost so far (cents, usd), carried by the next heartbeat."""
        self._cost_cents = cents

    async def check_tool(self, tool: str, arguments: Optional[Mapping[str, Any]] = None) -> ToolVerdict:
        """Asks whether the agent may use ``tool`` now, applying the workflow's
        policy; a tool that needs approval waits for a person's decision."""
        request = pb.CheckToolUseRequest(
            task_id=self.task.task_id, lease_token=self.task.lease_token, tool=tool
        )
        if arguments:
            request.arguments.CopyFrom(to_struct(arguments))
        link = self._link or UnaryLink(self._client)
        while True:
            asked = asyncio.ensure_future(link.check_tool_use(request, self._lease_until))
            stopped = asyncio.ensure_future(self.cancelled.wait())
            done, _ = await asyncio.wait({asked, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if asked not in done:
                asked.cancel()
                return ToolVerdict(False, "the run was cancelled")
            stopped.cancel()
            answer = asked.result()
            if answer.decision == worker_pb2.TOOL_DECISION_ALLOW:
                return ToolVerdict(True, answer.reason)
            if answer.decision != worker_pb2.TOOL_DECISION_REQUIRE_APPROVAL:
                return ToolVerdict(False, answer.reason)
            request.approval_id = answer.approval_id
            request.wait_seconds = APPROVAL_WAIT_SECONDS

    def check_tool_sync(self, tool: str, arguments: Optional[Mapping[str, Any]] = None) -> ToolVerdict:
        """:meth:`check_tool` for plain handlers (they run in a thread)."""
        return asyncio.run_coroutine_threadsafe(self.check_tool(tool, arguments), self._loop).result()


Handler = Callable[[TaskContext], Union[Awaitable[Any], Any]]
_H = TypeVar("_H", bound=Handler)
#: Longest agent name (the server's limit on names).
MAX_AGENT_NAME = 200


class Worker:
    """Agents and their handlers, then :meth:`serve` (or :meth:`run`)."""

    def __init__(
        self,
        client: Union[AsyncWeft, Weft, str],
        *,
        name: str = "",
        worker_id: str = "",
        concurrency: int = 1,
        heartbeat_every: Optional[float] = None,
        polling: bool = False,
    ) -> None:
        """``client`` is a :class:`Weft`, an :class:`AsyncWeft` or a base URL
        (for the first and the last an asyncio client is made inside the
        worker's loop, with the same URL and credentials). ``polling`` long-polls for tasks with
        the unary RPCs instead of the ConnectWorker stream (a server without
        the stream is polled anyway)."""
        self._client = client
        self._name = name
        self._worker_id = worker_id
        self._concurrency = max(1, concurrency)
        self._heartbeat_every = heartbeat_every
        self._polling = polling
        self._handlers: Dict[str, Handler] = {}
        self._hints: List[worker_pb2.AgentCostHint] = []

    @overload
    def agent(self, agent: str) -> Callable[[_H], _H]: ...

    @overload
    def agent(self, agent: str, handler: Handler) -> Worker: ...

    def agent(self, agent: str, handler: Optional[Handler] = None) -> Union[Worker, Callable[[_H], _H]]:
        """Serves ``agent`` with ``handler``; without one, a decorator::

            @worker.agent("web-researcher")
            async def research(task: TaskContext) -> dict: ...
        """
        if not agent or len(agent) > MAX_AGENT_NAME:
            raise ValueError(f"an agent name is 1 to {MAX_AGENT_NAME} characters, not {agent!r}")
        if handler is not None:
            self._handlers[agent] = handler
            return self

        def register(function: _H) -> _H:
            self._handlers[agent] = function
            return function

        return register

    def cost_hint(self, agent: str, min_cents: int, max_cents: int, currency: str = "usd") -> Worker:
        """Expected cost of one call of ``agent``, for estimates."""
        self._hints.append(
            worker_pb2.AgentCostHint(
                agent=agent,
                min_cost=common_pb2.Money(amount=min_cents, currency=currency),
                max_cost=common_pb2.Money(amount=max_cents, currency=currency),
            )
        )
        return self

    def run(self) -> None:
        """Serves until Ctrl-C or SIGTERM (blocking; makes its own event loop)."""

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await self.serve(stop)

        asyncio.run(main())

    def start(self) -> RunningWorker:
        """Serves in a background thread (its own event loop), for code that
        uses the sync client; :meth:`RunningWorker.stop` shuts it down.
        ``client`` must then be a :class:`Weft` or a base URL: an AsyncWeft
        belongs to one loop."""
        if isinstance(self._client, AsyncWeft):
            raise TypeError("Worker.start() needs a Weft client or a base URL; an AsyncWeft is bound to its own event loop")
        return RunningWorker(self)

    async def serve(self, stop: asyncio.Event) -> None:
        """Registers, then serves tasks until ``stop`` is set; then lets the
        tasks in flight finish and returns. Raises only if registration fails."""
        if isinstance(self._client, AsyncWeft):
            client = self._client
        elif isinstance(self._client, Weft):
            client = AsyncWeft(self._client.base_url, headers=self._client._metadata)
        else:
            client = AsyncWeft(self._client)
        try:
            await self._serve(client, stop)
        finally:
            if client is not self._client:
                await client.close()

    async def _serve(self, client: AsyncWeft, stop: asyncio.Event) -> None:
        registration = pb.RegisterWorkerRequest(
            worker_id=self._worker_id,
            name=self._name,
            agents=list(self._handlers),
            concurrency=self._concurrency,
            cost_hints=self._hints,
        )
        # Plain handlers run in threads of their own, one per slot, so
        # ``concurrency`` of them can run at once.
        executor = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="weft-handler")
        try:
            if not self._polling:
                driver = StreamDriver(client, registration, self._concurrency, stop, lambda task: spawn(task))
                try:
                    call, first = await driver.open(driver.first_credits(), False)
                except UnimplementedError:
                    log.info("the server has no ConnectWorker stream; long-polling instead")
                else:
                    lease = float(max(1, first.welcome.lease_seconds))
                    heartbeat_every = self._heartbeat_every or lease / 3
                    link = StreamLink(driver)

                    def spawn(task: worker_pb2.Task) -> "asyncio.Task[None]":
                        return asyncio.ensure_future(
                            self._execute(client, link, executor, task, heartbeat_every, time.monotonic() + lease, lease)
                        )

                    await driver.serve(call, first)
                    return
            await self._poll(client, registration, stop, executor)
        finally:
            executor.shutdown(wait=False)

    async def _poll(
        self, client: AsyncWeft, registration: pb.RegisterWorkerRequest, stop: asyncio.Event, executor: ThreadPoolExecutor
    ) -> None:
        """Serves by long polls: registers, then keeps up to ``concurrency``
        tasks in flight, each claimed by a poll as a slot frees."""
        registered = await client._call(client.workers.RegisterWorker, registration)
        # Registering again keeps the id, the server-assigned one included.
        registration.worker_id = registered.worker_id
        lease = float(max(1, registered.lease_seconds))
        heartbeat_every = self._heartbeat_every or lease / 3
        link = UnaryLink(client)
        slots = asyncio.Semaphore(self._concurrency)
        in_flight: Set["asyncio.Task[None]"] = set()
        # How many registrations went through: a poller told NOT_FOUND
        # registers again only if none did since its poll went out, and
        # the lock makes pollers told together register once.
        registrations = [1]
        registering = asyncio.Lock()
        registered_at = [time.monotonic()]

        async def pause(seconds: float) -> bool:
            """Sleeps unless ``stop`` is set first; False when it is."""
            try:
                await asyncio.wait_for(stop.wait(), seconds)
                return False
            except asyncio.TimeoutError:
                return True

        async def register_again(seen: int) -> bool:
            async with registering:
                if registrations[0] != seen:
                    return True
                log.warning("the server does not know worker %s (any more); registering again", registration.worker_id)
                # A server that keeps forgetting the worker (say, a replica
                # whose clock is far off) must not turn this into a busy loop.
                if not await pause(max(0.0, registered_at[0] + MIN_REGISTRATION_GAP_SECONDS - time.monotonic())):
                    return False
                failures = 0
                while not stop.is_set():
                    try:
                        await client._call(client.workers.RegisterWorker, registration)
                    except WeftError as error:
                        failures += 1
                        log.warning("registering again failed: %s", error)
                        if not await pause(_backoff(failures, BACKOFF_FIRST_SECONDS, BACKOFF_LONGEST_SECONDS)):
                            return False
                        continue
                    registered_at[0] = time.monotonic()
                    registrations[0] += 1
                    return True
                return False

        async def poll_loop() -> None:
            failures = 0
            while not stop.is_set():
                await slots.acquire()
                if stop.is_set():
                    slots.release()
                    return
                seen = registrations[0]
                sent = time.monotonic()
                polled = asyncio.ensure_future(
                    client._call(
                        client.workers.PollTask,
                        pb.PollTaskRequest(worker_id=registered.worker_id, wait_seconds=POLL_WAIT_SECONDS),
                        timeout=POLL_WAIT_SECONDS + 10,
                    )
                )
                stopping = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({polled, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if polled not in done:
                    polled.cancel()
                    slots.release()
                    return
                try:
                    response = polled.result()
                except NotFoundError:
                    # The only thing a poll can find missing is this worker.
                    slots.release()
                    if not await register_again(seen):
                        return
                    continue
                except WeftError as error:
                    slots.release()
                    failures += 1
                    log.warning("poll failed: %s", error)
                    if not await pause(_backoff(failures, BACKOFF_FIRST_SECONDS, BACKOFF_LONGEST_SECONDS)):
                        return
                    continue
                failures = 0
                if not response.HasField("task"):
                    slots.release()
                    continue
                job = asyncio.ensure_future(
                    self._execute(client, link, executor, response.task, heartbeat_every, sent + lease, lease)
                )
                in_flight.add(job)

                def finished(done_job: "asyncio.Task[None]") -> None:
                    in_flight.discard(done_job)
                    slots.release()

                job.add_done_callback(finished)

        await asyncio.gather(*(poll_loop() for _ in range(min(self._concurrency, 8))))
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)

    async def _execute(
        self,
        client: AsyncWeft,
        link: Link,
        executor: ThreadPoolExecutor,
        task: worker_pb2.Task,
        heartbeat_every: float,
        lease_until: float,
        lease: float,
    ) -> None:
        """Runs one task, whose lease holds until ``lease_until`` (monotonic
        time) unless heartbeats extend it by ``lease``: its handler,
        heartbeats beside it, then the report."""
        handler = self._handlers.get(task.agent)
        if handler is None:
            missing = TaskError(f"this worker has no handler for agent '{task.agent}'", retryable=False)
            await _fail(link, task, missing, lease_until)
            return
        loop = asyncio.get_running_loop()
        context = TaskContext(
            task=task,
            input=from_struct(task.input) if task.HasField("input") else {},
            cancelled=asyncio.Event(),
            _client=client,
            _loop=loop,
            _lease_until=lease_until,
            _link=link,
        )

        async def call() -> Any:
            result = await loop.run_in_executor(executor, contextvars.copy_context().run, handler, context)
            return await result if inspect.isawaitable(result) else result

        # The handler's span, in the run's trace (only with OpenTelemetry):
        # current while the handler's task is made, so the task (and the
        # contextvars copy a plain handler's thread runs in) keeps it.
        span = start_task_span(task)
        with span.activated() if span is not None else contextlib.nullcontext():
            work: "asyncio.Future[Any]" = asyncio.ensure_future(
                handler(context) if inspect.iscoroutinefunction(handler) else call()
            )
        if span is not None:
            # Ended as the handler ends, before its answer is reported.
            work.add_done_callback(functools.partial(_end_span, span, context.cancelled))
        # The heartbeats start after a period (most tasks are done by then,
        # and cost no heartbeat task at all). Told of a cancel or a lost
        # lease they set ``context.cancelled``, give the handler a moment to
        # stop by itself, then cancel it. Its answer no longer counts.
        beats: List["asyncio.Task[None]"] = []
        timer = loop.call_later(
            heartbeat_every,
            lambda: beats.append(asyncio.ensure_future(self._heartbeats(link, task, context, heartbeat_every, lease, work))),
        )
        try:
            result = await work
        except asyncio.CancelledError:
            if context.cancelled.is_set() and work.cancelled():
                return
            raise
        except BaseException as error:  # the handler's failure, whatever it raised
            if not context.cancelled.is_set():
                await _fail(link, task, error, context._lease_until)
            return
        finally:
            timer.cancel()
            for beat in beats:
                beat.cancel()
        if context.cancelled.is_set():
            return
        outcome = result if isinstance(result, Outcome) else Outcome(result)
        request = pb.CompleteTaskRequest(task_id=task.task_id, lease_token=task.lease_token)
        try:
            request.output.CopyFrom(to_value(outcome.output))
            if isinstance(outcome.cost, Money):
                request.cost.CopyFrom(common_pb2.Money(amount=outcome.cost.amount, currency=outcome.cost.currency))
            elif outcome.cost is not None:
                request.cost.CopyFrom(to_money(outcome.cost))
            writes = {**(outcome.state_writes or {}), **(outcome.state or {})}
            if writes:
                request.state_writes.CopyFrom(to_struct(writes))
        except Exception as unusable:  # not JSON: fail the attempt with why
            await _fail(link, task, TaskError(f"the handler's outcome is not valid: {unusable}", retryable=False), context._lease_until)
            return
        until = context._lease_until
        try:
            await _deliver(task.task_id, until, lambda: link.complete(request, until))
        except WeftError as refused:
            log.warning("the answer to task %s was refused: %s", task.task_id, refused)
            # A completion refused as invalid (say, a state write to a key
            # the step does not declare) leaves the attempt open; fail it
            # with the reason rather than let it sit until the lease runs
            # out. When the server already failed the step (an invalid
            # output), this is refused in turn and changes nothing.
            if refused.code == grpc.StatusCode.INVALID_ARGUMENT:
                failure = TaskError(f"the completion was refused: {refused.message}", retryable=False, code="COMPLETION_REFUSED")
                await _fail(link, task, failure, until, quiet=True)

    async def _heartbeats(
        self,
        link: Link,
        task: worker_pb2.Task,
        context: TaskContext,
        every: float,
        lease: float,
        work: "asyncio.Future[Any]",
    ) -> None:
        """Heartbeats (the first at once, then every ``every``) until the run
        is cancelled or the lease is lost; then sets ``context.cancelled``,
        gives ``work`` a grace period to end and cancels it. Otherwise runs
        until cancelled."""
        lost = (grpc.StatusCode.ABORTED, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND)
        first = True
        while True:
            if not first:
                await asyncio.sleep(every)
            first = False
            request = pb.HeartbeatRequest(task_id=task.task_id, lease_token=task.lease_token)
            if context._cost_cents > 0:
                request.cost_so_far.CopyFrom(common_pb2.Money(amount=context._cost_cents, currency="usd"))
            sent = time.monotonic()
            try:
                # Waits for the answer while the lease holds, and at least
                # a period, so a lease lost while the stream was down is
                # still learned from the server.
                answer = await link.heartbeat(request, max(context._lease_until, sent + every))
            except WeftError as error:
                if error.code in lost:
                    break
                log.warning("heartbeat of task %s failed; retrying: %s", task.task_id, error)
                continue
            if answer.cancelled:
                break
            context._paused = answer.paused
            context._lease_until = sent + lease
        context.cancelled.set()
        try:
            await asyncio.wait_for(asyncio.shield(work), CANCEL_GRACE_SECONDS)
        except BaseException:
            pass
        work.cancel()


def _end_span(span: TaskSpan, cancelled: asyncio.Event, work: "asyncio.Future[Any]") -> None:
    """Ends a handler's span as its work ends: with the error it raised, or
    marked stopped when it was cancelled (the run, the lease, a shutdown)."""
    if work.cancelled():
        span.end(stopped=True)
        return
    span.end(work.exception(), stopped=cancelled.is_set())


async def _fail(link: Link, task: worker_pb2.Task, error: BaseException, lease_until: float, quiet: bool = False) -> None:
    # Anything but a TaskError is an unexpected crash: retryable, named by
    # its type so "KeyError: 'x'" reads better than "'x'".
    failure = error if isinstance(error, TaskError) else TaskError(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__)
    request = pb.FailTaskRequest(
        task_id=task.task_id,
        lease_token=task.lease_token,
        error=failure.message[:MAX_ERROR_CHARS],
        retryable=failure.retryable,
        error_code=failure.code,
    )
    try:
        await _deliver(task.task_id, lease_until, lambda: link.fail(request, lease_until))
    except WeftError as refused:
        if quiet:
            log.debug("the failure of task %s was refused: %s", task.task_id, refused)
        else:
            log.warning("the failure of task %s was refused: %s", task.task_id, refused)


_Sent = TypeVar("_Sent")


async def _deliver(task_id: str, lease_until: float, send: Callable[[], Awaitable[_Sent]]) -> _Sent:
    """Makes a call with ``send``, again after each transient failure (with
    backoff) while the lease would still hold at the next try. Sending an
    answer twice is harmless: the second is refused as already finished."""
    failures = 0
    while True:
        try:
            return await send()
        except WeftError as error:
            if error.code not in TRANSIENT:
                raise
            failures += 1
            wait = _backoff(failures, ANSWER_RETRY_FIRST_SECONDS, ANSWER_RETRY_LONGEST_SECONDS)
            if time.monotonic() + wait >= lease_until:
                raise
            log.warning("the server did not take the answer to task %s; trying again: %s", task_id, error)
            await asyncio.sleep(wait)


class RunningWorker:
    """A :class:`Worker` serving in a background thread."""

    def __init__(self, worker: Worker) -> None:
        self._ready = threading.Event()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Event] = None
        self._error: Optional[BaseException] = None

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await worker.serve(self._stop)

        def target() -> None:
            try:
                asyncio.run(main())
            except BaseException as error:  # surfaced by stop()
                self._error = error
                self._ready.set()

        self._thread = threading.Thread(target=target, name="weft-worker", daemon=True)
        self._thread.start()
        self._ready.wait()

    def stop(self) -> None:
        """Stops claiming, waits for the tasks in flight, and joins the thread;
        raises what made the worker fail, if anything did."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            stop = self._stop
            try:
                self._loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop already ended
                pass
        self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> RunningWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
