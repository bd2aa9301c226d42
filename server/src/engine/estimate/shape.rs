//! The dry pass: which steps can run for a sample input, and how many times
//! each runs when it does. Nothing is executed except what is pure and
//! decided by the input alone: transforms and conditions whose every path
//! reads only `input` (or such transforms and conditions), and map `over`
//! paths of the same kind.
//!
//! Every step is assumed to succeed, so a failure route's recovery step
//! (a goto target nothing else leads to) only may run.

use std::collections::{HashMap, HashSet};

use petgraph::graph::NodeIndex;
use serde_json::{Map, Value, json};

use super::UNRESOLVED_MAP_ITEMS;
use super::roots::roots;
use crate::engine::compile::{CompiledKind, CompiledWorkflow, EdgeKind, LoopDriver, StepKind};

/// Whether a step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Reach {
    /// In no run with this input.
    Never,
    /// In some runs: it counts toward the maximum only.
    Maybe,
    /// In every run that succeeds.
    Always,
}

/// What the dry pass found, per node.
pub(super) struct Shape {
    pub(super) reach: Vec<Reach>,
    /// How many times the step runs when it runs: (fewest, most). More
    /// than one only inside a map's sub-step.
    pub(super) times: Vec<(u64, u64)>,
    /// A caveat in words, for the step's estimate.
    pub(super) notes: Vec<Option<String>>,
}

struct Pass<'w> {
    wf: &'w CompiledWorkflow,
    reach: Vec<Option<Reach>>,
    times: Vec<Option<(u64, u64)>>,
    notes: Vec<Option<String>>,
    /// The run state document as far as the input decides it.
    doc: Value,
    /// Keys of `doc` the input decides.
    known: Vec<String>,
    /// A condition's result, when the input decides it.
    branch: HashMap<NodeIndex, bool>,
    /// Targets of failure routes (goto).
    gotos: HashSet<NodeIndex>,
}

/// Runs the dry pass of `wf` over `input`.
pub(super) fn dry_pass(wf: &CompiledWorkflow, input: &Value) -> Shape {
    let mut doc = Map::new();
    doc.insert("input".to_owned(), input.clone());
    let mut pass = Pass {
        wf,
        reach: vec![None; wf.len()],
        times: vec![None; wf.len()],
        notes: vec![None; wf.len()],
        doc: Value::Object(doc),
        known: vec!["input".to_owned()],
        branch: HashMap::new(),
        gotos: wf.steps().filter_map(|(_, s)| s.failure_goto()).collect(),
    };
    for &v in wf.topological_order() {
        pass.visit(v);
    }
    let nodes = (0..wf.len()).map(NodeIndex::new);
    Shape {
        reach: nodes.clone().map(|v| pass.reach_of(v)).collect(),
        times: nodes.map(|v| pass.times_of(v)).collect(),
        notes: pass.notes,
    }
}

impl Pass<'_> {
    fn visit(&mut self, v: NodeIndex) {
        let reach = self.reach_of(v);
        let Some(step) = self.wf.step(v) else { return };
        let id = step.id().to_owned();
        let per_item = self.in_map(v);
        match step.kind() {
            StepKind::Transform if reach == Reach::Always && !per_item => {
                let Some(def) = self.wf.step_def(v) else { return };
                if def.output.values().all(|src| self.decided(src)) {
                    let output: Map<String, Value> =
                        step.output().iter().map(|(key, path)| (key.clone(), select(path, &self.doc))).collect();
                    self.learn(&id, Value::Object(output));
                }
            }
            StepKind::Condition if reach != Reach::Never => {
                let decided = !per_item && step.condition().is_some_and(|c| self.decided(c.source()));
                match step.condition().filter(|_| decided) {
                    Some(condition) => {
                        let result = condition.evaluate(&self.doc);
                        self.branch.insert(v, result);
                        let taken = if result { "onTrue" } else { "onFalse" };
                        self.notes[v.index()] = Some(format!("the sample input decides it: {taken}"));
                        if reach == Reach::Always {
                            self.learn(&id, json!({ "result": result }));
                        }
                    }
                    None => {
                        self.notes[v.index()] = Some(
                            "the sample input does not decide it: both branches count toward the maximum".to_owned(),
                        );
                    }
                }
            }
            StepKind::Planner => {
                self.notes[v.index()] = Some("planner output unknown: the steps it splices in are not counted".into());
            }
            // A transform or condition the sample input cannot compute, and
            // the types whose output the estimate never learns.
            StepKind::Transform
            | StepKind::Condition
            | StepKind::Agent
            | StepKind::Parallel
            | StepKind::Delay
            | StepKind::Approval
            | StepKind::Webhook
            | StepKind::Map
            | StepKind::Wait
            | StepKind::HttpRequest
            | StepKind::Script
            | StepKind::Loop => {}
        }
    }

    /// True when every query in `src` reads only keys the input decides.
    fn decided(&self, src: &str) -> bool {
        roots(src).is_some_and(|names| names.iter().all(|n| self.known.iter().any(|k| k == n)))
    }

    fn learn(&mut self, id: &str, output: Value) {
        if let Some(doc) = self.doc.as_object_mut() {
            doc.insert(id.to_owned(), json!({ "output": output }));
        }
        self.known.push(id.to_owned());
    }

    /// Whether `v` runs: its own gate, within its parent's.
    fn reach_of(&mut self, v: NodeIndex) -> Reach {
        if let Some(reach) = self.reach[v.index()] {
            return reach;
        }
        let mut reach = self.gate(v);
        if let Some(parent) = self.wf.step(v).and_then(|s| s.parent()) {
            let parent_reach = self.reach_of(parent);
            reach = reach.min(parent_reach);
        }
        self.reach[v.index()] = Some(reach);
        reach
    }

    /// What `v`'s predecessors allow, as the engine's gate decides: every
    /// dependency finished and not all skipped, one branch leading here
    /// taken. Predecessors come first in topological order, so theirs is
    /// known.
    fn gate(&self, v: NodeIndex) -> Reach {
        let settled = |u: NodeIndex| self.reach[u.index()].unwrap_or(Reach::Maybe);
        let (mut deps, mut branches): (Option<Reach>, Option<Reach>) = (None, None);
        for (u, kind) in self.wf.predecessors(v) {
            let offered = match kind {
                EdgeKind::DependsOn => {
                    let r = settled(self.map_owner(u).unwrap_or(u));
                    deps = Some(deps.map_or(r, |d| d.max(r)));
                    continue;
                }
                EdgeKind::OnTrue | EdgeKind::OnFalse => match self.branch.get(&u) {
                    Some(&result) if result == (kind == EdgeKind::OnTrue) => settled(u),
                    Some(_) => Reach::Never,
                    None => settled(u).min(Reach::Maybe),
                },
                EdgeKind::OnTimeout => settled(u).min(Reach::Maybe),
                EdgeKind::SubStepDone | EdgeKind::ParentStart | EdgeKind::StateOrder => continue,
            };
            branches = Some(branches.map_or(offered, |b| b.max(offered)));
        }
        if deps.is_none() && branches.is_none() && self.is_dormant(v) {
            return Reach::Maybe;
        }
        deps.unwrap_or(Reach::Always).min(branches.unwrap_or(Reach::Always))
    }

    /// A top-level goto target nothing else leads to: it runs only when a
    /// step fails and routes to it.
    fn is_dormant(&self, v: NodeIndex) -> bool {
        self.gotos.contains(&v) && self.wf.step(v).is_some_and(|s| s.parent().is_none())
    }

    /// The outermost map whose per-item sub-step holds `v`.
    fn map_owner(&self, v: NodeIndex) -> Option<NodeIndex> {
        let mut owner = None;
        let mut at = v;
        while let Some(parent) = self.wf.step(at).and_then(|s| s.parent()) {
            if self.wf.step(parent).is_some_and(|p| p.kind().iterates()) {
                owner = Some(parent);
            }
            at = parent;
        }
        owner
    }

    fn in_map(&self, v: NodeIndex) -> bool {
        self.map_owner(v).is_some()
    }

    /// How many times `v` runs when it runs: its parent's count, times the
    /// items of a map parent.
    fn times_of(&mut self, v: NodeIndex) -> (u64, u64) {
        if let Some(times) = self.times[v.index()] {
            return times;
        }
        let times = match self.wf.step(v).and_then(|s| s.parent()) {
            None => (1, 1),
            Some(parent) => {
                let (lo, hi) = self.times_of(parent);
                let (items_lo, items_hi) = match self.wf.step(parent).map(|p| p.kind()) {
                    Some(StepKind::Map) => self.items(parent),
                    Some(StepKind::Loop) => self.iterations(parent),
                    // A parallel's sub-steps run once with it.
                    Some(
                        StepKind::Agent
                        | StepKind::Parallel
                        | StepKind::Condition
                        | StepKind::Delay
                        | StepKind::Approval
                        | StepKind::Webhook
                        | StepKind::Transform
                        | StepKind::Planner
                        | StepKind::Wait
                        | StepKind::HttpRequest
                        | StepKind::Script,
                    )
                    | None => (1, 1),
                };
                (lo.saturating_mul(items_lo), hi.saturating_mul(items_hi))
            }
        };
        self.times[v.index()] = Some(times);
        times
    }

    /// The item count of map `m`: the length of its `over` array when the
    /// input decides it, else 0 to [`UNRESOLVED_MAP_ITEMS`].
    fn items(&mut self, m: NodeIndex) -> (u64, u64) {
        let over = self.wf.step_def(m).map(|d| d.over.clone()).unwrap_or_default();
        let path = self.wf.step(m).and_then(|s| s.over());
        let (count, note) = match path {
            Some(path) if !self.in_map(m) && self.decided(&over) => match select(path, &self.doc) {
                Value::Array(items) => (items.len() as u64, format!("{} items in the sample input", items.len())),
                other => {
                    (0, format!("over selects {} in the sample input, not an array: the map would fail", kind(&other)))
                }
            },
            _ => {
                let note = format!(
                    "the sample input does not decide the item count: 0 to {UNRESOLVED_MAP_ITEMS} items assumed"
                );
                self.notes[m.index()] = Some(note);
                return (0, UNRESOLVED_MAP_ITEMS);
            }
        };
        self.notes[m.index()] = Some(note);
        (count, count)
    }
}

impl Pass<'_> {
    /// How many iterations a loop runs: a list loop as many as its items
    /// (none when they pass maxIterations: the step fails first); a
    /// condition loop from none (`while`) or one (`until`) up to its
    /// maxIterations, since the sample input cannot run the condition.
    fn iterations(&mut self, m: NodeIndex) -> (u64, u64) {
        let Some(CompiledKind::Loop { driver, max_iterations, .. }) = self.wf.step(m).map(|s| s.data()) else {
            return (1, 1);
        };
        let limit = match *max_iterations {
            0 => u64::from(crate::engine::run::DEFAULT_LOOP_ITERATIONS),
            n => u64::from(n.min(crate::engine::compile::MAX_LOOP_ITERATIONS)),
        };
        let (field, min) = match driver {
            LoopDriver::While => ("while", 0),
            LoopDriver::Until => ("until", 1),
            LoopDriver::Over => {
                let (lo, hi) = self.items(m);
                return if lo > limit { (0, 0) } else { (lo, hi.min(limit)) };
            }
        };
        let note = format!("its `{field}` condition decides at run time: {min} to {limit} iterations assumed");
        self.notes[m.index()] = Some(note);
        (min, limit)
    }
}

/// What a path selects, as the engine's transforms take it: nothing is
/// null, one value itself, several an array.
fn select(path: &crate::expr::Path, doc: &Value) -> Value {
    match path.query(doc).as_slice() {
        [] => Value::Null,
        [one] => (*one).clone(),
        many => Value::Array(many.iter().map(|v| (*v).clone()).collect()),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
