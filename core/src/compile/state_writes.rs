//! Shared-state writers that could run at the same time: two steps writing
//! one key with no path between them in the DAG (a step and the goto
//! target of its failure route are ordered too). Instances of one step
//! (map items) are serialized at run time instead; see
//! `run/state_guard.rs`.
//!
//! Writers of a key are sorted in topological order; all of them are ordered
//! iff each one reaches the next (reachability is transitive), so only
//! consecutive pairs are searched. Each search only visits nodes up to the
//! next writer's position, which keeps the work near one pass over the graph
//! per key instead of one per pair of writers.

use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use super::graph::StepGraph;
use super::index::StepIndex;
use super::path::shorten;
use super::problem::{Problem, ProblemCode};
use crate::model::FailureAction;

/// Reports unordered writers of each shared-state key; `order` is a
/// topological order of `graph`.
pub fn report_conflicts(graph: &StepGraph, order: &[NodeIndex], index: &StepIndex<'_>, problems: &mut Vec<Problem>) {
    let mut writers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, entry) in index.entries.iter().enumerate() {
        for key in &entry.step.state_writes {
            let list = writers.entry(key.as_str()).or_default();
            // A step listing a key twice is still one writer.
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
    }
    let mut shared: Vec<(&str, Vec<usize>)> = writers.into_iter().filter(|(_, w)| w.len() > 1).collect();
    if shared.is_empty() {
        return;
    }
    shared.sort_unstable_by_key(|(key, _)| *key);
    let mut position = vec![0usize; graph.node_count()];
    for (at, v) in order.iter().enumerate() {
        position[v.index()] = at;
    }
    let mut search =
        Reach { graph, position: &position, seen: vec![0; graph.node_count()], round: 0, stack: Vec::new() };
    for (key, mut steps) in shared {
        steps.sort_unstable_by_key(|&s| position[s]);
        for pair in steps.windows(2) {
            let (first, second) = (pair[0], pair[1]);
            if search.reaches(first, second) || recovers(index, first, second) || recovers(index, second, first) {
                continue;
            }
            let message = format!(
                "Steps '{}' and '{}' both write shared-state key '{}' and neither waits for the other; order them with dependsOn",
                shorten(&index.entries[first].step.id),
                shorten(&index.entries[second].step.id),
                shorten(key)
            );
            let field = format!("{}.stateWrites", index.path_display(second));
            let step_id = &index.entries[second].step.id;
            problems.push(Problem::new(step_id, field, ProblemCode::ConflictingStateWrites, message));
        }
    }
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
