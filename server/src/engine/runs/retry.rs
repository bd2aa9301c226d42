//! RetryRunFrom: a new run of a finished run's workflow version, with its
//! input and shared state, that takes over every completed output upstream
//! of the chosen step and runs that step and everything after it again.
//!
//! Which runs can be retried: FAILED, PARTIAL and CANCELLED ones. A live
//! run is still deciding its outputs, and a COMPLETED one has nothing left
//! to run again; both are FAILED_PRECONDITION.
//!
//! The new run starts from the source run's shared state as the source
//! left it, so the writes of the reused steps are in it already. Reused
//! steps are COMPLETED with zero attempts, zero cost, no startedAt, and a
//! step.completed event marked `{"reused": true}`; they never get
//! step.started. A reused condition or wait step keeps the branch it took
//! (a wait's timeout is read from its step.completed event).

use std::collections::HashSet;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::compile::{CompiledWorkflow, StepKind};
use crate::engine::run::{RetryOrigin, ReusedStep};
use crate::engine::runs::{RunDetail, RunEngine};
use crate::engine::scheduler::{NewRun, RetrySeed};
use crate::model::{StepRecord, StepStatus};

impl RunEngine {
    /// Starts a retry of `run_id` from `step_id` (empty: the run's
    /// canRetryFrom) and returns the new run.
    ///
    /// NotFound for an unknown run; FailedPrecondition (`RUN_NOT_RETRYABLE`)
    /// unless the run is failed, partial or cancelled; InvalidArgument on
    /// `step_id` when it is empty and the run names no step to retry from,
    /// when the run's version has no such step, or when it is a map's
    /// per-item sub-step (retry from the map instead).
    pub async fn retry_from(&self, tenant: &str, run_id: &str, step_id: &str) -> Result<RunDetail, EngineError> {
        let (source, steps) = self.get(tenant, run_id).await?;
        if !source.status.is_retryable() {
            return Err(EngineError::FailedPrecondition {
                message: format!(
                    "run '{run_id}' is {}; only failed, partial or cancelled runs can be retried",
                    source.status
                ),
                reason: "RUN_NOT_RETRYABLE",
            });
        }
        let step_id = match (step_id, source.can_retry_from.as_deref()) {
            ("", Some(from)) => from.to_string(),
            ("", None) => {
                let message = format!("run '{run_id}' names no step to retry from; give one");
                return Err(EngineError::invalid("step_id", message));
            }
            (given, _) => given.to_string(),
        };
        let workflow = self.compiled(tenant, &source.workflow_id, source.workflow_version).await?;
        let Some(node) = workflow.node(&step_id) else {
            let message = format!(
                "run '{run_id}' (workflow '{}' version {}) has no step '{step_id}'",
                source.workflow_id, source.workflow_version
            );
            return Err(EngineError::invalid("step_id", message));
        };
        if let Some(map) = map_owner(&workflow, node) {
            let message = format!("step '{step_id}' runs once per item of map step '{map}'; retry from '{map}'");
            return Err(EngineError::invalid("step_id", message));
        }
        let mut reused = reusable(&workflow, node, &steps);
        self.mark_timed_out_waits(tenant, run_id, &workflow, &mut reused).await?;
        let new = NewRun {
            id: crate::ids::new_run_id(),
            tenant: tenant.to_string(),
            workflow_id: source.workflow_id,
            workflow_version: source.workflow_version,
            workflow,
            user_id: source.user_id,
            trigger: "retry".into(),
            idempotency_key: String::new(),
            input: source.input.unwrap_or(Value::Null),
            shared_state: source.shared_state.unwrap_or(Value::Null),
            now_ms: now_ms(),
            schedule_id: String::new(),
            scheduled_ms: None,
            trace: crate::telemetry::propagation::current(),
        };
        let origin = RetryOrigin { run_id: run_id.to_string(), step_id };
        let ticket = self.admit(tenant).await?;
        let reply = self.launch(new, Some(RetrySeed { origin, reused })).await?;
        ticket.keep();
        self.get(tenant, &reply.run_id).await
    }
}

impl RunEngine {
    /// Marks the reused wait steps that took their onTimeout branch in the
    /// source run, read from their step.completed events (`data.timedOut`):
    /// their null output alone cannot tell a timeout from an empty event.
    async fn mark_timed_out_waits(
        &self,
        tenant: &str,
        run_id: &str,
        workflow: &CompiledWorkflow,
        reused: &mut [ReusedStep],
    ) -> Result<(), EngineError> {
        let is_wait =
            |id: &str| workflow.node(id).and_then(|v| workflow.step(v)).is_some_and(|s| s.kind() == StepKind::Wait);
        let mut unknown: HashSet<String> =
            reused.iter().filter(|r| r.output.is_null() && is_wait(&r.step)).map(|r| r.step.clone()).collect();
        let mut after = 0;
        while !unknown.is_empty() {
            let page = self.events(tenant, run_id, after, EVENT_PAGE).await?;
            for event in &page {
                let Some(step) = event.step_id.as_deref().filter(|s| unknown.contains(*s)) else { continue };
                if event.event_type == "step.completed" {
                    let timed_out = event.data.as_ref().and_then(|d| d.get("timedOut")).and_then(Value::as_bool);
                    if let Some(r) = reused.iter_mut().find(|r| r.step == step) {
                        r.timed_out = timed_out == Some(true);
                    }
                    unknown.remove(step);
                }
            }
            match page.last() {
                Some(last) if page.len() == EVENT_PAGE as usize => after = last.sequence,
                _ => break,
            }
        }
        Ok(())
    }
}

/// Events read per page while looking for reused waits' outcomes.
const EVENT_PAGE: u32 = 1000;

/// The map or loop step whose per-item sub-step `node` is (or is inside), by id.
fn map_owner(workflow: &CompiledWorkflow, node: NodeIndex) -> Option<String> {
    let mut owner = None;
    let mut at = node;
    while let Some(parent) = workflow.step(at).and_then(|s| s.parent()) {
        if workflow.step(parent).is_some_and(|s| s.kind().iterates()) {
            owner = Some(parent);
        }
        at = parent;
    }
    owner.and_then(|v| workflow.step(v)).map(|s| s.id().to_string())
}

/// The completed steps of the source run that `from` does not lead to, in
/// topological order: everything a retry from `from` can take over.
///
/// "Leads to" follows every edge (dependencies, branches, a parallel step
/// to its sub-steps and back) and also failure routes, so the recovery step
/// of a retried step runs again with it.
fn reusable(workflow: &CompiledWorkflow, from: NodeIndex, steps: &[StepRecord]) -> Vec<ReusedStep> {
    let mut downstream: HashSet<NodeIndex> = HashSet::from([from]);
    let mut stack = vec![from];
    while let Some(v) = stack.pop() {
        let goto = workflow.step(v).and_then(|s| s.failure_goto());
        for w in workflow.successors(v).map(|(w, _)| w).chain(goto) {
            if downstream.insert(w) {
                stack.push(w);
            }
        }
    }
    workflow
        .topological_order()
        .iter()
        .filter(|v| !downstream.contains(v))
        .filter_map(|&v| {
            let id = workflow.step(v)?.id();
            // Map items (`id[i]`) have keys other than their step id and
            // are never reused on their own: their map's output carries them.
            let row = steps.iter().find(|s| s.key == id && s.item_index.is_none())?;
            (row.status == StepStatus::Completed).then(|| ReusedStep {
                step: id.to_string(),
                output: row.output.clone().unwrap_or(Value::Null),
                timed_out: false,
            })
        })
        .collect()
}
