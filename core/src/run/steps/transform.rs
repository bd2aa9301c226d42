//! Transform steps: computed on the spot, their output an object of the
//! step's `output` paths evaluated against the run state.

use crate::compile::CompiledStep;
use crate::run::document;
use crate::run::instance::Instance;
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

impl Tx<'_> {
    /// Computes the transform and completes it.
    pub(super) fn start_transform(&mut self, inst: Instance, step: &CompiledStep) {
        self.begin(inst, StepStatus::Running);
        let output = self.with_item(inst, |doc| document::resolve(step.output(), doc));
        self.complete(inst, output, None);
    }
}
