//! The DAG over every step (sub-steps included): node `i` is entry `i` of the
//! flattened tree, and an edge `u → v` means `v` waits for `u`. Goto targets
//! of failure routes are not edges: they run only when a step fails.

use std::collections::VecDeque;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use super::checks::CheckedStep;
use super::index::StepIndex;

/// Why one step waits for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// The target lists the source in `dependsOn`.
    DependsOn,
    /// The target is the source condition's `onTrue` branch.
    OnTrue,
    /// The target is the source condition's `onFalse` branch.
    OnFalse,
    /// The target is the source wait step's `onTimeout` branch.
    OnTimeout,
    /// The source is a sub-step of the target (parallel, loop or map),
    /// which completes only when all its sub-steps have.
    SubStepDone,
    /// The source is something the target's parent waits for: sub-steps
    /// start when their parent's own dependencies are met.
    ParentStart,
    /// Both write one shared-state key and nothing else orders them: the
    /// target starts only once the source has finished, whatever its
    /// outcome (it does not make the target skip or fail).
    StateOrder,
}

/// The step graph of a checked definition.
pub type StepGraph = DiGraph<String, EdgeKind>;

/// Builds the graph from resolved references; missing ones were reported
/// and are left out.
pub fn build(index: &StepIndex<'_>, checked: &[CheckedStep]) -> StepGraph {
    let n = index.entries.len();
    let mut graph = StepGraph::with_capacity(n, n + n / 2);
    for entry in &index.entries {
        graph.add_node(entry.step.id.clone());
    }
    let node = NodeIndex::new;
    for (i, step) in checked.iter().enumerate() {
        for &dep in &step.deps {
            graph.add_edge(node(dep), node(i), EdgeKind::DependsOn);
        }
        let branches = [
            (step.on_true, EdgeKind::OnTrue),
            (step.on_false, EdgeKind::OnFalse),
            (step.on_timeout, EdgeKind::OnTimeout),
        ];
        for (target, kind) in branches {
            if let Some(t) = target {
                graph.add_edge(node(i), node(t), kind);
            }
        }
        if let Some(parent) = index.entries[i].parent {
            graph.add_edge(node(i), node(parent), EdgeKind::SubStepDone);
        }
    }
    // Entries are in preorder, so a parent has inherited its own parent's
    // predecessors before its children copy them.
    let mut inherited = Vec::new();
    for (i, entry) in index.entries.iter().enumerate() {
        let Some(parent) = entry.parent else { continue };
        inherited.clear();
        inherited.extend(
            graph
                .edges_directed(node(parent), Direction::Incoming)
                .filter(|e| *e.weight() != EdgeKind::SubStepDone)
                .map(|e| e.source())
                .filter(|u| !is_within(index, u.index(), parent)),
        );
        for &u in &inherited {
            graph.add_edge(u, node(i), EdgeKind::ParentStart);
        }
    }
    graph
}

/// True when entry `node` is a (transitive) sub-step of entry `ancestor`.
fn is_within(index: &StepIndex<'_>, node: usize, ancestor: usize) -> bool {
    let mut at = index.entries[node].parent;
    while let Some(p) = at {
        if p == ancestor {
            return true;
        }
        at = index.entries[p].parent;
    }
    false
}

/// A topological order (Kahn's algorithm, ties in definition order), or
/// `None` when the graph has a cycle.
pub fn topological_order(graph: &StepGraph) -> Option<Vec<NodeIndex>> {
    let n = graph.node_count();
    let mut waiting = vec![0u32; n];
    for edge in graph.raw_edges() {
        waiting[edge.target().index()] += 1;
    }
    let mut ready: VecDeque<NodeIndex> = (0..n).filter(|&i| waiting[i] == 0).map(NodeIndex::new).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(v) = ready.pop_front() {
        order.push(v);
        for w in graph.neighbors(v) {
            waiting[w.index()] -= 1;
            if waiting[w.index()] == 0 {
                ready.push_back(w);
            }
        }
    }
    (order.len() == n).then_some(order)
}
