//! The start of a retry run: the steps it reuses are completed at once
//! with their outputs from the source run, without step.started and
//! without doing their work, so what waits for them proceeds as if they
//! had just run. A reused condition or wait step keeps the branch it
//! took in the source run.

use serde_json::json;

use super::command::{RetryOrigin, ReusedStep};
use super::document;
use super::instance::Instance;
use super::outcome::EventType;
use super::status::StepStatus;
use super::tx::Tx;

impl Tx<'_> {
    /// Completes every reused step with its source output. Their shared
    /// state writes are not applied again: the run starts from the source
    /// run's shared state, which already holds them.
    pub(super) fn reuse(&mut self, origin: &RetryOrigin, reused: &[ReusedStep]) {
        for step in reused {
            // The engine only reuses steps of this version that are not
            // map items; anything else would be a damaged command, ignored.
            let Some(node) = self.wf.node(&step.step).filter(|&v| !self.run.in_template(v)) else { continue };
            let inst = Instance::step(node);
            if self.run.status_of(inst) != StepStatus::Pending {
                continue;
            }
            // A reused condition or wait keeps the branch it took: what
            // waits on it proceeds down the same branch as in the source.
            let branch = self.reused_branch(node, step);
            if let Some(record) = self.run.record_mut(inst) {
                record.branch = branch;
            }
            let event = self.step_event(inst, StepStatus::Completed, EventType::StepCompleted);
            event.output = Some(step.output.clone());
            event.data = Some(json!({ "reused": true, "fromRun": origin.run_id }));
            document::set_output(&mut self.run.document, &step.step, step.output.clone());
        }
    }
}
