"""Typed usage of the SDK, checked by ``mypy --strict`` (scripts/test-sdks
runs it over this file) and executed by test_typed.py: every step
constructor with its keyword arguments, the decorator worker, handlers that
return a bare value or an Outcome, and the native results' types. A wrong
keyword or type here fails the mypy step of CI."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

from weftflow import (
    AsyncWeft,
    Money,
    NonRetryableError,
    Outcome,
    Run,
    RunStatus,
    StepStatus,
    TaskContext,
    Weft,
    Worker,
    WorkflowBuilder,
    agent,
    approval,
    condition,
    delay,
    goto,
    http_request,
    loop,
    map_,
    parallel,
    planner,
    script,
    transform,
    wait,
    webhook,
    workflow,
)


def every_kind(name: str) -> WorkflowBuilder:
    """One step of each of the thirteen kinds, with the common options."""
    return workflow(name).add(
        agent(
            "scrape",
            agent="web-researcher",
            task="Scrape {{ input.website }}",
            input_map={"site": "$.input.website"},
            retries=2,
            timeout="5m",
            on_failure=goto("fallback"),
            state_writes=["seen"],
        ),
        agent("fallback", agent="web-researcher", task="Try again", on_failure="continue"),
        transform("shape", depends_on=["scrape"], output={"leads": "$.scrape.output.leads"}),
        condition("fit", depends_on=["shape"], expression="length($.shape.output.leads) > 0", on_true="each", on_false="hold"),
        map_("each", over="$.shape.output.leads", as_="lead", concurrency=4,
             step=agent("score", agent="scorer", task="Score {{ lead.company }}")),
        parallel("fan", depends_on=["each"], steps=[
            agent("twitter", agent="social", task="Twitter"),
            agent("news", agent="news", task="News", timeout=timedelta(minutes=2)),
        ]),
        approval("gate", depends_on=["fan"], action="update_crm", message="Update the CRM?",
                 options=["approve", "reject"], default_action="deny", timeout="4h"),
        wait("paid", depends_on=["gate"], event="payment.confirmed", on_timeout="hold", timeout=3600),
        delay("hold", seconds=30),
        webhook("notify", depends_on=["paid"], url="https://hooks.example.com/lead", headers={"x-team": "sales"},
                wait_for_callback=True),
        http_request("lookup", depends_on=["paid"], url="https://api.example.com/{{ input.website }}", method="GET",
                     body={"q": "{{ input.website }}"}),
        loop("pages", depends_on=["lookup"], until="$.pages.output[-1:].done == true", max_iterations=10,
             step=agent("page", agent="pager", task="Next page")),
        planner("plan", depends_on=["pages"], agent="planner", task="Plan the follow-up"),
        script("tidy", depends_on=["plan"], language="python", script="print('ok')", timeout=60.5),
    )


def serve(client: Weft) -> Worker:
    """The decorator worker: bare values, an Outcome, async, typed failures."""
    worker = Worker(client, name="typed-usage", concurrency=2)

    @worker.agent("web-researcher")
    def research(task: TaskContext) -> Dict[str, Any]:
        return {"site": task.input.get("site"), "text": task.text}

    @worker.agent("scorer")
    async def score(task: TaskContext) -> Outcome:
        verdict = await task.check_tool("crm_lookup", {"company": "Acme"})
        if not verdict.allowed:
            raise NonRetryableError(f"crm_lookup refused: {verdict.reason}", code="TOOL_DENIED")
        return Outcome(output={"score": 80}, cost=Money(3, "usd"), state={"seen": True})

    assert research.__name__ == "research" and score.__name__ == "score", "the decorator returns the function"
    return worker


def read(run: Run) -> List[str]:
    """The native run's fields, by their static types."""
    status: RunStatus = run.status
    finished: bool = status == "completed" or run.done
    output: Any = run.output
    started: Optional[datetime] = run.started_at
    cents: int = run.cost.amount
    lines = [f"{run.id} {status} {finished} {output!r} {started} {cents} {run.cost.currency} {run.duration}s"]
    for step in run.steps:
        ready: bool = step.status == StepStatus.READY
        lines.append(f"{step.id} {step.status} {ready} {step.waiting_for} {step.attempts}")
    return lines


async def read_async(client: AsyncWeft, run_id: str) -> RunStatus:
    run = await client.runs.get(run_id)
    return run.status
