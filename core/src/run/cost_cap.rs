//! The policy's cost ceilings, as the core applies them.
//!
//! - `maxTotalCost`: once the run's recorded cost plus what an attempt
//!   reports passes it (strictly more), the run is cancelled, with the
//!   figures in its cancel reason. The reported cost is recorded on the
//!   step first, so `run.cost` and the reason agree.
//! - `maxCostPerStep`: once a step's cost (earlier attempts plus the
//!   current one) passes it, the step pauses (step.cost_exceeded) until a
//!   ResumeRun answers "continue" (the ceiling no longer applies to that
//!   step) or "cancel". A completion over it is recorded, but its output is
//!   held back, so no dependent starts before the answer.
//!
//! The total ceiling is checked first: a run over it ends whatever the step
//! ceiling says. Amounts are cents in the ceilings' currency; the caller
//! refuses costs in another currency before they get here.

use super::instance::Instance;
use super::state::RunState;
use super::tx::Tx;

/// Currency of costs when the policy names none.
const DEFAULT_CURRENCY: &str = "usd";

impl RunState {
    /// `(step cost, ceiling)` when the step's cost plus `extra_cents`
    /// passes `maxCostPerStep` and the ceiling was not waived for it.
    pub(super) fn step_over_cap(&self, inst: Instance, extra_cents: i64) -> Option<(i64, i64)> {
        let limit = self.workflow.definition().policy.as_ref()?.max_cost_per_step.as_ref()?.amount;
        if self.cost_waived.contains(&inst) {
            return None;
        }
        let cost = self.record(inst)?.cost_cents.saturating_add(extra_cents);
        (cost > limit).then_some((cost, limit))
    }

    /// `(run total, ceiling)` when the total plus `extra_cents` passes
    /// `maxTotalCost`.
    pub(super) fn total_over_cap(&self, extra_cents: i64) -> Option<(i64, i64)> {
        let limit = self.workflow.definition().policy.as_ref()?.max_total_cost.as_ref()?.amount;
        let total = self.total_cost_cents.saturating_add(extra_cents);
        (total > limit).then_some((total, limit))
    }

    /// The currency the ceilings are in (lower-case; "usd" by default).
    pub(super) fn cap_currency(&self) -> String {
        let policy = self.workflow.definition().policy.as_ref();
        let caps = policy.into_iter().flat_map(|p| [p.max_total_cost.as_ref(), p.max_cost_per_step.as_ref()]);
        caps.flatten()
            .map(|m| m.currency.to_ascii_lowercase())
            .find(|c| !c.is_empty())
            .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned())
    }
}

impl Tx<'_> {
    /// The ceilings' currency, for messages.
    pub(super) fn cap_currency(&self) -> String {
        self.run.cap_currency()
    }

    /// Cancels the run when its recorded total passes `maxTotalCost`. True
    /// when it did.
    pub(super) fn enforce_total_cap(&mut self) -> bool {
        let Some((total, limit)) = self.run.total_over_cap(0) else { return false };
        if self.run.status.is_terminal() {
            return false;
        }
        let currency = self.cap_currency();
        self.cancel_run(format!("cost cap: {total} {currency} cents over maxTotalCost {limit}"));
        true
    }
}
