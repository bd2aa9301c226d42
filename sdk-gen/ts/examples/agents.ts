/**
 * A worker serving every agent of the lead pipeline with deterministic
 * answers, so the pipeline runs end to end without a model. The lead
 * scorer gives 82 to every company except those whose name contains
 * "tiny" (35), so both routes can be exercised; the archiver asks to use
 * `update_crm`, which the pipeline's policy puts behind an approval.
 * Each handler reports a cost, so it returns an `outcome(...)`; a handler
 * with only an output returns the output itself.
 */
import { Worker, outcome, type Outcome, type TaskContext, type Weft, type JsonObject } from "weftflow";

/** The subject of a task text such as "Twitter for Stripe". */
function subject(task: TaskContext): string {
  return (task.text.split(" for ").pop() ?? "").trim();
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject)[key] : undefined;
}

async function social(task: TaskContext): Promise<Outcome> {
  const company = subject(task);
  return outcome({ output: { company, handle: `@${company.toLowerCase().replace(/ /g, "")}`, followers: 1200 }, cost: 4 });
}

async function news(task: TaskContext): Promise<Outcome> {
  const company = subject(task);
  const articles = ["raises a round", "launches a product", "hires a CFO"].map((what) => ({
    title: `${company} ${what}`,
    url: "https://news.example.com/1",
  }));
  return outcome({ output: { articles }, cost: 6 });
}

async function relevance(task: TaskContext): Promise<Outcome> {
  const title = String(field(task.input.article, "title") ?? "");
  return outcome({ output: { title, relevance: title.includes("raises") ? 0.9 : 0.4 }, cost: 2 });
}

async function score(task: TaskContext): Promise<Outcome> {
  const company = String(task.input.company ?? "").toLowerCase();
  return outcome({ output: { score: company.includes("tiny") ? 35 : 82, reason: "deterministic example scorer" }, cost: 10 });
}

async function scoreLite(): Promise<Outcome> {
  return outcome({ output: { score: 50 }, cost: 3 });
}

async function archive(task: TaskContext): Promise<Outcome> {
  const company = field(task.input.lead, "company") ?? null;
  const verdict = await task.checkTool("update_crm", { company: company as string | null, status: "archived" });
  const score = (field(task.input.score, "score") ?? null) as number | null;
  return outcome({ output: { archived: true, score, crm: verdict.allowed, why: verdict.reason }, cost: 1 });
}

/** The worker, ready to `run(signal)`. */
export function leadPipelineWorker(weft: Weft): Worker {
  return new Worker(weft, { name: "example-worker-ts", concurrency: 8 })
    .agent("social-agent", social)
    .agent("news-agent", news)
    .agent("relevance-scorer", relevance)
    .agent("lead-scorer", score)
    .agent("lead-scorer-lite", scoreLite)
    .agent("archiver", archive)
    .costHint("social-agent", 2, 5)
    .costHint("news-agent", 4, 8)
    .costHint("relevance-scorer", 1, 3)
    .costHint("lead-scorer", 8, 15)
    .costHint("lead-scorer-lite", 2, 4)
    .costHint("archiver", 1, 1);
}
