//! Transform steps: computed on the spot. A plain transform's output is an
//! object of its `output` paths evaluated against the run state (`{}` when
//! it has none: a join point). A dialect's entry, exit and end states
//! forward what flows into them, and a state machine's fail state fails
//! the run with its `error` and `cause`.

use serde_json::{Map, Value, json};

use crate::compile::{CompiledStep, TransformRole};
use crate::run::error_code::ErrorCode;
use crate::run::instance::Instance;
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

impl Tx<'_> {
    /// Computes the transform and completes it (or, for a fail state,
    /// fails the run).
    pub(super) fn start_transform(&mut self, inst: Instance, step: &CompiledStep, role: &TransformRole) {
        self.begin(inst, StepStatus::Running);
        let output = match role {
            TransformRole::Reshape => self.with_item(inst, |doc| super::super::document::resolve(step.output(), doc)),
            TransformRole::Forward => self.forwarded(step),
            TransformRole::Fail { error, cause } => {
                let message = match (error.is_empty(), cause.is_empty()) {
                    (false, false) => format!("{error}: {cause}"),
                    (false, true) => error.clone(),
                    (true, false) => cause.clone(),
                    (true, true) => format!("the machine reached fail state '{}'", self.run.key(inst)),
                };
                let data = json!({ "code": ErrorCode::StateFailed.as_str(), "error": error, "cause": cause });
                return self.fail_run_at(inst, ErrorCode::StateFailed, message, data);
            }
        };
        self.complete(inst, output, None);
    }

    /// What flows into a forwarding step: the run input when it depends on
    /// nothing, its one dependency's output, or an object of its completed
    /// dependencies' outputs by id. A dependency that did not complete
    /// (skipped down a branch) gives null, or is left out of the object.
    fn forwarded(&self, step: &CompiledStep) -> Value {
        let output = |node| self.run.output_of(Instance::step(node)).cloned();
        match step.depends_on() {
            [] => self.run.document().get("input").cloned().unwrap_or(Value::Null),
            [one] => output(*one).unwrap_or(Value::Null),
            many => Value::Object(
                many.iter()
                    .filter_map(|&node| Some((self.run.id(node).to_owned(), output(node)?)))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}
