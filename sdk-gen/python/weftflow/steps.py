"""Typed step constructors: one function per step kind, keyword arguments
with type hints, checked by ``mypy --strict``::

    from weftflow import agent, condition, transform, workflow

    definition = (
        workflow("lead-enrichment")
        .add(agent("scrape", agent="web-researcher", task="Scrape {{ input.website }}"))
        .add(condition("fit", depends_on=["scrape"], expression="$.scrape.output.score >= 70",
                       on_true="crm", on_false="archive"))
    )

Each returns a :class:`Step`: the step's JSON as the documents write it
(camelCase), which ``workflow(...).add`` turns into the ``Step`` message.
What this module checks is what it can check alone (ids, bounded numbers,
one-of rules, a timeout's spelling); references between steps, paths and
expressions are the server's to check, which lists every problem at once.

Options every kind takes: ``depends_on``, ``input_map`` (name -> JSONPath
over the run state), ``retries`` (extra attempts, 0 to 100), ``timeout``
(seconds, a ``timedelta``, or a duration string "30s", "15m", "4h", "2d"),
``on_failure`` ("stop", "continue" or ``goto("step")``), ``state_reads``
and ``state_writes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Dict, Literal, Mapping, Optional, Sequence, Union

from weftflow._json import JSON

#: Step ids: 1 to 128 of these characters (as the server requires).
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
#: A duration string: a whole number and a unit (a bare number is seconds).
_DURATION = re.compile(r"^[0-9]{1,9}(ms|s|m|h|d)?$")
MAX_RETRIES = 100
MAX_CONCURRENCY = 1000
MAX_ITERATIONS = 100_000
#: Longest delay accepted here: a year, in seconds (the field is 32 bits).
MAX_DELAY_SECONDS = 366 * 24 * 3600

Duration = Union[int, float, timedelta, str]


@dataclass(frozen=True)
class Goto:
    """``on_failure=goto("recover")``: continue with another step instead of failing."""

    target: str


def goto(step_id: str) -> Goto:
    """A failure route to ``step_id``."""
    return Goto(_check_id(step_id, "goto"))


FailureRoute = Union[Literal["stop", "continue"], Goto]


class Step:
    """A step definition under construction: its JSON (``.spec``), camelCase."""

    def __init__(self, spec: Dict[str, Any]) -> None:
        self.spec = spec

    @property
    def id(self) -> str:
        return str(self.spec["id"])

    @property
    def type(self) -> str:
        return str(self.spec["type"])

    def __repr__(self) -> str:
        return f"Step({self.spec!r})"



def _check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"{what}: a step id is 1 to 128 characters of A-Z a-z 0-9 _ . - (got {value!r})")
    return value


def _bounded(value: int, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number from {low} to {high}, not {value!r}")
    return value


def duration_string(value: Duration, what: str = "timeout") -> str:
    """A duration as the documents write it: ``"90s"`` for 90, a timedelta
    or a number of seconds; a string is checked and passed on."""
    if isinstance(value, str):
        if not _DURATION.match(value):
            raise ValueError(f'{what}: write a duration as "30s", "15m", "4h" or "2d", not {value!r}')
        return value
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not 0 < seconds <= MAX_DELAY_SECONDS:
        raise ValueError(f"{what} must be more than 0 and at most {MAX_DELAY_SECONDS} seconds, not {seconds}")
    if seconds.is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds * 1000)}ms"


def _step(
    kind: str,
    step_id: str,
    fields: Mapping[str, Any],
    depends_on: Sequence[str],
    input_map: Optional[Mapping[str, str]],
    retries: Optional[int],
    timeout: Optional[Duration],
    on_failure: Optional[FailureRoute],
    state_reads: Sequence[str],
    state_writes: Sequence[str],
) -> Step:
    if isinstance(depends_on, str):  # a str is a Sequence[str] of letters
        raise TypeError(f"{step_id}: depends_on takes a list of step ids, not a string")
    spec: Dict[str, Any] = {"id": _check_id(step_id, kind), "type": kind}
    if depends_on:
        spec["dependsOn"] = [_check_id(d, f"{step_id}: depends_on") for d in depends_on]
    if input_map:
        spec["inputMap"] = dict(input_map)
    if retries is not None:
        spec["retries"] = _bounded(retries, 0, MAX_RETRIES, f"{step_id}: retries")
    if timeout is not None:
        spec["timeout"] = duration_string(timeout, f"{step_id}: timeout")
    if on_failure is not None:
        if isinstance(on_failure, Goto):
            spec["onStepFailure"] = {"action": "goto", "target": on_failure.target}
        elif on_failure in ("stop", "continue"):
            spec["onStepFailure"] = {"action": on_failure}
        else:
            raise ValueError(f'{step_id}: on_failure is "stop", "continue" or goto("step"), not {on_failure!r}')
    if state_reads:
        spec["stateReads"] = list(state_reads)
    if state_writes:
        spec["stateWrites"] = list(state_writes)
    spec.update({key: value for key, value in fields.items() if value is not None})
    return Step(spec)


def _required(value: str, name: str, step_id: str) -> str:
    if not value:
        raise ValueError(f"{step_id}: {name} is required")
    return value


def agent(
    id: str,
    *,
    agent: str,
    task: str,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """A task for a worker serving ``agent``; ``task`` may hold ``{{ }}`` templates."""
    fields = {"agent": _required(agent, "agent", id), "task": _required(task, "task", id)}
    return _step("agent", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def planner(
    id: str,
    *,
    agent: str,
    task: str,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """An agent whose output ``{"steps": [...]}`` is spliced into the run after it."""
    fields = {"agent": _required(agent, "agent", id), "task": _required(task, "task", id)}
    return _step("planner", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def transform(
    id: str,
    *,
    output: Mapping[str, str],
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Reshapes data with no agent: ``output`` maps each key to a JSONPath."""
    if not output:
        raise ValueError(f"{id}: a transform needs at least one output key")
    fields = {"output": dict(output)}
    return _step("transform", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def condition(
    id: str,
    *,
    expression: str,
    on_true: Optional[str] = None,
    on_false: Optional[str] = None,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Branches on ``expression`` (``$.score.output.score >= 70``): ``on_true``
    or ``on_false`` names the step to continue with; the other is skipped."""
    fields: Dict[str, Any] = {"expression": _required(expression, "expression", id)}
    if on_true is not None:
        fields["onTrue"] = {"next": _check_id(on_true, f"{id}: on_true")}
    if on_false is not None:
        fields["onFalse"] = {"next": _check_id(on_false, f"{id}: on_false")}
    return _step("condition", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def map_(
    id: str,
    *,
    over: str,
    step: Step,
    as_: Optional[str] = None,
    concurrency: Optional[int] = None,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Runs ``step`` once per item of the array at ``over``, at most
    ``concurrency`` (1 to 1000) at once; the item is visible as ``as_``
    (default "item"). Output order is input order."""
    fields: Dict[str, Any] = {"over": _required(over, "over", id), "step": step.spec, "as": as_}
    if concurrency is not None:
        fields["concurrency"] = _bounded(concurrency, 1, MAX_CONCURRENCY, f"{id}: concurrency")
    return _step("map", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def parallel(
    id: str,
    *,
    steps: Sequence[Step],
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Starts ``steps`` together; each is addressable by its own id."""
    if not steps:
        raise ValueError(f"{id}: a parallel step needs at least one sub-step")
    fields = {"steps": [s.spec for s in steps]}
    return _step("parallel", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def approval(
    id: str,
    *,
    action: str,
    message: Optional[str] = None,
    options: Optional[Sequence[str]] = None,
    default_action: Optional[Literal["approve", "deny"]] = None,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Pauses the run until a person decides on ``action``; after
    ``timeout`` the ``default_action`` (default "deny") applies."""
    fields: Dict[str, Any] = {"action": _required(action, "action", id), "message": message, "defaultAction": default_action}
    if options is not None:
        fields["options"] = list(options)
    return _step("approval", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def wait(
    id: str,
    *,
    event: str,
    on_timeout: Optional[str] = None,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Suspends until ``event`` is delivered (``runs.resume(run_id, event=...)``);
    after ``timeout`` it continues with ``on_timeout``, or fails without one."""
    fields: Dict[str, Any] = {"event": _required(event, "event", id)}
    if on_timeout is not None:
        fields["onTimeout"] = {"next": _check_id(on_timeout, f"{id}: on_timeout")}
    return _step("wait", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def webhook(
    id: str,
    *,
    url: str,
    method: Optional[str] = None,
    headers: Optional[Mapping[str, str]] = None,
    wait_for_callback: bool = False,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Calls ``url`` (default POST) with the resolved ``input_map`` as the body,
    signed; with ``wait_for_callback`` it waits for the receiver to call back."""
    fields: Dict[str, Any] = {"url": _required(url, "url", id), "method": method}
    if headers:
        fields["headers"] = dict(headers)
    if wait_for_callback:
        fields["waitForCallback"] = True
    return _step("webhook", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def http_request(
    id: str,
    *,
    url: str,
    method: Optional[str] = None,
    headers: Optional[Mapping[str, str]] = None,
    body: JSON = None,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """An HTTP call (default GET); ``body`` strings may hold ``{{ }}`` templates."""
    fields: Dict[str, Any] = {"url": _required(url, "url", id), "method": method, "body": body}
    if headers:
        fields["headers"] = dict(headers)
    return _step("http_request", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def loop(
    id: str,
    *,
    step: Step,
    over: Optional[str] = None,
    while_: Optional[str] = None,
    until: Optional[str] = None,
    as_: Optional[str] = None,
    max_iterations: Optional[int] = None,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Runs ``step`` repeatedly, one iteration at a time: once per item of
    ``over``, while ``while_`` holds, or until ``until`` holds (exactly one
    of the three), at most ``max_iterations`` (1 to 100000) times."""
    given = [name for name, value in (("over", over), ("while_", while_), ("until", until)) if value]
    if len(given) != 1:
        raise ValueError(f"{id}: a loop takes exactly one of over, while_ and until (got {given or 'none'})")
    fields: Dict[str, Any] = {"step": step.spec, "over": over, "while": while_, "until": until, "as": as_}
    if max_iterations is not None:
        fields["maxIterations"] = _bounded(max_iterations, 1, MAX_ITERATIONS, f"{id}: max_iterations")
    return _step("loop", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def delay(
    id: str,
    *,
    seconds: Union[int, timedelta],
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Waits ``seconds`` (whole seconds, more than 0; a durable timer)."""
    whole = int(seconds.total_seconds()) if isinstance(seconds, timedelta) else seconds
    fields = {"duration": _bounded(whole, 1, MAX_DELAY_SECONDS, f"{id}: seconds")}
    return _step("delay", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)


def script(
    id: str,
    *,
    language: Literal["python", "shell"],
    script: str,
    depends_on: Sequence[str] = (),
    input_map: Optional[Mapping[str, str]] = None,
    retries: Optional[int] = None,
    timeout: Optional[Duration] = None,
    on_failure: Optional[FailureRoute] = None,
    state_reads: Sequence[str] = (),
    state_writes: Sequence[str] = (),
) -> Step:
    """Source run in a worker's sandbox (``timeout`` default 60 s)."""
    if language not in ("python", "shell"):
        raise ValueError(f'{id}: language is "python" or "shell", not {language!r}')
    fields = {"language": language, "script": _required(script, "script", id)}
    return _step("script", id, fields, depends_on, input_map, retries, timeout, on_failure, state_reads, state_writes)
