//! Parallel steps: the step runs while its sub-steps do (they start with
//! it, see the gate in `advance.rs`), and completes once none is
//! unfinished, with an object of their outputs by id.

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::{Map, Value};

use crate::run::advance::DepOutcome;
use crate::run::instance::Instance;
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

impl Tx<'_> {
    /// Starts the step: its sub-steps become ready.
    pub(super) fn start_parallel(&mut self, inst: Instance) {
        self.begin(inst, StepStatus::Running);
        self.touch(inst.node);
        self.work.insert(inst.node);
    }

    /// Completes a running parallel step once no sub-step is unfinished:
    /// its output is an object of its completed sub-steps' outputs by id.
    /// Fails it when a sub-step failed with no recovery.
    pub(super) fn check_parallel(&mut self, node: NodeIndex) {
        let wf = Arc::clone(&self.wf);
        let Some(step) = wf.step(node) else { return };
        let mut failed = None;
        for &child in step.children() {
            match self.dep_outcome(child) {
                DepOutcome::Wait => return,
                DepOutcome::Failed => {
                    failed.get_or_insert(child);
                }
                DepOutcome::Done | DepOutcome::Dead => {}
            }
        }
        let inst = Instance::step(node);
        if let Some(child) = failed {
            let message = format!("sub-step '{}' of parallel step '{}' failed", self.run.id(child), step.id());
            // The parallel step fails for the reason its sub-step did.
            let code = self.run.record(Instance::step(child)).and_then(|r| r.error_code).unwrap_or_default();
            return self.step_failed_as(inst, code, message);
        }
        let mut output = Map::new();
        for &child in step.children() {
            let child_inst = Instance::step(child);
            if self.run.status_of(child_inst) == StepStatus::Completed
                && let Some(value) = self.run.output_of(child_inst)
            {
                output.insert(self.run.id(child).to_owned(), value.clone());
            }
        }
        self.complete(inst, Value::Object(output), None);
    }
}
