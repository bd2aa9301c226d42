"""A worker serving every agent of the lead pipeline with deterministic
answers, so the pipeline runs end to end without a model. The lead scorer
gives 82 to every company except those whose name contains "tiny" (35), so
both routes can be exercised; the archiver asks to use ``update_crm``, which
the pipeline's policy puts behind a person's approval."""

from __future__ import annotations

from typing import Any, Union

from weftflow import AsyncWeft, Outcome, TaskContext, Worker


def _subject(task: TaskContext) -> str:
    """The subject of a task text such as "Twitter for Stripe"."""
    return task.text.rsplit(" for ", 1)[-1].strip()


async def social(task: TaskContext) -> Outcome:
    company = _subject(task)
    return Outcome({"company": company, "handle": "@" + company.lower().replace(" ", ""), "followers": 1200}, cost=4)


async def news(task: TaskContext) -> Outcome:
    company = _subject(task)
    articles = [
        {"title": f"{company} {what}", "url": "https://news.example.com/1"}
        for what in ("raises a round", "launches a product", "hires a CFO")
    ]
    return Outcome({"articles": articles}, cost=6)


def relevance(task: TaskContext) -> Outcome:
    # A plain function: the runtime runs it in a thread.
    title = str(task.input.get("article", {}).get("title", ""))
    return Outcome({"title": title, "relevance": 0.9 if "raises" in title else 0.4}, cost=2)


async def score(task: TaskContext) -> Outcome:
    company = str(task.input.get("company", "")).lower()
    return Outcome({"score": 35 if "tiny" in company else 82, "reason": "deterministic example scorer"}, cost=10)


async def score_lite(task: TaskContext) -> Outcome:
    return Outcome({"score": 50}, cost=3)


async def archive(task: TaskContext) -> Outcome:
    lead: Any = task.input.get("lead", {})
    verdict = await task.check_tool("update_crm", {"company": lead.get("company"), "status": "archived"})
    score_out: Any = task.input.get("score", {})
    return Outcome(
        {"archived": True, "score": score_out.get("score"), "crm": verdict.allowed, "why": verdict.reason}, cost=1
    )


def lead_pipeline_worker(client: Union[AsyncWeft, str]) -> Worker:
    return (
        Worker(client, name="example-worker-py", concurrency=8)
        .agent("social-agent", social)
        .agent("news-agent", news)
        .agent("relevance-scorer", relevance)
        .agent("lead-scorer", score)
        .agent("lead-scorer-lite", score_lite)
        .agent("archiver", archive)
        .cost_hint("social-agent", 2, 5)
        .cost_hint("news-agent", 4, 8)
        .cost_hint("relevance-scorer", 1, 3)
        .cost_hint("lead-scorer", 8, 15)
        .cost_hint("lead-scorer-lite", 2, 4)
        .cost_hint("archiver", 1, 1)
    )
