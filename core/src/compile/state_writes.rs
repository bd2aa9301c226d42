//! Shared-state writers that could run at the same time: two steps writing
//! one key with no path between them in the DAG (a step and the goto
//! target of its failure route are ordered too). They are allowed, and
//! serialized: the later one gets an ordering edge ([`EdgeKind::StateOrder`])
//! from the earlier, and the validator warns (CONFLICTING_STATE_WRITES, a
//! warning) so the author sees the order chosen.
//!
//! # The order
//!
//! Writers of a key run in *definition order as far as the DAG allows*: the
//! steps are laid out in definition order, each one pulled behind the steps
//! it (transitively) waits for, and consecutive writers of a key in that
//! layout are chained. The layout is a topological order of the DAG and
//! every added edge points forward in it, so serializing can never create a
//! cycle. A writer inside a map or loop stands for its outermost map or
//! loop (its items are serialized at run time instead, see
//! `run/state_guard.rs`).
//!
//! All writers of a key are ordered iff each one reaches the next
//! (reachability is transitive), so only consecutive pairs are searched.
//! Each search only visits nodes up to the next writer's position, which
//! keeps the work near one pass over the graph per key instead of one per
//! pair of writers.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::Direction;
use petgraph::graph::NodeIndex;

use super::graph::{EdgeKind, StepGraph};
use super::index::StepIndex;
use super::path::shorten;
use super::problem::{Problem, ProblemCode};
use crate::model::FailureAction;

/// Orders unordered writers of each shared-state key, adding an ordering
/// edge per pair and a warning per key and pair. `graph` must be acyclic.
pub fn serialize_writers(graph: &mut StepGraph, index: &StepIndex<'_>, warnings: &mut Vec<Problem>) {
    let mut writers: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, entry) in index.entries.iter().enumerate() {
        let writer = index.iteration_owner(i).unwrap_or(i);
        for key in &entry.step.state_writes {
            writers.entry(key.as_str()).or_default().push(writer);
        }
    }
    writers.retain(|_, list| {
        list.sort_unstable();
        list.dedup();
        list.len() > 1
    });
    if writers.is_empty() {
        return;
    }
    let layout = definition_first_order(graph);
    let mut position = vec![0usize; graph.node_count()];
    for (at, v) in layout.iter().enumerate() {
        position[v.index()] = at;
    }
    let mut added: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut search =
        Reach { graph: &*graph, position: &position, seen: vec![0; graph.node_count()], round: 0, stack: Vec::new() };
    for (key, mut steps) in writers {
        steps.sort_unstable_by_key(|&s| position[s]);
        for pair in steps.windows(2) {
            let (first, second) = (pair[0], pair[1]);
            if search.reaches(first, second) || recovers(index, first, second) || recovers(index, second, first) {
                continue;
            }
            added.insert((first, second));
            let message = format!(
                "Steps '{}' and '{}' both write shared-state key '{}' and neither waits for the other; '{}' will \
                 run after '{}' (definition order). Add dependsOn to choose another order",
                shorten(&index.entries[first].step.id),
                shorten(&index.entries[second].step.id),
                shorten(key),
                shorten(&index.entries[second].step.id),
                shorten(&index.entries[first].step.id),
            );
            let field = format!("{}.stateWrites", index.path_display(second));
            let step_id = &index.entries[second].step.id;
            warnings.push(Problem::new(step_id, field, ProblemCode::ConflictingStateWrites, message));
        }
    }
    for (first, second) in added {
        graph.add_edge(NodeIndex::new(first), NodeIndex::new(second), EdgeKind::StateOrder);
    }
}

/// A topological order of an acyclic `graph` that follows definition order
/// (node index) except where a step must come after what it waits for:
/// each node in turn, after the not yet placed nodes it waits for, those
/// placed the same way, earliest defined first. Iterative, so a long chain
/// cannot overflow the stack.
fn definition_first_order(graph: &StepGraph) -> Vec<NodeIndex> {
    let n = graph.node_count();
    let mut placed = vec![false; n];
    let mut order = Vec::with_capacity(n);
    // (node, whether what it waits for has been pushed already).
    let mut stack: Vec<(NodeIndex, bool)> = Vec::new();
    let mut preds: Vec<NodeIndex> = Vec::new();
    for start in 0..n {
        stack.push((NodeIndex::new(start), false));
        while let Some((v, expanded)) = stack.pop() {
            if placed[v.index()] {
                continue;
            }
            if expanded {
                placed[v.index()] = true;
                order.push(v);
                continue;
            }
            stack.push((v, true));
            preds.clear();
            preds.extend(graph.neighbors_directed(v, Direction::Incoming).filter(|u| !placed[u.index()]));
            // Popped in definition order: the earliest defined is placed first.
            preds.sort_unstable_by(|a, b| b.cmp(a));
            stack.extend(preds.iter().map(|&u| (u, false)));
        }
    }
    order
}

/// True when entry `recovery` is the goto target of entry `failing`'s
/// failure route. Routes are not graph edges, yet they order the two: the
/// recovery runs only after the failing step failed, and a failed step
/// writes nothing.
fn recovers(index: &StepIndex<'_>, failing: usize, recovery: usize) -> bool {
    index.entries[failing]
        .step
        .on_step_failure
        .as_ref()
        .is_some_and(|r| r.parsed_action() == Some(FailureAction::Goto) && r.target == index.entries[recovery].step.id)
}

/// Depth-first reachability with a reusable visited set.
struct Reach<'g> {
    graph: &'g StepGraph,
    position: &'g [usize],
    /// `seen[v] == round` marks `v` visited in the current search.
    seen: Vec<u32>,
    round: u32,
    stack: Vec<NodeIndex>,
}

impl Reach<'_> {
    /// True when a path leads from entry `from` to entry `to`, where `to`
    /// comes later in the topological order.
    fn reaches(&mut self, from: usize, to: usize) -> bool {
        self.round += 1;
        let limit = self.position[to];
        self.stack.clear();
        self.stack.push(NodeIndex::new(from));
        while let Some(v) = self.stack.pop() {
            for w in self.graph.neighbors(v) {
                let wi = w.index();
                if wi == to {
                    return true;
                }
                // Nodes after `to` in topological order cannot lead to it.
                if self.position[wi] < limit && self.seen[wi] != self.round {
                    self.seen[wi] = self.round;
                    self.stack.push(w);
                }
            }
        }
        false
    }
}
