//! EstimateRun: what a run of a workflow version would cost for a sample
//! input, found by a dry pass that executes no agent and stores nothing.
//!
//! - `shape.rs`: the dry pass: which steps run (always, maybe, never) and
//!   how many times; map sizes and condition outcomes come from the input
//!   where its paths decide them.
//! - `roots.rs`: which document keys an expression reads.
//! - here: counting agent calls and pricing them with the cost hints
//!   workers registered.
//!
//! Figures: a step that always runs counts toward the minimum and the
//! maximum; one that only may run (a branch the input does not decide, a
//! recovery step, a map of unknown size) toward the maximum only. Calls
//! are priced `calls_min × hint.min` and `calls_max × hint.max`; retries
//! are not counted. An agent no worker gave a hint for is priced at
//! nothing and listed in `unpriced_agents`, with a note on its steps.

mod roots;
mod shape;

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use self::shape::{Reach, dry_pass};
use crate::engine::EngineError;
use crate::engine::compile::{CompiledKind, CompiledWorkflow, StepKind};
use crate::engine::runs::{RunEngine, check_input};

/// Items assumed at most for a map whose `over` array the sample input
/// does not decide (it comes from an agent's output, say).
pub const UNRESOLVED_MAP_ITEMS: u64 = 10;

/// Currency of an estimate when neither the policy nor a hint names one.
const DEFAULT_CURRENCY: &str = "usd";

/// Expected cost of one call of an agent, in minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostHint {
    /// Lowest expected cost of one call.
    pub min: i64,
    /// Highest expected cost of one call.
    pub max: i64,
    /// Lower-case currency code.
    pub currency: String,
}

/// The estimate of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepEstimate {
    /// Step id.
    pub step_id: String,
    /// Step type.
    pub kind: StepKind,
    /// The agent of an agent or planner step; empty otherwise.
    pub agent: String,
    /// Fewest calls (0 for a step that may not run).
    pub calls_min: u64,
    /// Most calls.
    pub calls_max: u64,
    /// Lowest expected cost, minor units.
    pub min_cost: i64,
    /// Highest expected cost, minor units.
    pub max_cost: i64,
    /// A caveat in words; empty when there is none.
    pub note: String,
}

/// The estimate of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    /// Lowest expected cost, minor units.
    pub min_cost: i64,
    /// Highest expected cost, minor units.
    pub max_cost: i64,
    /// Currency of every amount.
    pub currency: String,
    /// Fewest agent and planner calls.
    pub calls_min: u64,
    /// Most agent and planner calls.
    pub calls_max: u64,
    /// Steps that can run, each counted once (a map's sub-step too).
    pub step_count: u64,
    /// Every step, sub-steps included, parents first in definition order.
    pub steps: Vec<StepEstimate>,
    /// Agents called with no cost hint in the estimate's currency: their
    /// calls are counted but not priced.
    pub unpriced_agents: Vec<String>,
}

/// Estimates a run of `workflow` on `input`, pricing agent calls with
/// `hints` (by agent name).
pub fn estimate(workflow: &CompiledWorkflow, input: &Value, hints: &HashMap<String, CostHint>) -> Estimate {
    let shape = dry_pass(workflow, input);
    let currency = currency(workflow, hints);
    let mut unpriced = BTreeSet::new();
    let mut total = Estimate {
        min_cost: 0,
        max_cost: 0,
        currency: currency.clone(),
        calls_min: 0,
        calls_max: 0,
        step_count: 0,
        steps: Vec::with_capacity(workflow.len()),
        unpriced_agents: Vec::new(),
    };
    for (v, step) in workflow.steps() {
        let reach = shape.reach[v.index()];
        let (lo, hi) = shape.times[v.index()];
        let mut notes: Vec<String> = shape.notes[v.index()].iter().cloned().collect();
        let agent = match step.data() {
            CompiledKind::Agent { agent } | CompiledKind::Planner { agent } => Some(agent.clone().unwrap_or_default()),
            CompiledKind::Parallel
            | CompiledKind::Condition
            | CompiledKind::Delay { .. }
            | CompiledKind::Approval { .. }
            | CompiledKind::Webhook { .. }
            | CompiledKind::HttpRequest { .. }
            | CompiledKind::Script { .. }
            | CompiledKind::Transform { .. }
            | CompiledKind::Map { .. }
            | CompiledKind::Loop { .. }
            | CompiledKind::Wait { .. } => None,
        };
        let calls_agents = agent.is_some();
        let agent = agent.unwrap_or_default();
        let (calls_min, calls_max) = match reach {
            _ if !calls_agents => (0, 0),
            Reach::Never => (0, 0),
            Reach::Maybe => (0, hi),
            Reach::Always => (lo, hi),
        };
        match reach {
            Reach::Never => notes.insert(0, "does not run with this input".to_owned()),
            Reach::Maybe => notes.insert(0, "may not run: counts toward the maximum only".to_owned()),
            Reach::Always => {}
        }
        let (mut min_cost, mut max_cost) = (0, 0);
        if calls_max > 0 {
            match hints.get(&agent).filter(|h| h.currency == currency) {
                Some(hint) => {
                    min_cost = hint.min.saturating_mul(calls_min as i64);
                    max_cost = hint.max.saturating_mul(calls_max as i64);
                }
                None => {
                    notes.push(format!(
                        "no worker registered a cost hint in {currency} for agent '{agent}': not priced"
                    ));
                    unpriced.insert(agent.clone());
                }
            }
        }
        if reach != Reach::Never {
            total.step_count += 1;
        }
        total.calls_min = total.calls_min.saturating_add(calls_min);
        total.calls_max = total.calls_max.saturating_add(calls_max);
        total.min_cost = total.min_cost.saturating_add(min_cost);
        total.max_cost = total.max_cost.saturating_add(max_cost);
        total.steps.push(StepEstimate {
            step_id: step.id().to_owned(),
            kind: step.kind(),
            agent,
            calls_min,
            calls_max,
            min_cost,
            max_cost,
            note: notes.join("; "),
        });
    }
    total.unpriced_agents = unpriced.into_iter().collect();
    total
}

/// The policy's currency, else the hints' (the first agent by name), else
/// [`DEFAULT_CURRENCY`].
fn currency(workflow: &CompiledWorkflow, hints: &HashMap<String, CostHint>) -> String {
    let policy = workflow.definition().policy.as_ref();
    let caps = policy.into_iter().flat_map(|p| [&p.max_total_cost, &p.max_cost_per_step]);
    if let Some(money) = caps.flatten().find(|m| !m.currency.is_empty()) {
        return money.currency.to_lowercase();
    }
    let mut named: Vec<(&String, &CostHint)> = hints.iter().collect();
    named.sort_by_key(|(agent, _)| *agent);
    named.first().map_or_else(|| DEFAULT_CURRENCY.to_owned(), |(_, hint)| hint.currency.clone())
}

impl RunEngine {
    /// Estimates a run of `workflow_id` (at `version`, or the latest) on a
    /// sample `input`, checked against the inputSchema like a start.
    /// NotFound for an unknown workflow or version; InputSchema for input
    /// the schema refuses.
    pub async fn estimate(
        &self,
        tenant: &str,
        workflow_id: &str,
        version: Option<u32>,
        input: Value,
        hints: &HashMap<String, CostHint>,
    ) -> Result<Estimate, EngineError> {
        let workflow = match version {
            Some(version) => self.catalog().get_version(tenant, workflow_id, version).await?,
            None => self.catalog().get(tenant, workflow_id).await?,
        };
        let compiled = self.compiled(tenant, &workflow.id, workflow.version).await?;
        // No input is an empty object, as for a start.
        let input = if input.is_null() { Value::Object(Default::default()) } else { input };
        check_input(&compiled, &input)?;
        Ok(estimate(&compiled, &input, hints))
    }
}

#[cfg(test)]
mod tests;
