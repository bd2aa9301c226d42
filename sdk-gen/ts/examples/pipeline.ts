/**
 * The complete lead pipeline of the workflow documents, built with the
 * typed builder: parallel research, a transform, a map scoring each news
 * article, a scorer with a fallback, a condition, an approval gate before
 * the CRM, and an archive branch.
 */
import { workflow, type WorkflowBuilder } from "weftflow";

export function leadPipeline(): WorkflowBuilder {
  return workflow("lead-pipeline")
    .inputSchema({
      type: "object",
      required: ["company", "website"],
      properties: { company: { type: "string" }, website: { type: "string", format: "uri" } },
    })
    .policy({
      allowTools: ["web_search", "http_get"],
      requireApprovalFor: ["update_crm"],
      maxTotalCost: { amount: 1000, currency: "usd" },
    })
    // Step 1: parallel social and news research.
    .step({
      id: "research",
      type: "parallel",
      steps: [
        { id: "twitter", type: "agent", agent: "social-agent", task: "Twitter for {{ input.company }}" },
        { id: "linkedin", type: "agent", agent: "social-agent", task: "LinkedIn for {{ input.company }}" },
        { id: "news", type: "agent", agent: "news-agent", task: "Recent news for {{ input.company }}" },
      ],
    })
    // Step 2: a clean shape for the scorers (no agent, no cost).
    .transform({
      id: "reshape",
      dependsOn: ["research"],
      output: {
        twitter: "$.twitter.output",
        linkedin: "$.linkedin.output",
        news: "$.news.output.articles",
        company: "$.input.company",
      },
    })
    // Step 3: score each news article, three at a time.
    .step({
      id: "score-news",
      type: "map",
      dependsOn: ["reshape"],
      over: "$.reshape.output.news",
      as: "article",
      concurrency: 3,
      step: {
        id: "score-article",
        type: "agent",
        agent: "relevance-scorer",
        task: "Rate relevance of this article for ICP fit: {{ article.title }}",
        inputMap: { article: "$.article" },
      },
    })
    // Step 4: the final score from every signal, with a fallback.
    .step({
      id: "score",
      type: "agent",
      agent: "lead-scorer",
      dependsOn: ["score-news"],
      task: "Score this lead 0-100 for ICP fit",
      inputMap: {
        twitter: "$.reshape.output.twitter",
        linkedin: "$.reshape.output.linkedin",
        newsScores: "$.score-news.output",
        company: "$.input.company",
      },
      onStepFailure: { action: "goto", target: "fallback-score" },
    })
    .step({
      id: "fallback-score",
      type: "agent",
      agent: "lead-scorer-lite",
      task: "Minimal score based only on LinkedIn data",
      inputMap: { linkedin: "$.reshape.output.linkedin" },
    })
    // Step 5: route on the score.
    .condition({
      id: "route",
      dependsOn: ["score"],
      expression: "$.score.output.score >= 70",
      onTrue: { next: "approve-crm" },
      onFalse: { next: "archive" },
    })
    // Step 6a: a person approves the CRM update.
    .step({ id: "approve-crm", type: "approval", action: "update_crm", timeout: "4h", defaultAction: "deny" })
    // Step 6b: archive the lead.
    .step({
      id: "archive",
      type: "agent",
      agent: "archiver",
      task: "Archive this lead with ICP miss reason",
      inputMap: { lead: "$.reshape.output", score: "$.score.output" },
    });
}
