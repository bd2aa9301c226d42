//! A planner step's completion. Its output is a plan: checked against the
//! DAG the run executes and spliced in when valid (how new steps join the
//! DAG is in `compile/plan.rs`), or refused with PLAN_INVALID, every problem
//! listed in the error and in the event's `data.problems`.
//!
//! The splice happens inside the transition of the planner's
//! `StepSucceeded`, so the plan is committed with its events and a replay
//! of the same command after a restart splices the same steps again.
//!
//! An invalid plan is a retryable failure: a planner asked again may answer
//! with a valid plan, so a step with `retries` gets another attempt.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::compile::{Problem, splice_plan};
use crate::run::error_code::ErrorCode;
use crate::run::instance::Instance;
use crate::run::outcome::EventType;
use crate::run::state::{Splices, StepRecord, dormant_goto_targets};
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

/// Problems written out in the error message; `data.problems` has more.
const PROBLEMS_IN_MESSAGE: usize = 20;
/// Problems listed in an event's `data.problems`.
const PROBLEMS_IN_DATA: usize = 100;

impl Tx<'_> {
    /// Completes planner instance `inst` with its plan `output`, splicing
    /// the plan's steps in, or fails the attempt with PLAN_INVALID.
    pub(super) fn apply_plan(&mut self, inst: Instance, output: Value, cost_cents: i64) {
        let planner = self.run.id(inst.node).to_owned();
        if inst.item.is_some() {
            let message = format!(
                "planner step '{planner}' runs once per map item; a plan per item has no place in the run's DAG, \
                 so nothing was spliced"
            );
            return self.attempt_failed_as(inst, ErrorCode::PlanInvalid, message, false, cost_cents);
        }
        let splice = match splice_plan(&self.wf, &planner, &output) {
            Ok(splice) => splice,
            Err(problems) => return self.plan_refused(inst, &planner, &problems, cost_cents),
        };
        let workflow = Arc::new(splice.workflow);
        let first_new = self.run.steps.len();
        let version = Arc::clone(&self.run.workflow);
        let splices = self.run.splices.get_or_insert_with(|| Box::new(Splices { version, added_by: BTreeMap::new() }));
        for node in splice.top_level.iter().filter_map(|id| workflow.node(id)) {
            splices.added_by.insert(node, inst.node);
        }
        self.run.steps.resize(workflow.len(), StepRecord::default());
        self.run.dormant = dormant_goto_targets(&workflow);
        self.run.workflow = Arc::clone(&workflow);
        self.wf = workflow;
        self.complete(inst, output, Some(cost_cents));
        let event = self.emit(EventType::PlanSpliced, Some(inst), StepStatus::Completed.as_str());
        event.data = Some(json!({ "steps": splice.added }));
        // New steps may wait only on steps that finished long ago, so each
        // is looked at, not just what waits for the planner.
        let new_nodes = (first_new..self.wf.len()).map(petgraph::graph::NodeIndex::new);
        self.work.extend(new_nodes);
    }

    /// Fails the planner's attempt with every problem of its plan.
    fn plan_refused(&mut self, inst: Instance, planner: &str, problems: &[Problem], cost_cents: i64) {
        let mut listed: Vec<String> =
            problems.iter().take(PROBLEMS_IN_MESSAGE).enumerate().map(|(i, p)| format!("({}) {p}", i + 1)).collect();
        if problems.len() > PROBLEMS_IN_MESSAGE {
            listed.push(format!("… and {} more", problems.len() - PROBLEMS_IN_MESSAGE));
        }
        let count = match problems.len() {
            1 => "1 problem".to_owned(),
            n => format!("{n} problems"),
        };
        let message = format!(
            "the plan of planner step '{planner}' is invalid ({count}); nothing was spliced: {}",
            listed.join("; ")
        );
        let before = self.out.events.len();
        self.attempt_failed_as(inst, ErrorCode::PlanInvalid, message, true, cost_cents);
        let details: Vec<Value> = problems
            .iter()
            .take(PROBLEMS_IN_DATA)
            .map(|p| json!({"stepId": p.step_id, "field": p.field, "code": p.code.as_str(), "message": p.message}))
            .collect();
        let key = self.run.key(inst);
        let own = self.out.events[before..].iter_mut().find(|e| {
            e.step_id.as_deref() == Some(key.as_str())
                && matches!(e.event_type, EventType::StepRetrying | EventType::StepFailed)
        });
        if let Some(event) = own {
            let mut data = match event.data.take() {
                Some(Value::Object(data)) => data,
                _ => serde_json::Map::new(),
            };
            data.insert("code".to_owned(), json!(ErrorCode::PlanInvalid.as_str()));
            data.insert("problems".to_owned(), Value::Array(details));
            event.data = Some(Value::Object(data));
        }
    }
}
