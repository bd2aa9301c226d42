//! An engine [`Estimate`] as `weft.v1.EstimateRunResponse`.

use weft_proto::v1 as pb;

use crate::engine::estimate::{Estimate, StepEstimate};

fn money(amount: i64, currency: &str) -> pb::Money {
    pb::Money { amount, currency: currency.to_owned() }
}

/// Counts past `u32::MAX` (a map of billions of items) are written as the
/// largest the field holds.
fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn step_to_pb(step: &StepEstimate, currency: &str) -> pb::StepEstimate {
    pb::StepEstimate {
        step_id: step.step_id.clone(),
        r#type: step.kind.as_str().to_owned(),
        agent: step.agent.clone(),
        calls_min: count(step.calls_min),
        calls_max: count(step.calls_max),
        min_cost: Some(money(step.min_cost, currency)),
        max_cost: Some(money(step.max_cost, currency)),
        note: step.note.clone(),
    }
}

/// The response of EstimateRun.
pub fn estimate_to_pb(estimate: &Estimate) -> pb::EstimateRunResponse {
    let currency = estimate.currency.as_str();
    pb::EstimateRunResponse {
        min_cost: Some(money(estimate.min_cost, currency)),
        max_cost: Some(money(estimate.max_cost, currency)),
        agent_calls_min: count(estimate.calls_min),
        agent_calls_max: count(estimate.calls_max),
        step_count: count(estimate.step_count),
        steps: estimate.steps.iter().map(|s| step_to_pb(s, currency)).collect(),
        unpriced_agents: estimate.unpriced_agents.clone(),
    }
}
