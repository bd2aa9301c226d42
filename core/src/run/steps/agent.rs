//! Agent steps: a task for a worker's agent, its `task` template rendered
//! against the run state as each attempt is dispatched. Every external
//! step starts the same way (`start_task`); planners are agents whose
//! output is a plan (`planner.rs`).

use crate::compile::CompiledStep;
use crate::run::instance::Instance;
use crate::run::status::StepStatus;
use crate::run::steps::TaskParts;
use crate::run::tx::Tx;

impl Tx<'_> {
    /// External work starts: its first attempt is dispatched.
    pub(super) fn start_task(&mut self, inst: Instance) {
        self.begin(inst, StepStatus::Running);
        self.dispatch(inst);
    }

    /// An agent's (or planner's) task: its template rendered now, the
    /// agent it asks for, and its `timeout`, which bounds each attempt
    /// from the worker's claim.
    pub(super) fn agent_task(&mut self, inst: Instance, step: &CompiledStep, agent: &Option<String>) -> TaskParts {
        TaskParts {
            task: self.with_item(inst, |doc| step.task().map(|t| t.render(doc))),
            agent: agent.clone(),
            timeout_ms: step.timeout().map(|t| t.as_millis().min(i64::MAX as u128) as i64),
        }
    }
}
