//! Map steps: one item instance `<subStepId>[i]` per element of `over`,
//! queued as the map starts, at most `concurrency` of them in flight (and
//! at most one when the sub-step writes shared state), their outputs
//! collected in input order. A failed item fails the map (`failure.rs`).

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use crate::run::document;
use crate::run::error_code::ErrorCode;
use crate::run::instance::Instance;
use crate::run::state::{ItemRun, MapRun, StepRecord};
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

impl Tx<'_> {
    /// Starts a map step: resolves `over`, which must be an array, and
    /// queues one item per element.
    pub(super) fn start_map(&mut self, node: NodeIndex, source: &str, concurrency: u32) {
        let inst = Instance::step(node);
        self.begin(inst, StepStatus::Running);
        let id = self.run.id(node).to_owned();
        let wf = Arc::clone(&self.wf);
        let Some(step) = wf.step(node) else { return };
        let (Some(over), Some(template)) = (step.over(), step.map_step()) else {
            return self.step_failed(inst, format!("map step '{id}' has no `over` path or no sub-step"));
        };
        let template_kind = self.run.kind(template);
        if template_kind.is_structural() {
            let message = format!(
                "map step '{id}' runs a {} step per item, which this engine does not run yet",
                template_kind.as_str()
            );
            return self.step_failed_as(inst, ErrorCode::StepUnimplemented, message);
        }
        let items = match document::select(over, &self.run.document) {
            Value::Array(items) => items,
            other => {
                let message = format!(
                    "map step '{id}' needs an array to iterate, but `over` ({source}) resolved to {}",
                    document::describe(&other)
                );
                return self.step_failed(inst, message);
            }
        };
        let queued =
            ItemRun { record: StepRecord { status: StepStatus::Ready, ..StepRecord::default() }, output: None };
        let runs = vec![queued; items.len()];
        self.run.active += u32::try_from(runs.len()).unwrap_or(u32::MAX);
        self.run.maps.insert(template, MapRun { items, runs, next: 0, in_flight: 0, concurrency });
        self.work.insert(node);
    }

    /// Starts queued items while slots are free; completes the map once
    /// every item has completed.
    pub(super) fn pump_map(&mut self, node: NodeIndex) {
        let Some(template) = self.wf.step(node).and_then(|s| s.map_step()) else { return };
        loop {
            let Some(map) = self.run.maps.get_mut(&template) else { return };
            if map.in_flight >= map.concurrency || map.next >= map.runs.len() {
                break;
            }
            let index = map.next;
            // Items of a sub-step that writes shared state go one at a time,
            // in order: the item in flight wakes the map when it ends.
            if self.write_blocked(Instance::item(template, index)) {
                break;
            }
            let map = self.run.maps.get_mut(&template).expect("looked up just above");
            map.next += 1;
            map.in_flight += 1;
            self.start(Instance::item(template, index));
            if self.run.status_of(Instance::step(node)) != StepStatus::Running {
                return;
            }
        }
        let Some(map) = self.run.maps.get(&template) else { return };
        if map.next < map.runs.len() || map.in_flight > 0 {
            return;
        }
        let output = Value::Array(map.runs.iter().map(|r| r.output.clone().unwrap_or(Value::Null)).collect());
        self.complete(Instance::step(node), output, None);
    }
}
