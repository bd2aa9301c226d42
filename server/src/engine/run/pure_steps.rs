//! The structural steps computed inside a transition: a parallel step
//! completing once its sub-steps have, and a map step queueing its items,
//! keeping at most `concurrency` of them in flight (and at most one when
//! its sub-step writes shared state) and collecting their outputs in input
//! order. (Transform and condition are one-liners in
//! `advance.rs`.)

use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::{Map, Value};

use super::advance::DepOutcome;
use super::document;
use super::error_code::ErrorCode;
use super::instance::Instance;
use super::state::{ItemRun, MapRun, StepRecord};
use super::status::StepStatus;
use super::transition::Tx;
use crate::engine::compile::StepKind;

impl Tx<'_> {
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

    /// Starts a map step: resolves `over`, which must be an array, and
    /// queues one item per element.
    pub(super) fn start_map(&mut self, node: NodeIndex) {
        let inst = Instance::step(node);
        self.begin(inst, StepStatus::Running);
        let id = self.run.id(node).to_owned();
        let wf = Arc::clone(&self.wf);
        let Some(step) = wf.step(node) else { return };
        let (Some(over), Some(template)) = (step.over(), step.map_step()) else {
            return self.step_failed(inst, format!("map step '{id}' has no `over` path or no sub-step"));
        };
        let template_kind = self.run.kind(template);
        if matches!(template_kind, StepKind::Parallel | StepKind::Map | StepKind::Loop) {
            let message = format!(
                "map step '{id}' runs a {} step per item, which this engine does not run yet",
                template_kind.as_str()
            );
            return self.step_failed_as(inst, ErrorCode::StepUnimplemented, message);
        }
        let items = match document::select(over, &self.run.document) {
            Value::Array(items) => items,
            other => {
                let source = self.wf.step_def(node).map_or("", |d| d.over.as_str());
                let message = format!(
                    "map step '{id}' needs an array to iterate, but `over` ({source}) resolved to {}",
                    document::describe(&other)
                );
                return self.step_failed(inst, message);
            }
        };
        let concurrency = self.wf.step_def(node).map_or(1, |d| d.concurrency.max(1));
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
