//! Cycle reporting: one problem per strongly connected component (or self
//! loop), naming a concrete shortest cycle through it, `a → b → c → a`.
//!
//! Components come from petgraph's Kosaraju, whose depth-first searches keep
//! their stack on the heap; its Tarjan recurses once per node and would
//! overflow on a 20,000-step cycle.

use std::collections::{HashMap, VecDeque};

use petgraph::algo::kosaraju_scc;
use petgraph::graph::NodeIndex;

use super::graph::StepGraph;
use super::index::StepIndex;
use super::path::shorten;
use super::problem::{Problem, ProblemCode};

/// Cycles longer than this are shown with their middle elided.
const MAX_SHOWN: usize = 8;

/// Reports every cycle of `graph`, in definition order of each cycle's
/// first step.
pub fn report_cycles(graph: &StepGraph, index: &StepIndex<'_>, problems: &mut Vec<Problem>) {
    let mut component = vec![usize::MAX; graph.node_count()];
    let mut cycles = Vec::new();
    for (c, scc) in kosaraju_scc(graph).into_iter().enumerate() {
        let Some(&start) = scc.iter().min() else { continue };
        if scc.len() == 1 && !graph.contains_edge(start, start) {
            continue;
        }
        for v in &scc {
            component[v.index()] = c;
        }
        cycles.push(shortest_cycle(graph, start, |v| component[v.index()] == c));
    }
    cycles.sort_by_key(|cycle| cycle.first().copied());
    for cycle in cycles {
        let Some(&start) = cycle.first() else { continue };
        let entry = start.index();
        let message = format!("Cycle detected: {}", describe(graph, &cycle));
        let field = format!("{}.dependsOn", index.path_display(entry));
        problems.push(Problem::new(&index.entries[entry].step.id, field, ProblemCode::Cycle, message));
    }
}

/// The nodes of a shortest cycle through `start` (breadth-first within its
/// component), starting with `start`.
fn shortest_cycle(graph: &StepGraph, start: NodeIndex, in_component: impl Fn(NodeIndex) -> bool) -> Vec<NodeIndex> {
    let mut came_from: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in graph.neighbors(v) {
            if w == start {
                // Walk back to `start`, which has no entry in `came_from`.
                let (mut cycle, mut at) = (vec![v], v);
                while let Some(&u) = came_from.get(&at) {
                    cycle.push(u);
                    at = u;
                }
                cycle.reverse();
                return cycle;
            }
            if in_component(w) && !came_from.contains_key(&w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![start]
}

/// `a → b → c → a`, or `a → b → c → … (9,995 more) → y → z → a`.
fn describe(graph: &StepGraph, cycle: &[NodeIndex]) -> String {
    let name = |v: &NodeIndex| shorten(&graph[*v]);
    let mut shown: Vec<String> = if cycle.len() <= MAX_SHOWN {
        cycle.iter().map(name).collect()
    } else {
        let (head, tail) = (&cycle[..3], &cycle[cycle.len() - 2..]);
        let elided = format!("… ({} more)", thousands(cycle.len() - 5));
        head.iter().map(name).chain([elided]).chain(tail.iter().map(name)).collect()
    };
    shown.extend(cycle.first().map(name));
    shown.join(" → ")
}

/// `9995` → `9,995`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(5), "5");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(9_995), "9,995");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn long_cycles_elide_their_middle() {
        let mut graph = StepGraph::new();
        let nodes: Vec<NodeIndex> = (0..20).map(|i| graph.add_node(format!("s{i}"))).collect();
        assert_eq!(describe(&graph, &nodes[..2]), "s0 → s1 → s0");
        assert_eq!(describe(&graph, &nodes), "s0 → s1 → s2 → … (15 more) → s18 → s19 → s0");
    }
}
