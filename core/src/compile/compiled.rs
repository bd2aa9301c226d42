//! The result of compiling a valid definition: the normalized definition,
//! its step DAG with a topological order, and every expression pre-parsed.
//! Immutable and `Send + Sync`, so one `Arc` per workflow version serves
//! every run.

use std::collections::HashMap;
use std::time::Duration;

use jsonschema::Validator;
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use super::checks::CheckedStep;
use super::compiled_kind::{CompiledKind, Shared, TransformRole, WaitTrigger};
use super::graph::{EdgeKind, StepGraph};
use super::kind::StepKind;
use super::path::Slot;
use crate::expr::{Condition, Path, Template};
use crate::model::FailureMode;
use crate::model::definition::{Definition, StepDef};

/// A compiled workflow version.
#[derive(Debug)]
pub struct CompiledWorkflow {
    definition: Definition,
    graph: StepGraph,
    nodes: HashMap<String, NodeIndex>,
    order: Vec<NodeIndex>,
    steps: Vec<CompiledStep>,
    /// Wait steps that wait for a condition, looked at again whenever a
    /// step completes.
    condition_waits: Vec<NodeIndex>,
    input_schema: Option<Validator>,
    output_schema: Option<Validator>,
}

/// One step, sub-steps included, with its references resolved to nodes and
/// its expressions parsed.
#[derive(Debug)]
pub struct CompiledStep {
    id: String,
    kind: StepKind,
    data: CompiledKind,
    shared: Shared,
    parent: Option<NodeIndex>,
    slot: Slot,
    children: Vec<NodeIndex>,
    map_step: Option<NodeIndex>,
    depends_on: Vec<NodeIndex>,
    on_true: Option<NodeIndex>,
    on_false: Option<NodeIndex>,
    on_timeout: Option<NodeIndex>,
    failure_goto: Option<NodeIndex>,
    input_map: Vec<(String, Path)>,
    output: Vec<(String, Path)>,
    over: Option<Path>,
    condition: Option<Condition>,
    task: Option<Template>,
    body_templates: Vec<(String, Template)>,
    url_template: Option<Template>,
    timeout: Option<Duration>,
}

/// What compiling needs from the analysis of a valid definition.
pub struct Parts {
    pub graph: StepGraph,
    pub order: Vec<NodeIndex>,
    pub shape: Vec<(Option<usize>, Slot)>,
    pub checked: Vec<CheckedStep>,
    pub input_schema: Option<Validator>,
    pub output_schema: Option<Validator>,
}

impl CompiledWorkflow {
    pub fn assemble(definition: Definition, parts: Parts) -> Self {
        let Parts { graph, order, shape, checked, input_schema, output_schema } = parts;
        let node = NodeIndex::new;
        // Each node's definition; parents come before their sub-steps. (A
        // valid definition has a step at every slot; the fallback is never
        // read.)
        let fallback = StepDef::default();
        let mut defs: Vec<&StepDef> = Vec::with_capacity(shape.len());
        for &(parent, slot) in &shape {
            let def = match (parent, slot) {
                (None, Slot::Top(i)) => definition.steps.get(i),
                (Some(p), Slot::Child(i)) => defs.get(p).and_then(|d| d.steps.get(i)),
                (Some(p), Slot::Sub) => defs.get(p).and_then(|d| d.step.as_deref()),
                _ => None,
            };
            defs.push(def.unwrap_or(&fallback));
        }
        let mut steps: Vec<CompiledStep> = checked
            .into_iter()
            .zip(&shape)
            .zip(&defs)
            .enumerate()
            .map(|(i, ((c, &(parent, slot)), def))| {
                // Only valid definitions are assembled, so every type is known.
                let kind = c.kind.unwrap_or(StepKind::Agent);
                CompiledStep {
                    id: graph[node(i)].clone(),
                    kind,
                    data: CompiledKind::of(kind, def, c.role.clone().unwrap_or(TransformRole::Reshape)),
                    shared: Shared::of(def),
                    parent: parent.map(node),
                    slot,
                    children: Vec::new(),
                    map_step: None,
                    depends_on: c.deps.into_iter().map(node).collect(),
                    on_true: c.on_true.map(node),
                    on_false: c.on_false.map(node),
                    on_timeout: c.on_timeout.map(node),
                    failure_goto: c.goto.map(node),
                    input_map: c.input_map,
                    output: c.output,
                    over: c.over,
                    condition: c.condition,
                    task: c.task,
                    body_templates: c.body,
                    url_template: c.url,
                    timeout: c.timeout,
                }
            })
            .collect();
        for (i, &(parent, slot)) in shape.iter().enumerate() {
            match (parent, slot) {
                (Some(p), Slot::Child(_)) => steps[p].children.push(node(i)),
                (Some(p), Slot::Sub) => steps[p].map_step = Some(node(i)),
                _ => {}
            }
        }
        let nodes = steps.iter().enumerate().map(|(i, s)| (s.id.clone(), node(i))).collect();
        let condition_waits = steps
            .iter()
            .enumerate()
            .filter(|(_, s)| matches!(s.data, CompiledKind::Wait { trigger: WaitTrigger::Condition, .. }))
            .map(|(i, _)| node(i))
            .collect();
        Self { definition, graph, nodes, order, steps, condition_waits, input_schema, output_schema }
    }

    /// Wait steps whose wait ends when a condition holds.
    pub fn condition_waits(&self) -> &[NodeIndex] {
        &self.condition_waits
    }

    /// The normalized definition this was compiled from.
    pub fn definition(&self) -> &Definition {
        &self.definition
    }

    /// The definition's `onFailure`, checked by the compiler; unset means
    /// stop.
    pub fn failure_mode(&self) -> FailureMode {
        self.definition.on_failure.as_deref().and_then(FailureMode::parse).unwrap_or_default()
    }

    /// The DAG: one node per step (weight: its id); `u → v` means `v` waits
    /// for `u`. Node indexes are the ones every accessor here takes.
    pub fn graph(&self) -> &DiGraph<String, EdgeKind> {
        &self.graph
    }

    /// Number of steps, sub-steps included.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Never true for a compiled workflow; here for API completeness.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The node of the step with this id.
    pub fn node(&self, id: &str) -> Option<NodeIndex> {
        self.nodes.get(id).copied()
    }

    /// Every node, each after all the nodes it waits for.
    pub fn topological_order(&self) -> &[NodeIndex] {
        &self.order
    }

    /// Nodes that wait for nothing: where a run starts.
    pub fn roots(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.order
            .iter()
            .copied()
            .take_while(|&v| self.graph.neighbors_directed(v, Direction::Incoming).next().is_none())
    }

    /// The compiled step of `node`; `None` for a node of another workflow.
    pub fn step(&self, node: NodeIndex) -> Option<&CompiledStep> {
        self.steps.get(node.index())
    }

    /// Every compiled step with its node, in definition order (parents
    /// before their sub-steps).
    pub fn steps(&self) -> impl Iterator<Item = (NodeIndex, &CompiledStep)> {
        self.steps.iter().enumerate().map(|(i, s)| (NodeIndex::new(i), s))
    }

    /// The step definition of `node` as written (normalized), sub-steps
    /// included; `None` for a node of another workflow.
    pub fn step_def(&self, node: NodeIndex) -> Option<&StepDef> {
        let step = self.steps.get(node.index())?;
        match (step.parent, step.slot) {
            (None, Slot::Top(i)) => self.definition.steps.get(i),
            (Some(p), Slot::Child(i)) => self.step_def(p)?.steps.get(i),
            (Some(p), Slot::Sub) => self.step_def(p)?.step.as_deref(),
            _ => None,
        }
    }

    /// What `node` waits for, and why.
    pub fn predecessors(&self, node: NodeIndex) -> impl Iterator<Item = (NodeIndex, EdgeKind)> + '_ {
        self.graph.edges_directed(node, Direction::Incoming).map(|e| (e.source(), *e.weight()))
    }

    /// What waits for `node`, and why.
    pub fn successors(&self, node: NodeIndex) -> impl Iterator<Item = (NodeIndex, EdgeKind)> + '_ {
        self.graph.edges_directed(node, Direction::Outgoing).map(|e| (e.target(), *e.weight()))
    }

    /// The compiled `inputSchema`, to check run input against.
    pub fn input_schema(&self) -> Option<&Validator> {
        self.input_schema.as_ref()
    }

    /// The compiled `outputSchema`, to check run output against.
    pub fn output_schema(&self) -> Option<&Validator> {
        self.output_schema.as_ref()
    }
}

impl CompiledStep {
    /// The step id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The step type.
    pub fn kind(&self) -> StepKind {
        self.kind
    }

    /// The step type with the fields it uses, typed.
    pub fn data(&self) -> &CompiledKind {
        &self.data
    }

    /// The shared fields the run core reads (retries, failure route,
    /// shared-state keys, `inputMap` sources).
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The parallel, loop or map step this is a sub-step of.
    pub fn parent(&self) -> Option<NodeIndex> {
        self.parent
    }

    /// Sub-steps of a parallel or loop step, in definition order.
    pub fn children(&self) -> &[NodeIndex] {
        &self.children
    }

    /// The per-item sub-step of a map step.
    pub fn map_step(&self) -> Option<NodeIndex> {
        self.map_step
    }

    /// The steps named in `dependsOn` (sub-steps of this step left out:
    /// a parent waits for them anyway).
    pub fn depends_on(&self) -> &[NodeIndex] {
        &self.depends_on
    }

    /// A condition's `onTrue` target.
    pub fn on_true(&self) -> Option<NodeIndex> {
        self.on_true
    }

    /// A condition's `onFalse` target.
    pub fn on_false(&self) -> Option<NodeIndex> {
        self.on_false
    }

    /// A wait step's `onTimeout` target.
    pub fn on_timeout(&self) -> Option<NodeIndex> {
        self.on_timeout
    }

    /// The recovery step of an `onStepFailure` goto route.
    pub fn failure_goto(&self) -> Option<NodeIndex> {
        self.failure_goto
    }

    /// `inputMap`, parsed, in key order.
    pub fn input_map(&self) -> &[(String, Path)] {
        &self.input_map
    }

    /// A transform's `output`, parsed, in key order.
    pub fn output(&self) -> &[(String, Path)] {
        &self.output
    }

    /// A map or loop step's `over` path.
    pub fn over(&self) -> Option<&Path> {
        self.over.as_ref()
    }

    /// A condition step's expression.
    pub fn condition(&self) -> Option<&Condition> {
        self.condition.as_ref()
    }

    /// An agent or planner step's task template.
    pub fn task(&self) -> Option<&Template> {
        self.task.as_ref()
    }

    /// Templated strings of an http_request body, by JSON pointer
    /// (`/a/0/b`) into the body, in document order.
    pub fn body_templates(&self) -> &[(String, Template)] {
        &self.body_templates
    }

    /// A webhook or http_request URL with `{{ }}` placeholders, parsed;
    /// `None` for a fixed URL (sent as written).
    pub fn url_template(&self) -> Option<&Template> {
        self.url_template.as_ref()
    }

    /// The step's `timeout`, parsed.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_workflow_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<CompiledWorkflow>();
        shareable::<std::sync::Arc<CompiledWorkflow>>();
    }
}
