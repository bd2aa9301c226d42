//! Condition steps: the expression is evaluated on the spot; the result
//! is the step's branch (`onTrue`/`onFalse`, read by the gate in
//! `advance.rs`) and its output `{"result": …}`.

use serde_json::json;

use crate::compile::CompiledStep;
use crate::run::instance::Instance;
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

impl Tx<'_> {
    /// Evaluates the condition and completes the step down its branch.
    pub(super) fn start_condition(&mut self, inst: Instance, step: &CompiledStep) {
        self.begin(inst, StepStatus::Running);
        let result = step.condition().is_some_and(|c| self.with_item(inst, |doc| c.evaluate(doc)));
        if let Some(record) = self.run.record_mut(inst) {
            record.branch = Some(result);
        }
        self.complete(inst, json!({ "result": result }), None);
    }
}
