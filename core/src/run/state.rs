//! [`RunState`]: everything the engine knows about one run, kept small so
//! that many parked runs fit in memory. Step outputs live once, in the run
//! state document; per-step records hold only status and bookkeeping.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use petgraph::graph::NodeIndex;
use serde_json::Value;

use super::error_code::ErrorCode;
use super::instance::Instance;
use super::pause::{PendingAction, StepPause};
use super::status::{RunStatus, StepStatus};
use crate::compile::{CompiledKind, CompiledWorkflow, EdgeKind, StepKind, WaitTrigger};

/// What one step instance has done so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct StepRecord {
    pub(super) status: StepStatus,
    /// Attempts started; the current attempt is this number.
    pub(super) attempts: u32,
    /// A completed condition's result: `Some(true)` took `onTrue`.
    pub(super) branch: Option<bool>,
    /// A failure route (goto) points here.
    pub(super) routed: bool,
    pub(super) cost_cents: i64,
    pub(super) started_ms: Option<i64>,
    pub(super) completed_ms: Option<i64>,
    /// Error of the last failed attempt.
    pub(super) error: Option<Box<str>>,
    /// Why it failed for good.
    pub(super) error_code: Option<ErrorCode>,
}

/// One map item: its record, and its output once completed (map item
/// outputs are not keys of the document; the map's output array is).
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct ItemRun {
    pub(super) record: StepRecord,
    pub(super) output: Option<Value>,
}

/// The items of a running (or finished) map step, keyed in [`RunState`] by
/// the map's sub-step (template) node.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MapRun {
    /// The `over` array, bound one item at a time under the `as` name.
    pub(super) items: Vec<Value>,
    pub(super) runs: Vec<ItemRun>,
    /// Index of the next queued item.
    pub(super) next: usize,
    /// Items dispatched and not finished; never above `concurrency`.
    pub(super) in_flight: u32,
    pub(super) concurrency: u32,
}

/// Everything the engine knows about one run.
///
/// Built with [`RunState::new`] (status Pending) and changed only by
/// [`transition`](super::transition), which keeps it consistent.
#[derive(Debug, Clone)]
pub struct RunState {
    pub(super) run_id: String,
    pub(super) workflow_id: String,
    pub(super) workflow_version: u32,
    pub(super) workflow: Arc<CompiledWorkflow>,
    pub(super) status: RunStatus,
    /// One record per compiled node (map sub-step templates stay Pending;
    /// their instances are in `maps`).
    pub(super) steps: Vec<StepRecord>,
    pub(super) maps: BTreeMap<NodeIndex, MapRun>,
    /// `{"input": …, "<stepId>": {"output": …}, "state": {…}}`.
    pub(super) document: Value,
    pub(super) next_sequence: u64,
    pub(super) output: Option<Value>,
    pub(super) error: Option<String>,
    pub(super) error_code: Option<ErrorCode>,
    pub(super) can_retry_from: Option<String>,
    pub(super) cancel_reason: Option<String>,
    pub(super) total_cost_cents: i64,
    pub(super) started_ms: Option<i64>,
    pub(super) completed_ms: Option<i64>,
    /// Instances with an active status: zero means nothing can happen
    /// without a routing decision, so the run may be finished.
    pub(super) active: u32,
    /// Goto targets with no dependencies: they start only when routed to.
    pub(super) dormant: Vec<NodeIndex>,
    /// Instances in flight (running, waiting or paused, not parallel or
    /// map) whose step declares stateWrites: another writer of one of
    /// their keys may not start until they finish.
    pub(super) writing: BTreeSet<Instance>,
    /// Set once a planner spliced steps in; `None` keeps unspliced runs small.
    pub(super) splices: Option<Box<Splices>>,
    /// Paused instances and what each waits for; the run is Paused while
    /// this is not empty.
    pub(super) pauses: BTreeMap<Instance, StepPause>,
    /// Instances whose maxCostPerStep was waived by a "continue" answer.
    pub(super) cost_waived: BTreeSet<Instance>,
    /// Set while PauseRun holds the run (see `run_hold.rs`).
    pub(super) hold: Option<Box<Hold>>,
    /// While the run is Paused: when that began (ms since the epoch) and
    /// whether its timer was armed; see `paused_lifetime.rs`.
    pub(super) paused_since: Option<(i64, bool)>,
    /// The server's longest pause in ms, `None` for no limit; set by the
    /// run's owner, never by a command.
    pub(super) max_paused_ms: Option<i64>,
    /// While the run is Queued: the start it applies once admitted.
    pub(super) queued: Option<Box<super::command::DeferredStart>>,
    /// Instances whose task was noted unclaimed (task.unclaimed), with
    /// the attempt noted: each attempt is noted once. Empty for nearly
    /// every run.
    pub(super) unclaimed: BTreeMap<Instance, u32>,
}

/// A run held by PauseRun.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Hold {
    /// Why, as given to PauseRun.
    pub(super) reason: String,
    /// When the hold began, ms since the epoch.
    pub(super) since_ms: i64,
    /// Instances whose next attempt is due but not dispatched: a retry
    /// waits for the hold to end like any new work.
    pub(super) retries: BTreeSet<Instance>,
}

/// What planners changed in a run's DAG.
#[derive(Debug, Clone)]
pub(super) struct Splices {
    /// The workflow version as compiled, before any splice: what a replay
    /// of the run's commands starts from.
    pub(super) version: Arc<CompiledWorkflow>,
    /// Spliced top-level step → the planner that added it.
    pub(super) added_by: BTreeMap<NodeIndex, NodeIndex>,
}

/// One step instance as the API shows it; what a `step_runs` row holds.
#[derive(Debug, Clone, PartialEq)]
pub struct StepView<'a> {
    /// Instance key: the step id, or `<sub-step id>[<index>]` for map items.
    pub key: String,
    /// The step id as defined.
    pub step_id: &'a str,
    /// The step type.
    pub kind: StepKind,
    /// The parallel or map step this belongs to.
    pub parent_id: Option<&'a str>,
    /// For map items: the 0-based item index.
    pub item_index: Option<u32>,
    /// Current status.
    pub status: StepStatus,
    /// Attempts started.
    pub attempts: u32,
    /// Output once completed.
    pub output: Option<&'a Value>,
    /// Error of the last failed attempt.
    pub error: Option<&'a str>,
    /// Cost of all attempts, in cents.
    pub cost_cents: i64,
    /// First attempt's start, ms since the epoch.
    pub started_ms: Option<i64>,
    /// When it reached a terminal status, ms since the epoch.
    pub completed_ms: Option<i64>,
}

impl RunState {
    /// A run not yet started, on a compiled workflow version.
    pub fn new(
        run_id: impl Into<String>,
        workflow_id: impl Into<String>,
        workflow_version: u32,
        workflow: Arc<CompiledWorkflow>,
    ) -> Self {
        let dormant = dormant_goto_targets(&workflow);
        Self {
            run_id: run_id.into(),
            workflow_id: workflow_id.into(),
            workflow_version,
            steps: vec![StepRecord::default(); workflow.len()],
            workflow,
            status: RunStatus::Pending,
            maps: BTreeMap::new(),
            document: Value::Null,
            next_sequence: 1,
            output: None,
            error: None,
            error_code: None,
            can_retry_from: None,
            cancel_reason: None,
            total_cost_cents: 0,
            started_ms: None,
            completed_ms: None,
            active: 0,
            dormant,
            writing: BTreeSet::new(),
            splices: None,
            pauses: BTreeMap::new(),
            cost_waived: BTreeSet::new(),
            hold: None,
            paused_since: None,
            max_paused_ms: None,
            queued: None,
            unclaimed: BTreeMap::new(),
        }
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The workflow id and the version the run executes.
    pub fn workflow(&self) -> (&str, u32) {
        (&self.workflow_id, self.workflow_version)
    }

    /// The compiled workflow the run executes, with any steps planners
    /// spliced in.
    pub fn compiled(&self) -> &Arc<CompiledWorkflow> {
        &self.workflow
    }

    /// The workflow version the run started on, before any splice: what
    /// replaying its commands must start from.
    pub fn version_workflow(&self) -> &Arc<CompiledWorkflow> {
        self.splices.as_ref().map_or(&self.workflow, |s| &s.version)
    }

    /// The run status.
    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// The run state document paths and templates are evaluated against.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Sequence number the next event will get (the first is 1).
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The run output, once Completed or Partial.
    pub fn output(&self) -> Option<&Value> {
        self.output.as_ref()
    }

    /// Why the run failed, once Failed.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Why the run failed, as a stable code, once Failed.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.error_code
    }

    /// Keys of the instances in flight that write shared state, in order.
    pub fn writers_in_flight(&self) -> Vec<String> {
        self.writing.iter().map(|&inst| self.key(inst)).collect()
    }

    /// First failed step in topological order, once Partial or Failed.
    pub fn can_retry_from(&self) -> Option<&str> {
        self.can_retry_from.as_deref()
    }

    /// The reason given to `Cancel`, once Cancelled.
    pub fn cancel_reason(&self) -> Option<&str> {
        self.cancel_reason.as_deref()
    }

    /// Sum of every step's reported cost, in cents.
    pub fn total_cost_cents(&self) -> i64 {
        self.total_cost_cents
    }

    /// What the run waits for while Paused: the first paused step's gate.
    /// A run held by PauseRun waits for ResumeRun first.
    pub fn pending_action(&self) -> Option<PendingAction> {
        if let Some(hold) = &self.hold {
            return Some(PendingAction::manual(&hold.reason));
        }
        let (&inst, pause) = self.pauses.iter().next()?;
        Some(pause.pending_action(self.key(inst)))
    }

    /// When the run started and ended, ms since the epoch.
    pub fn times_ms(&self) -> (Option<i64>, Option<i64>) {
        (self.started_ms, self.completed_ms)
    }

    /// One instance by key (`score` or `score-article[3]`).
    pub fn step(&self, key: &str) -> Option<StepView<'_>> {
        self.locate(key).map(|inst| self.view(inst))
    }

    /// Every instance: steps in definition order, each map's items after
    /// the map's sub-step position. Map sub-step templates are left out.
    pub fn steps(&self) -> Vec<StepView<'_>> {
        let mut views = Vec::with_capacity(self.steps.len());
        for (node, _) in self.workflow.steps() {
            if let Some(map) = self.maps.get(&node) {
                views.extend((0..map.runs.len()).map(|i| self.view(Instance::item(node, i))));
            } else if !self.in_template(node) {
                views.push(self.view(Instance::step(node)));
            }
        }
        views
    }

    /// The shared-state keys the instance `key` declares (stateReads and
    /// stateWrites) with their current values (null when unset); `None`
    /// when it declares none or is unknown.
    pub fn declared_state(&self, key: &str) -> Option<Value> {
        let shared = self.workflow.step(self.locate(key)?.node)?.shared();
        let keys: Vec<&String> = shared.state_reads.iter().chain(&shared.state_writes).collect();
        if keys.is_empty() {
            return None;
        }
        let state = self.document.get("state");
        let values = keys
            .into_iter()
            .map(|k| (k.clone(), state.and_then(|s| s.get(k)).cloned().unwrap_or(Value::Null)))
            .collect::<serde_json::Map<_, _>>();
        Some(Value::Object(values))
    }

    /// The instance a key names, when it exists in this run.
    pub(super) fn locate(&self, key: &str) -> Option<Instance> {
        if let Some((id, index)) = key.strip_suffix(']').and_then(|k| k.rsplit_once('[')) {
            let node = self.workflow.node(id)?;
            let index: usize = index.parse().ok()?;
            let runs = &self.maps.get(&node)?.runs;
            return (index < runs.len()).then(|| Instance::item(node, index));
        }
        let node = self.workflow.node(key)?;
        (!self.in_template(node)).then_some(Instance::step(node))
    }

    /// The key events and effects name an instance by.
    pub(super) fn key(&self, inst: Instance) -> String {
        let id = self.id(inst.node);
        match inst.item {
            Some(i) => format!("{id}[{i}]"),
            None => id.to_owned(),
        }
    }

    /// The step id of a node.
    pub(super) fn id(&self, node: NodeIndex) -> &str {
        self.workflow.step(node).map_or("", |s| s.id())
    }

    /// The step type of a node.
    pub(super) fn kind(&self, node: NodeIndex) -> StepKind {
        self.workflow.step(node).map_or(StepKind::Agent, |s| s.kind())
    }

    /// The map or loop step whose per-item template contains `node`
    /// (outermost first), if any: such nodes are never run as themselves.
    pub(super) fn template_owner(&self, node: NodeIndex) -> Option<NodeIndex> {
        let mut owner = None;
        let mut at = node;
        while let Some(parent) = self.workflow.step(at).and_then(|s| s.parent()) {
            if self.kind(parent).iterates() {
                owner = Some(parent);
            }
            at = parent;
        }
        owner
    }

    /// What ends wait step `node`; `None` for other types.
    pub(super) fn wait_trigger(&self, node: NodeIndex) -> Option<&WaitTrigger> {
        if let Some(CompiledKind::Wait { trigger, .. }) = self.workflow.step(node).map(|s| s.data()) {
            Some(trigger)
        } else {
            None
        }
    }

    pub(super) fn in_template(&self, node: NodeIndex) -> bool {
        self.template_owner(node).is_some()
    }

    pub(super) fn record(&self, inst: Instance) -> Option<&StepRecord> {
        match inst.item {
            None => self.steps.get(inst.node.index()),
            Some(i) => self.maps.get(&inst.node)?.runs.get(i).map(|r| &r.record),
        }
    }

    pub(super) fn record_mut(&mut self, inst: Instance) -> Option<&mut StepRecord> {
        match inst.item {
            None => self.steps.get_mut(inst.node.index()),
            Some(i) => self.maps.get_mut(&inst.node)?.runs.get_mut(i).map(|r| &mut r.record),
        }
    }

    pub(super) fn status_of(&self, inst: Instance) -> StepStatus {
        self.record(inst).map_or(StepStatus::Pending, |r| r.status)
    }

    /// Changes an instance's status, keeping the active count and the
    /// set of shared-state writers in flight right.
    pub(super) fn set_status(&mut self, inst: Instance, status: StepStatus) {
        let Some(record) = self.record_mut(inst) else { return };
        let was_active = record.status.is_active();
        record.status = status;
        match (was_active, status.is_active()) {
            (false, true) => self.active += 1,
            (true, false) => self.active = self.active.saturating_sub(1),
            _ => {}
        }
        let in_flight = matches!(status, StepStatus::Running | StepStatus::Waiting | StepStatus::Paused);
        // Parallel and map steps write their state only as they complete,
        // after their children: they never hold a key while children run.
        let structural = self.kind(inst.node).is_structural();
        let writes = self.workflow.step(inst.node).is_some_and(|s| !s.shared().state_writes.is_empty());
        if in_flight && !structural && writes {
            self.writing.insert(inst);
        } else if !in_flight {
            self.writing.remove(&inst);
        }
        // A note is about the attempt waiting now: a step that stops (or is
        // put back to pending to run again) starts over.
        if status != StepStatus::Running {
            self.unclaimed.remove(&inst);
        }
    }

    /// The planner that spliced in top-level step `node`, if one did.
    pub(super) fn added_by(&self, node: NodeIndex) -> Option<NodeIndex> {
        self.splices.as_ref()?.added_by.get(&node).copied()
    }

    /// The output of a completed instance.
    pub(super) fn output_of(&self, inst: Instance) -> Option<&Value> {
        match inst.item {
            None => self.document.get(self.id(inst.node))?.get("output"),
            Some(i) => self.maps.get(&inst.node)?.runs.get(i)?.output.as_ref(),
        }
    }

    fn view(&self, inst: Instance) -> StepView<'_> {
        let record = self.record(inst);
        let step = self.workflow.step(inst.node);
        StepView {
            key: self.key(inst),
            step_id: self.id(inst.node),
            kind: self.kind(inst.node),
            parent_id: step.and_then(|s| s.parent()).or_else(|| self.added_by(inst.node)).map(|p| self.id(p)),
            item_index: inst.item.and_then(|i| u32::try_from(i).ok()),
            status: record.map_or(StepStatus::Pending, |r| r.status),
            attempts: record.map_or(0, |r| r.attempts),
            output: if record.is_some_and(|r| r.status == StepStatus::Completed) { self.output_of(inst) } else { None },
            error: record.and_then(|r| r.error.as_deref()),
            cost_cents: record.map_or(0, |r| r.cost_cents),
            started_ms: record.and_then(|r| r.started_ms),
            completed_ms: record.and_then(|r| r.completed_ms),
        }
    }
}

/// Top-level goto targets that nothing else leads to: they would otherwise
/// start with the run, so they wait until a failure routes to them.
pub(super) fn dormant_goto_targets(workflow: &CompiledWorkflow) -> Vec<NodeIndex> {
    let mut dormant: Vec<NodeIndex> = workflow
        .steps()
        .filter_map(|(_, s)| s.failure_goto())
        .filter(|&t| {
            workflow.step(t).is_some_and(|s| s.parent().is_none())
                // An ordering edge between writers does not lead to a step.
                && workflow.predecessors(t).all(|(_, kind)| matches!(kind, EdgeKind::SubStepDone | EdgeKind::StateOrder))
        })
        .collect();
    dormant.sort_unstable();
    dormant.dedup();
    dormant
}
