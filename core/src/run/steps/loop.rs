//! Loop steps: one sub-step (the body) run again and again, one iteration
//! at a time, each iteration an item instance `<bodyId>[i]` like a map's
//! (same events, rows, retries and failure handling). A loop is a map with
//! concurrency 1 whose next item is decided once the previous one ended:
//!
//! - `over`: one iteration per element of the array, bound under `as`
//!   (default "item"); an array longer than `maxIterations` fails the
//!   step before any iteration runs;
//! - `while`: before each iteration the condition is evaluated; the loop
//!   ends when it is false (possibly before the first iteration);
//! - `until`: after each iteration the condition is evaluated; the loop
//!   ends when it is true (the body runs at least once).
//!
//! While it runs, `$.<loopId>.output` is the array of the iterations'
//! outputs so far, so a condition can count them
//! (`length($.poll.output) < 3`), and `$.<bodyId>.output` is the latest
//! iteration's output (`until: "$.check.output.done == true"`). Under
//! `while`/`until` the `as` binding is the index of the iteration about to
//! run (`while`) or just run (`until`). The loop completes with that array. A condition still asking
//! for another iteration after `maxIterations` (default 1000) fails the
//! step with LOOP_LIMIT, keeping the iterations' outputs on their rows;
//! its onStepFailure route applies. A failed iteration fails the loop.

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use crate::compile::{CompiledKind, CompiledStep, LoopDriver, MAX_LOOP_ITERATIONS};
use crate::expr::TooExpensive;
use crate::run::document;
use crate::run::error_code::ErrorCode;
use crate::run::instance::Instance;
use crate::run::state::{ItemRun, MapRun, StepRecord};
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

/// Iterations a loop may run when it sets no `maxIterations`.
pub const DEFAULT_LOOP_ITERATIONS: u32 = 1000;

/// The body of a loop step: its `step`, or its one `steps` entry.
fn loop_body(step: &CompiledStep) -> Option<NodeIndex> {
    step.map_step().or_else(|| step.children().first().copied())
}

/// The iterations a loop may run: its `maxIterations`, capped, or the default.
fn loop_limit(max_iterations: u32) -> u32 {
    match max_iterations {
        0 => DEFAULT_LOOP_ITERATIONS,
        n => n.min(MAX_LOOP_ITERATIONS),
    }
}

impl Tx<'_> {
    /// A loop step's driver, iteration limit and `as` name.
    fn loop_fields(&self, node: NodeIndex) -> Option<(LoopDriver, u32, &str)> {
        let CompiledKind::Loop { driver, max_iterations, as_name, .. } = self.wf.step(node)?.data() else {
            return None;
        };
        Some((*driver, loop_limit(*max_iterations), as_name.as_str()))
    }

    /// Starts a loop step: checks its body, resolves `over` for a list
    /// loop, and has its first iteration decided.
    pub(super) fn start_loop(&mut self, node: NodeIndex, driver: LoopDriver, source: &str, max_iterations: u32) {
        let inst = Instance::step(node);
        self.begin(inst, StepStatus::Running);
        let id = self.run.id(node).to_owned();
        let wf = Arc::clone(&self.wf);
        let Some(step) = wf.step(node) else { return };
        let Some(body) = loop_body(step) else {
            return self.step_failed(inst, format!("loop step '{id}' has no body step"));
        };
        let body_kind = self.run.kind(body);
        if body_kind.is_structural() {
            let message = format!(
                "loop step '{id}' runs a {} step per iteration, which this engine does not run yet",
                body_kind.as_str()
            );
            return self.step_failed_as(inst, ErrorCode::StepUnimplemented, message);
        }
        let limit = loop_limit(max_iterations);
        let items = match (driver, step.over()) {
            (LoopDriver::Over, Some(over)) => match document::select(over, &self.run.document) {
                Value::Array(items) => items,
                other => {
                    let message = format!(
                        "loop step '{id}' needs an array to iterate, but `over` ({source}) resolved to {}",
                        document::describe(&other)
                    );
                    return self.step_failed(inst, message);
                }
            },
            (LoopDriver::Over, None) => return self.step_failed(inst, format!("loop step '{id}' has no `over` path")),
            (LoopDriver::While | LoopDriver::Until, _) => Vec::new(),
        };
        if items.len() > limit as usize {
            let message = format!(
                "loop step '{id}' would run {} iterations over its list, more than its maxIterations {limit}",
                items.len()
            );
            return self.step_failed_as(inst, ErrorCode::LoopLimit, message);
        }
        let queued =
            ItemRun { record: StepRecord { status: StepStatus::Ready, ..StepRecord::default() }, output: None };
        let runs = vec![queued; items.len()];
        self.run.active += u32::try_from(runs.len()).unwrap_or(u32::MAX);
        self.run.maps.insert(body, MapRun { items, runs, next: 0, in_flight: 0, concurrency: 1 });
        self.work.insert(node);
    }

    /// Once no iteration is in flight: publishes the outputs so far,
    /// then starts the next iteration or completes (or fails) the loop.
    pub(super) fn pump_loop(&mut self, node: NodeIndex) {
        let wf = Arc::clone(&self.wf);
        let Some((driver, limit, _)) = self.loop_fields(node) else { return };
        let Some(body) = wf.step(node).and_then(loop_body) else { return };
        let Some(map) = self.run.maps.get(&body) else { return };
        if map.in_flight > 0 {
            return;
        }
        let done = map.next;
        let queued = map.runs.len();
        let outputs = Value::Array(map.runs[..done].iter().map(|r| r.output.clone().unwrap_or(Value::Null)).collect());
        let id = self.run.id(node).to_owned();
        if let Some(last) = outputs.as_array().and_then(|o| o.last()).cloned() {
            let body_id = self.run.id(body).to_owned();
            document::set_output(&mut self.run.document, &body_id, last);
        }
        document::set_output(&mut self.run.document, &id, outputs.clone());
        let inst = Instance::step(node);
        // Each iteration's outputs grow the state, so the condition's
        // cost is checked every time it is evaluated.
        let another = match driver {
            LoopDriver::Over => Ok(done < queued),
            LoopDriver::While => self.loop_condition(node, done),
            LoopDriver::Until if done == 0 => Ok(true),
            LoopDriver::Until => self.loop_condition(node, done - 1).map(|stop| !stop),
        };
        let another = match another {
            Ok(another) => another,
            Err(refused) => {
                let message = format!("loop step '{id}': {refused}");
                return self.step_failed_as(inst, ErrorCode::ExpressionTooExpensive, message);
            }
        };
        if !another {
            return self.complete(inst, outputs, None);
        }
        if done >= limit as usize {
            let field = if driver == LoopDriver::While { "while" } else { "until" };
            let message =
                format!("loop step '{id}' ran its maxIterations {limit} and its `{field}` condition asks for more");
            return self.step_failed_as(inst, ErrorCode::LoopLimit, message);
        }
        // A body that writes shared state waits for another writer of its
        // keys; that writer's end wakes the loop again.
        if self.write_blocked(Instance::item(body, done)) {
            return;
        }
        let Some(map) = self.run.maps.get_mut(&body) else { return };
        if driver != LoopDriver::Over {
            map.items.push(Value::from(done as u64));
            map.runs.push(ItemRun {
                record: StepRecord { status: StepStatus::Ready, ..StepRecord::default() },
                output: None,
            });
            self.run.active += 1;
        }
        let map = self.run.maps.get_mut(&body).expect("looked up just above");
        map.next += 1;
        map.in_flight += 1;
        self.start(Instance::item(body, done));
    }

    /// The loop's `while`/`until` condition, with its `as` binding set to
    /// `index`, unless it would visit more than the query cost limit.
    fn loop_condition(&mut self, node: NodeIndex, index: usize) -> Result<bool, TooExpensive> {
        let wf = Arc::clone(&self.wf);
        let Some(condition) = wf.step(node).and_then(|s| s.condition()) else { return Ok(false) };
        let name = self.loop_fields(node).map_or("item", |(_, _, name)| name).to_owned();
        let (result, _) = document::with_binding(&mut self.run.document, &name, Value::from(index as u64), |doc| {
            condition.check_cost(doc).map(|()| condition.evaluate(doc))
        });
        result
    }
}
