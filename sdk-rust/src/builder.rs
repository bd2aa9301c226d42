//! The typed workflow builder, mirroring the documented one:
//!
//! ```
//! use weftflow::builder::{agent, condition, workflow};
//!
//! let definition = workflow("lead-enrichment")
//!     .step(agent("scrape", "web-researcher", "Scrape company info from {{ input.website }}"))
//!     .step(
//!         agent("enrich", "data-enricher", "Enrich lead data")
//!             .depends_on(["scrape"])
//!             .input_map("companyData", "$.scrape.output.company"),
//!     )
//!     .condition(
//!         condition("check-fit", "$.enrich.output.icp_score >= 70")
//!             .depends_on(["enrich"])
//!             .on_true("send-to-crm")
//!             .on_false("archive"),
//!     )
//!     .build();
//! assert_eq!(definition.steps.len(), 3);
//! ```
//!
//! `build()` makes the `Workflow` message to pass to `CreateWorkflow`; the
//! server validates it (every problem at once), so the builder checks
//! nothing itself and never disagrees with the server.

use serde_json::Value;

use crate::json::{object_to_proto_struct, to_proto_value};
use crate::pb;

/// Starts a workflow definition named `name`.
pub fn workflow(name: impl Into<String>) -> WorkflowBuilder {
    WorkflowBuilder { workflow: pb::Workflow { name: name.into(), ..Default::default() } }
}

/// A workflow definition under construction.
#[derive(Debug, Clone)]
#[must_use = "call .build() to get the Workflow message"]
pub struct WorkflowBuilder {
    workflow: pb::Workflow,
}

impl WorkflowBuilder {
    /// What the workflow is for.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.workflow.description = text.into();
        self
    }

    /// Adds tags (for filtering lists).
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.workflow.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// JSON Schema every run input must satisfy (checked when a run
    /// starts). Must be a JSON object; anything else is left unset.
    pub fn input_schema(mut self, schema: Value) -> Self {
        self.workflow.input_schema = object_to_proto_struct(&schema);
        self
    }

    /// JSON Schema the run's output must satisfy before it completes.
    pub fn output_schema(mut self, schema: Value) -> Self {
        self.workflow.output_schema = object_to_proto_struct(&schema);
        self
    }

    /// Tool lists, approval gates and cost caps.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.workflow.policy = Some(policy.0);
        self
    }

    /// What a failed step does to the run.
    pub fn on_failure(mut self, mode: pb::FailureMode) -> Self {
        self.workflow.on_failure = mode as i32;
        self
    }

    /// Retries of a failed step when `on_failure` is retry.
    pub fn retries(mut self, retries: u32) -> Self {
        self.workflow.retries = retries;
        self
    }

    /// Longest a run may take, in seconds.
    pub fn timeout_seconds(mut self, seconds: u32) -> Self {
        self.workflow.timeout = seconds;
        self
    }

    /// Appends a step.
    pub fn step(mut self, step: impl Into<pb::Step>) -> Self {
        self.workflow.steps.push(step.into());
        self
    }

    /// Appends a condition step (the documented `.condition({...})`).
    pub fn condition(self, step: StepBuilder) -> Self {
        self.step(step)
    }

    /// Appends a transform step.
    pub fn transform(self, step: StepBuilder) -> Self {
        self.step(step)
    }

    /// The `Workflow` message for `CreateWorkflow` or `UpdateWorkflow`.
    pub fn build(self) -> pb::Workflow {
        self.workflow
    }
}

/// A workflow's policy: tools, approvals, cost caps (in cents).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Policy(pb::WorkflowPolicy);

impl Policy {
    /// An empty policy: every tool allowed, no caps.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only these tools may be used.
    pub fn allow_tools<S: Into<String>>(mut self, tools: impl IntoIterator<Item = S>) -> Self {
        self.0.allow_tools.extend(tools.into_iter().map(Into::into));
        self
    }

    /// These tools are refused.
    pub fn deny_tools<S: Into<String>>(mut self, tools: impl IntoIterator<Item = S>) -> Self {
        self.0.deny_tools.extend(tools.into_iter().map(Into::into));
        self
    }

    /// Using one of these tools pauses the step for a human decision.
    pub fn require_approval_for<S: Into<String>>(mut self, tools: impl IntoIterator<Item = S>) -> Self {
        self.0.require_approval_for.extend(tools.into_iter().map(Into::into));
        self
    }

    /// A step costing more is paused.
    pub fn max_cost_per_step(mut self, cents: i64, currency: &str) -> Self {
        self.0.max_cost_per_step = Some(pb::Money { amount: cents, currency: currency.into() });
        self
    }

    /// A run costing more is cancelled.
    pub fn max_total_cost(mut self, cents: i64, currency: &str) -> Self {
        self.0.max_total_cost = Some(pb::Money { amount: cents, currency: currency.into() });
        self
    }
}

/// One step under construction; turns into a `pb::Step`.
#[derive(Debug, Clone)]
#[must_use]
pub struct StepBuilder(pb::Step);

impl From<StepBuilder> for pb::Step {
    fn from(builder: StepBuilder) -> Self {
        builder.0
    }
}

fn step(id: impl Into<String>, kind: &str) -> StepBuilder {
    StepBuilder(pb::Step { id: id.into(), r#type: kind.into(), ..Default::default() })
}

/// An `agent` step: `agent` runs `task` (with `{{ }}` placeholders).
pub fn agent(id: impl Into<String>, agent: impl Into<String>, task: impl Into<String>) -> StepBuilder {
    let mut builder = step(id, "agent");
    builder.0.agent = agent.into();
    builder.0.task = task.into();
    builder
}

/// A `planner` step: an agent whose output is `{steps: [...]}`, spliced into
/// the running DAG.
pub fn planner(id: impl Into<String>, agent: impl Into<String>, task: impl Into<String>) -> StepBuilder {
    let mut builder = self::agent(id, agent, task);
    builder.0.r#type = "planner".into();
    builder
}

/// A `transform` step; add output keys with [`StepBuilder::output`].
pub fn transform(id: impl Into<String>) -> StepBuilder {
    step(id, "transform")
}

/// A `condition` step over a JSONPath comparison; route it with
/// [`StepBuilder::on_true`] and [`StepBuilder::on_false`].
pub fn condition(id: impl Into<String>, expression: impl Into<String>) -> StepBuilder {
    let mut builder = step(id, "condition");
    builder.0.expression = expression.into();
    builder
}

/// A `parallel` step running `steps` at once, each addressable by its id.
pub fn parallel<S: Into<pb::Step>>(id: impl Into<String>, steps: impl IntoIterator<Item = S>) -> StepBuilder {
    let mut builder = step(id, "parallel");
    builder.0.steps = steps.into_iter().map(Into::into).collect();
    builder
}

/// A `map` step running `each` once per item of the array at `over`, the
/// item bound to `as_name`.
pub fn map(
    id: impl Into<String>,
    over: impl Into<String>,
    as_name: impl Into<String>,
    each: impl Into<pb::Step>,
) -> StepBuilder {
    let mut builder = step(id, "map");
    builder.0.over = over.into();
    builder.0.r#as = as_name.into();
    builder.0.step = Some(Box::new(each.into()));
    builder
}

/// A `loop` step running `body` once per item of the array at `over`, one
/// item at a time, the item bound to `as_name`; its output is the array of
/// the iterations' outputs. Bound it with [`StepBuilder::max_iterations`].
pub fn loop_over(
    id: impl Into<String>,
    over: impl Into<String>,
    as_name: impl Into<String>,
    body: impl Into<pb::Step>,
) -> StepBuilder {
    let mut builder = step(id, "loop");
    builder.0.over = over.into();
    builder.0.r#as = as_name.into();
    builder.0.step = Some(Box::new(body.into()));
    builder
}

/// A `loop` step running `body` again while `condition` holds (checked
/// before each iteration).
pub fn loop_while(id: impl Into<String>, condition: impl Into<String>, body: impl Into<pb::Step>) -> StepBuilder {
    let mut builder = step(id, "loop");
    builder.0.while_condition = condition.into();
    builder.0.step = Some(Box::new(body.into()));
    builder
}

/// A `loop` step running `body` until `condition` holds (checked after each
/// iteration, so the body runs at least once).
pub fn loop_until(id: impl Into<String>, condition: impl Into<String>, body: impl Into<pb::Step>) -> StepBuilder {
    let mut builder = step(id, "loop");
    builder.0.until_condition = condition.into();
    builder.0.step = Some(Box::new(body.into()));
    builder
}

/// A `delay` step: a durable timer of `seconds`.
pub fn delay(id: impl Into<String>, seconds: u32) -> StepBuilder {
    let mut builder = step(id, "delay");
    builder.0.duration = seconds;
    builder
}

/// An `approval` step: the run pauses until someone decides `action`.
pub fn approval(id: impl Into<String>, action: impl Into<String>) -> StepBuilder {
    let mut builder = step(id, "approval");
    builder.0.action = action.into();
    builder
}

/// A `wait` step: the run pauses until `event` arrives through ResumeRun.
pub fn wait(id: impl Into<String>, event: impl Into<String>) -> StepBuilder {
    let mut builder = step(id, "wait");
    builder.0.event = event.into();
    builder
}

/// A `webhook` step calling `url`.
pub fn webhook(id: impl Into<String>, url: impl Into<String>) -> StepBuilder {
    let mut builder = step(id, "webhook");
    builder.0.url = url.into();
    builder
}

/// An `http_request` step: the server calls `url` (GET unless
/// [`StepBuilder::method`] says otherwise) and the response is the output.
pub fn http_request(id: impl Into<String>, url: impl Into<String>) -> StepBuilder {
    let mut builder = step(id, "http_request");
    builder.0.url = url.into();
    builder
}

/// A `script` step: `source` in `language` (`"python"` or `"shell"`), run
/// by the server when its configuration enables scripts.
pub fn script(id: impl Into<String>, language: impl Into<String>, source: impl Into<String>) -> StepBuilder {
    let mut builder = step(id, "script");
    builder.0.language = language.into();
    builder.0.script = source.into();
    builder
}

impl StepBuilder {
    /// Steps that must finish first.
    pub fn depends_on<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.0.depends_on.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Names an input of the step after a JSONPath query of the run state.
    pub fn input_map(mut self, key: impl Into<String>, query: impl Into<String>) -> Self {
        self.0.input_map.insert(key.into(), query.into());
        self
    }

    /// A transform output key and the JSONPath query that fills it.
    pub fn output(mut self, key: impl Into<String>, query: impl Into<String>) -> Self {
        self.0.output.insert(key.into(), query.into());
        self
    }

    /// The step to continue with when a condition holds.
    pub fn on_true(mut self, next: impl Into<String>) -> Self {
        self.0.on_true = Some(pb::Branch { next: next.into() });
        self
    }

    /// The step to continue with when a condition does not hold.
    pub fn on_false(mut self, next: impl Into<String>) -> Self {
        self.0.on_false = Some(pb::Branch { next: next.into() });
        self
    }

    /// The step to continue with when a wait or approval times out.
    pub fn on_timeout(mut self, next: impl Into<String>) -> Self {
        self.0.on_timeout = Some(pb::Branch { next: next.into() });
        self
    }

    /// When this step fails, continue with `target` instead.
    pub fn on_failure_goto(mut self, target: impl Into<String>) -> Self {
        self.0.on_step_failure = Some(pb::StepFailureRoute { action: "goto".into(), target: target.into() });
        self
    }

    /// When this step fails, record it and let independent branches go on.
    pub fn on_failure_continue(mut self) -> Self {
        self.0.on_step_failure = Some(pb::StepFailureRoute { action: "continue".into(), target: String::new() });
        self
    }

    /// Attempts after the first, with exponential backoff.
    pub fn retries(mut self, retries: u32) -> Self {
        self.0.retries = retries;
        self
    }

    /// How long the step may take (`"30s"`, `"4h"`).
    pub fn timeout(mut self, duration: impl Into<String>) -> Self {
        self.0.timeout = duration.into();
        self
    }

    /// Map items in flight at once.
    pub fn concurrency(mut self, n: u32) -> Self {
        self.0.concurrency = n;
        self
    }

    /// Most iterations a loop may run (default 1000); past it the step
    /// fails with LOOP_LIMIT.
    pub fn max_iterations(mut self, n: u32) -> Self {
        self.0.max_iterations = n;
        self
    }

    /// An approval's decision when nobody decides in time.
    pub fn default_action(mut self, action: impl Into<String>) -> Self {
        self.0.default_action = action.into();
        self
    }

    /// The message shown to whoever decides an approval.
    pub fn message(mut self, text: impl Into<String>) -> Self {
        self.0.message = text.into();
        self
    }

    /// The choices offered by an approval.
    pub fn options<S: Into<String>>(mut self, options: impl IntoIterator<Item = S>) -> Self {
        self.0.options.extend(options.into_iter().map(Into::into));
        self
    }

    /// Shared-state keys the step reads.
    pub fn state_reads<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.0.state_reads.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Shared-state keys the step writes (never two writers at once).
    pub fn state_writes<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.0.state_writes.extend(keys.into_iter().map(Into::into));
        self
    }

    /// A webhook's HTTP method.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.0.method = method.into();
        self
    }

    /// A webhook request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.headers.insert(name.into(), value.into());
        self
    }

    /// A webhook's request body.
    pub fn body(mut self, body: &Value) -> Self {
        self.0.body = Some(to_proto_value(body));
        self
    }

    /// Whether a webhook waits for its callback before completing.
    pub fn wait_for_callback(mut self, wait: bool) -> Self {
        self.0.wait_for_callback = wait;
        self
    }

    /// The message, for anything this builder has no method for.
    pub fn into_step(self) -> pb::Step {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_carry_what_each_method_sets() {
        let built = workflow("w")
            .input_schema(json!({"type": "object"}))
            .policy(Policy::new().allow_tools(["web_search"]).max_total_cost(1000, "usd"))
            .step(parallel("research", [agent("a", "x", "t"), agent("b", "x", "t")]))
            .transform(transform("shape").depends_on(["research"]).output("a", "$.a.output"))
            .step(map("each", "$.shape.output.items", "item", agent("one", "y", "{{ item }}")).concurrency(3))
            .condition(condition("route", "$.shape.output.n > 1").on_true("each").on_false("stop"))
            .step(agent("score", "s", "t").on_failure_goto("fallback").retries(2))
            .build();
        assert_eq!(built.name, "w");
        assert!(built.input_schema.is_some());
        assert_eq!(built.policy.as_ref().unwrap().max_total_cost.as_ref().unwrap().amount, 1000);
        assert_eq!(built.steps[0].steps.len(), 2);
        assert_eq!(built.steps[1].output["a"], "$.a.output");
        assert_eq!(built.steps[2].step.as_ref().unwrap().task, "{{ item }}");
        assert_eq!(built.steps[2].concurrency, 3);
        assert_eq!(built.steps[3].on_false.as_ref().unwrap().next, "stop");
        assert_eq!(built.steps[4].on_step_failure.as_ref().unwrap().target, "fallback");
        assert_eq!(built.steps[4].retries, 2);
    }

    #[test]
    fn every_step_kind_has_a_constructor() {
        let body = || agent("b", "x", "t");
        let kinds: Vec<pb::Step> = vec![
            agent("a", "x", "t").into(),
            planner("p", "x", "t").into(),
            transform("t").into(),
            condition("c", "$.a.output.n > 1").into(),
            parallel("par", [body()]).into(),
            map("m", "$.a.output", "item", body()).into(),
            loop_over("l", "$.a.output", "item", body()).into(),
            loop_while("lw", "$.lw.output.size() < 3", body()).into(),
            loop_until("lu", "$.lu.output.size() >= 3", body()).into(),
            delay("d", 5).into(),
            approval("ap", "send").into(),
            wait("w", "paid").into(),
            webhook("wh", "https://example.com/hook").into(),
            http_request("h", "https://example.com/api").method("POST").into(),
            script("s", "python", "print(1)").into(),
        ];
        let types: Vec<&str> = kinds.iter().map(|s| s.r#type.as_str()).collect();
        assert_eq!(
            types,
            [
                "agent",
                "planner",
                "transform",
                "condition",
                "parallel",
                "map",
                "loop",
                "loop",
                "loop",
                "delay",
                "approval",
                "wait",
                "webhook",
                "http_request",
                "script"
            ]
        );
        assert_eq!(kinds[13].url, "https://example.com/api");
        assert_eq!(kinds[13].method, "POST");
        assert_eq!((kinds[14].language.as_str(), kinds[14].script.as_str()), ("python", "print(1)"));
    }

    #[test]
    fn a_schema_that_is_not_an_object_is_left_unset() {
        assert!(workflow("w").input_schema(json!("nope")).build().input_schema.is_none());
    }
}
