"""The complete lead pipeline of the workflow documents, built with the
typed step constructors: parallel research, a transform, a map scoring each news
article, a scorer with a fallback, a condition, an approval gate before the
CRM, and an archive branch."""

from __future__ import annotations

from weftflow import WorkflowBuilder, agent, approval, condition, goto, map_, parallel, transform, workflow


def lead_pipeline() -> WorkflowBuilder:
    return (
        workflow("lead-pipeline")
        .input_schema(
            {
                "type": "object",
                "required": ["company", "website"],
                "properties": {"company": {"type": "string"}, "website": {"type": "string", "format": "uri"}},
            }
        )
        .policy(
            allow_tools=["web_search", "http_get"],
            require_approval_for=["update_crm"],
            max_total_cost={"amount": 1000, "currency": "usd"},
        )
        .add(
            # Step 1: parallel social and news research.
            parallel("research", steps=[
                agent("twitter", agent="social-agent", task="Twitter for {{ input.company }}"),
                agent("linkedin", agent="social-agent", task="LinkedIn for {{ input.company }}"),
                agent("news", agent="news-agent", task="Recent news for {{ input.company }}"),
            ]),
            # Step 2: a clean shape for the scorers (no agent, no cost).
            transform("reshape", depends_on=["research"], output={
                "twitter": "$.twitter.output",
                "linkedin": "$.linkedin.output",
                "news": "$.news.output.articles",
                "company": "$.input.company",
            }),
            # Step 3: score each news article, three at a time.
            map_("score-news", depends_on=["reshape"], over="$.reshape.output.news", as_="article", concurrency=3,
                 step=agent("score-article", agent="relevance-scorer",
                            task="Rate relevance of this article for ICP fit: {{ article.title }}",
                            input_map={"article": "$.article"})),
            # Step 4: the final score from every signal, with a fallback.
            agent("score", agent="lead-scorer", depends_on=["score-news"], task="Score this lead 0-100 for ICP fit",
                  input_map={
                      "twitter": "$.reshape.output.twitter",
                      "linkedin": "$.reshape.output.linkedin",
                      "newsScores": "$.score-news.output",
                      "company": "$.input.company",
                  },
                  on_failure=goto("fallback-score")),
            agent("fallback-score", agent="lead-scorer-lite", task="Minimal score based only on LinkedIn data",
                  input_map={"linkedin": "$.reshape.output.linkedin"}),
            # Step 5: route on the score.
            condition("route", depends_on=["score"], expression="$.score.output.score >= 70",
                      on_true="approve-crm", on_false="archive"),
            # Step 6a: a person approves the CRM update.
            approval("approve-crm", action="update_crm", timeout="4h", default_action="deny"),
            # Step 6b: archive the lead.
            agent("archive", agent="archiver", task="Archive this lead with ICP miss reason",
                  input_map={"lead": "$.reshape.output", "score": "$.score.output"}),
        )
    )
