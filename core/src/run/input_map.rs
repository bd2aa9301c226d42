//! A step's `inputMap`, resolved as it starts (or as its work is
//! dispatched): every query must select something, or the step fails with
//! INPUT_MAP_EMPTY and a message naming the step, the key and the query;
//! and what it selects must nest within the JSON limit (INPUT_TOO_DEEP).
//! Before anything is evaluated, every expression of the step is checked
//! against what it would visit (EXPRESSION_TOO_EXPENSIVE, see
//! `crate::expr::MAX_QUERY_NODES`).

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::compile::CompiledStep;
use crate::expr::TooExpensive;
use crate::model::json_limits::check_depth;

use super::document;
use super::error_code::ErrorCode;
use super::instance::Instance;
use super::status::StepStatus;
use super::tx::Tx;

impl Tx<'_> {
    /// The step's `inputMap` resolved as `inst` sees the document, or a
    /// message naming the step, the key and the query that selected nothing.
    ///
    /// A query into a step that ended without an output (skipped, or
    /// failed and routed on) gives null rather than an error: the DAG made
    /// it absent, and joins after a condition or a goto read "whichever
    /// branch ran" that way. Anything else missing is a mistake to report.
    pub(super) fn resolve_input(&mut self, inst: Instance) -> Result<Value, (ErrorCode, String)> {
        let wf = Arc::clone(&self.wf);
        let Some(step) = wf.step(inst.node) else { return Ok(Value::Object(Map::new())) };
        if let Err(refused) = self.with_item(inst, |doc| affordable(step, doc)) {
            let message = format!("step '{}': {refused}", self.run.key(inst));
            return Err((ErrorCode::ExpressionTooExpensive, message));
        }
        if step.input_map().is_empty() {
            return Ok(Value::Object(Map::new()));
        }
        let source = |at: usize| {
            let key = step.input_map().get(at).map_or("", |(key, _)| key.as_str());
            (key, step.shared().input_sources.get(key).map_or("", String::as_str))
        };
        let strict = self.with_item(inst, |doc| document::resolve_strict(step.input_map(), doc, |_| false));
        if let Ok(input) = strict {
            return self.within_depth(inst, input);
        }
        // Only a query that selected nothing pays for this second pass.
        let run = &*self.run;
        let absent_by_design: Vec<bool> = (0..step.input_map().len())
            .map(|at| {
                document::root_name(source(at).1).and_then(|name| wf.node(name)).is_some_and(|v| {
                    !run.in_template(v)
                        && matches!(run.status_of(Instance::step(v)), StepStatus::Skipped | StepStatus::Failed)
                })
            })
            .collect();
        let input = self
            .with_item(inst, |doc| document::resolve_strict(step.input_map(), doc, |at| absent_by_design[at]))
            .map_err(|at| {
                let (key, query) = source(at);
                let message = format!(
                    "step '{}': inputMap key '{key}' ({query}) selected nothing in the run state",
                    self.run.key(inst)
                );
                (ErrorCode::InputMapEmpty, message)
            })?;
        self.within_depth(inst, input)
    }

    /// `input` when each of its values nests within the JSON limit. A query
    /// can gather stored values into something deeper (`$`, `$..*`), which
    /// no worker could decode from its task: the step fails with
    /// INPUT_TOO_DEEP instead.
    fn within_depth(&self, inst: Instance, input: Value) -> Result<Value, (ErrorCode, String)> {
        for (key, value) in input.as_object().into_iter().flatten() {
            if let Err(fault) = check_depth(value, &format!("input.{key}")) {
                return Err((ErrorCode::InputTooDeep, format!("step '{}': inputMap {fault}", self.run.key(inst))));
            }
        }
        Ok(input)
    }
}

/// Every expression `step` evaluates (inputMap, transform output, `over`,
/// condition, task, body and URL templates) is within the query cost limit on
/// `doc`.
fn affordable(step: &CompiledStep, doc: &Value) -> Result<(), TooExpensive> {
    let paths = step.input_map().iter().chain(step.output()).map(|(_, path)| path).chain(step.over());
    for path in paths {
        path.check_cost(doc)?;
    }
    if let Some(condition) = step.condition() {
        condition.check_cost(doc)?;
    }
    step.task()
        .into_iter()
        .chain(step.body_templates().iter().map(|(_, t)| t))
        .chain(step.url_template())
        .try_for_each(|t| t.check_cost(doc))
}
