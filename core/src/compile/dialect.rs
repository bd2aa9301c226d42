//! The two alternative definition shapes, expanded into canonical steps:
//!
//! - `states` (a state machine): each "task" state becomes an agent step whose
//!   agent (and task) is the function it calls, depending on the task state
//!   whose `next` it is. A "succeed" or "fail" state that a task state
//!   continues into (or any, in a machine without task states) becomes a
//!   transform step of the same id: a succeed state forwards what its task
//!   produced (so the run's steps end with the final state and the run's
//!   output is the last task's), a fail state fails the run with its
//!   `error` and `cause`. Step ids are state names.
//! - `blocks` + `edges` (a graph): each block becomes a step with its config
//!   moved into flat fields, "starter" and "response" blocks become
//!   transform steps that forward what flows into them (the starter the run
//!   input, the response its upstream block's output, which is then the
//!   run's output), and each edge makes its target depend on its source.
//!
//! What a generated transform yields is not written in the step (it has no
//! `output`); [`transform_roles`] reads it from the dialect source, which
//! the definition keeps.
//!
//! The source fields stay as written; expansion regenerates the same steps
//! every time, which keeps normalization idempotent.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::compiled_kind::TransformRole;
use super::normalize::normalize_step;
use super::problem::{Problem, ProblemCode};
use super::trigger;
use crate::model::definition::{Block, Definition, Edge, MachineState, StepDef};

/// Block types of the graph dialect that mark the entry and the exit.
pub const PASS_THROUGH_BLOCKS: [&str; 2] = ["starter", "response"];

/// Longest `error` of a fail state, in bytes.
pub const MAX_STATE_ERROR_LEN: usize = 128;

/// The transforms that stand for dialect blocks or states, by id, with what
/// each yields.
pub fn transform_roles(def: &Definition) -> HashMap<&str, TransformRole> {
    // A webhook trigger forwards the run input, as a starter does.
    let blocks = def
        .blocks
        .iter()
        .filter(|b| PASS_THROUGH_BLOCKS.contains(&b.kind.as_str()) || trigger::is_trigger(b, &def.edges))
        .map(|b| (b.id.as_str(), TransformRole::Forward));
    let states = def.states.iter().filter_map(|(name, state)| match state.kind.as_str() {
        "succeed" => Some((name.as_str(), TransformRole::Forward)),
        "fail" => Some((name.as_str(), TransformRole::Fail { error: state.error.clone(), cause: state.cause.clone() })),
        _ => None,
    });
    blocks.chain(states).collect()
}

/// Replaces an empty `steps` with the expansion of the dialect in use.
pub fn expand(def: &mut Definition, problems: &mut Vec<Problem>) {
    let has_states = !def.states.is_empty();
    let has_graph = !def.blocks.is_empty() || !def.edges.is_empty();
    let generated = match (has_states, has_graph) {
        (false, false) => return,
        (true, true) => {
            problems.push(Problem::new(
                "",
                "states",
                ProblemCode::InvalidField,
                "The definition uses both a state machine (states) and a graph (blocks and edges); keep one of them",
            ));
            return;
        }
        (true, false) => from_states(&def.states, &def.functions, problems),
        (false, true) => from_graph(&def.blocks, &def.edges, problems),
    };
    if def.steps.is_empty() || (has_states && def.steps == tasks_only(&generated)) {
        // A machine stored before end states became steps kept only its
        // task steps; it is expanded anew rather than refused.
        def.steps = generated;
    } else if def.steps != generated {
        let source = if has_states { "states" } else { "blocks and edges" };
        let message = format!(
            "The definition lists steps that differ from the ones its {source} describe; send either steps or {source}"
        );
        problems.push(Problem::new("", "steps", ProblemCode::InvalidField, message));
    }
}

/// The steps of an older expansion, which made no step of end states.
fn tasks_only(generated: &[StepDef]) -> Vec<StepDef> {
    generated.iter().filter(|s| s.kind == "agent").cloned().collect()
}

fn from_states(
    states: &BTreeMap<String, MachineState>,
    functions: &[String],
    problems: &mut Vec<Problem>,
) -> Vec<StepDef> {
    let mut valid: HashSet<&str> = HashSet::new();
    for (name, state) in states {
        if check_state(name, state, states, functions, problems) {
            valid.insert(name);
        }
    }
    let is_task = |name: &str| valid.contains(name) && states.get(name).is_some_and(|s| s.kind == "task");
    let has_tasks = states.keys().any(|name| is_task(name));
    // A state waits for every task state that continues into it.
    let mut preds: HashMap<&str, Vec<&str>> = HashMap::new();
    for (name, state) in states {
        if is_task(name) && valid.contains(state.next.as_str()) {
            preds.entry(&state.next).or_default().push(name);
        }
    }
    chain_order(states)
        .into_iter()
        .filter(|name| valid.contains(name))
        .filter_map(|name| {
            let state = states.get(name)?;
            let depends_on: Vec<String> =
                preds.remove(name).unwrap_or_default().into_iter().map(str::to_owned).collect();
            if state.kind == "task" {
                return Some(StepDef {
                    id: name.to_owned(),
                    kind: "agent".to_owned(),
                    agent: state.task.clone(),
                    task: state.task.clone(),
                    depends_on,
                    ..StepDef::default()
                });
            }
            // An end state no task reaches is never entered: a machine
            // starts at its task states.
            if depends_on.is_empty() && has_tasks {
                return None;
            }
            Some(StepDef { id: name.to_owned(), kind: "transform".to_owned(), depends_on, ..StepDef::default() })
        })
        .collect()
}

/// Reports what is wrong with one state; true when it can become a step.
fn check_state(
    name: &str,
    state: &MachineState,
    states: &BTreeMap<String, MachineState>,
    functions: &[String],
    problems: &mut Vec<Problem>,
) -> bool {
    let before = problems.len();
    let mut report = |field: &str, code, message: String| {
        problems.push(Problem::new(name, format!("states.{name}.{field}"), code, message));
    };
    if state.kind != "fail" && (!state.error.is_empty() || !state.cause.is_empty()) {
        let field = if state.error.is_empty() { "cause" } else { "error" };
        report(field, ProblemCode::InvalidField, format!("State '{name}' sets {field}, which only a fail state uses"));
    }
    match state.kind.as_str() {
        "task" => {
            if state.task.is_empty() {
                report(
                    "task",
                    ProblemCode::MissingField,
                    format!("State '{name}' is a task state without a task (the function it calls)"),
                );
            } else if !functions.is_empty() && !functions.contains(&state.task) {
                report(
                    "task",
                    ProblemCode::InvalidField,
                    format!("State '{name}' calls '{}', which is not listed in functions", state.task),
                );
            }
            if state.next.is_empty() {
                report(
                    "next",
                    ProblemCode::MissingField,
                    format!("State '{name}' has no next state; only succeed and fail states end the machine"),
                );
            } else if !states.contains_key(&state.next) {
                report(
                    "next",
                    ProblemCode::UnknownBranchTarget,
                    format!("State '{name}' continues with '{}' which doesn't exist", state.next),
                );
            }
        }
        "succeed" | "fail" if !state.next.is_empty() => {
            report(
                "next",
                ProblemCode::InvalidField,
                format!("State '{name}' is a {} state, which ends the machine, so it has no next state", state.kind),
            );
        }
        "fail" if state.error.len() > MAX_STATE_ERROR_LEN => {
            report(
                "error",
                ProblemCode::LimitExceeded,
                format!("State '{name}' has an error name longer than {MAX_STATE_ERROR_LEN} bytes"),
            );
        }
        "succeed" | "fail" => {}
        other => {
            report(
                "type",
                ProblemCode::UnknownStepType,
                format!("State '{name}' has unknown type '{other}'; expected task, succeed or fail"),
            );
        }
    }
    problems.len() == before
}

/// State names in the order the machine visits them: each chain from a
/// state no other state continues into, then whatever is left (cycles), so
/// the steps read in run order.
fn chain_order(states: &BTreeMap<String, MachineState>) -> Vec<&str> {
    let entered: HashSet<&str> = states.values().map(|s| s.next.as_str()).collect();
    let starts = states.keys().filter(|k| !entered.contains(k.as_str()));
    let mut order = Vec::with_capacity(states.len());
    let mut seen: HashSet<&str> = HashSet::new();
    for start in starts.chain(states.keys()) {
        let mut current = start.as_str();
        while let Some((name, state)) = states.get_key_value(current) {
            if !seen.insert(name) {
                break;
            }
            order.push(name.as_str());
            current = &state.next;
        }
    }
    order
}

fn from_graph(blocks: &[Block], edges: &[Edge], problems: &mut Vec<Problem>) -> Vec<StepDef> {
    let mut steps = Vec::with_capacity(blocks.len());
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(blocks.len());
    let mut triggers = 0;
    for (i, block) in blocks.iter().enumerate() {
        let is_trigger = trigger::is_trigger(block, edges);
        if is_trigger {
            trigger::check_trigger(block, i, triggers == 0, problems);
            triggers += 1;
        }
        let pass_through = PASS_THROUGH_BLOCKS.contains(&block.kind.as_str()) || is_trigger;
        let mut step = StepDef {
            id: block.id.clone(),
            kind: if pass_through { "transform".to_owned() } else { block.kind.clone() },
            // A trigger's config (its credentials) stays on the block.
            config: block.config.clone().filter(|c| !c.is_empty() && !is_trigger),
            ..StepDef::default()
        };
        normalize_step(&mut step, &format_args!("blocks[{i}]"), 0, problems);
        // Unmovable keys were reported against the block, which keeps them.
        step.config = None;
        index.entry(block.id.as_str()).or_insert(i);
        steps.push(step);
    }
    for (j, edge) in edges.iter().enumerate() {
        let mut end = |end: &str, id: &str| {
            let found = index.get(id).copied();
            if found.is_none() {
                let message = format!("Edge {j} {end} '{id}' which doesn't exist among the blocks");
                let field = format!("edges[{j}].{}", if end == "leaves" { "source" } else { "target" });
                problems.push(Problem::new("", field, ProblemCode::MissingDependency, message));
            }
            found
        };
        let (source, target) = (end("leaves", &edge.source), end("enters", &edge.target));
        if let (Some(_), Some(t)) = (source, target) {
            let deps = &mut steps[t].depends_on;
            if !deps.contains(&edge.source) {
                deps.push(edge.source.clone());
            }
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::normalize;
    use super::*;

    fn definition(value: Value) -> Definition {
        serde_json::from_value(value).expect("test definition deserializes")
    }

    #[test]
    fn states_dialect_compiles_to_a_chain() {
        let mut def = definition(json!({
            "name": "Customer Onboarding",
            "states": {
                "initial": {"type": "task", "task": "validateCustomerData", "next": "createAccount"},
                "createAccount": {"type": "task", "task": "createCustomerAccount", "next": "sendWelcomeEmail"},
                "sendWelcomeEmail": {"type": "task", "task": "sendEmail", "next": "complete"},
                "complete": {"type": "succeed"}
            },
            "functions": ["validateCustomerData", "createCustomerAccount", "sendEmail"]
        }));
        let source = def.states.clone();
        assert!(normalize(&mut def).is_empty());
        let chain: Vec<(&str, &str, Vec<&str>)> = def
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s.agent.as_str(), s.depends_on.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            chain,
            [
                ("initial", "validateCustomerData", vec![]),
                ("createAccount", "createCustomerAccount", vec!["initial"]),
                ("sendWelcomeEmail", "sendEmail", vec!["createAccount"]),
                ("complete", "", vec!["sendWelcomeEmail"]),
            ]
        );
        let kinds: Vec<&str> = def.steps.iter().map(|s| s.kind.as_str()).collect();
        assert_eq!(kinds, ["agent", "agent", "agent", "transform"], "the succeed state is a pass-through step");
        assert_eq!(def.states, source, "the dialect source is kept");
    }

    #[test]
    fn broken_states_are_reported_against_the_state() {
        let mut def = definition(json!({
            "states": {
                "a": {"type": "task", "task": "f", "next": "nowhere"},
                "b": {"type": "task", "next": "c"},
                "c": {"type": "choice"},
                "d": {"type": "succeed", "next": "a"},
                "e": {"type": "task", "task": "unlisted", "next": "d"}
            },
            "functions": ["f"]
        }));
        let problems = normalize(&mut def);
        let found: Vec<(&str, ProblemCode)> = problems.iter().map(|p| (p.field.as_str(), p.code)).collect();
        assert_eq!(
            found,
            [
                ("states.a.next", ProblemCode::UnknownBranchTarget),
                ("states.b.task", ProblemCode::MissingField),
                ("states.c.type", ProblemCode::UnknownStepType),
                ("states.d.next", ProblemCode::InvalidField),
                ("states.e.task", ProblemCode::InvalidField),
            ]
        );
    }

    #[test]
    fn end_states_no_task_reaches_make_no_step_and_error_belongs_to_fail_states() {
        let mut def = definition(json!({
            "states": {
                "a": {"type": "task", "task": "f", "next": "done"},
                "done": {"type": "succeed"},
                "never": {"type": "fail", "error": "Unreachable"}
            }
        }));
        assert!(normalize(&mut def).is_empty());
        let ids: Vec<&str> = def.steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "done"]);
        let mut def = definition(json!({
            "states": {
                "a": {"type": "task", "task": "f", "next": "done", "cause": "why"},
                "done": {"type": "fail", "error": "x".repeat(MAX_STATE_ERROR_LEN + 1)}
            }
        }));
        let fields: Vec<String> = normalize(&mut def).into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["states.a.cause", "states.done.error"]);
    }

    #[test]
    fn a_machine_stored_with_only_its_task_steps_is_expanded_again() {
        let mut def = definition(json!({
            "steps": [{"id": "a", "type": "agent", "agent": "f", "task": "f"}],
            "states": {"a": {"type": "task", "task": "f", "next": "done"}, "done": {"type": "succeed"}}
        }));
        assert!(normalize(&mut def).is_empty(), "the older expansion is not a contradiction");
        assert_eq!(def.steps.len(), 2);
    }

    #[test]
    fn blocks_and_edges_compile_to_dependencies() {
        let mut def = definition(json!({
            "blocks": [
                {"id": "start", "type": "starter", "config": {}, "position": {"x": 0, "y": 0}},
                {"id": "fetch", "type": "http_request", "config": {"method": "GET", "url": "https://api.example.com"}},
                {"id": "summarize", "type": "agent_task", "config": {"agent_id": "a1", "goal": "Summarize"}},
                {"id": "out", "type": "response", "config": {}, "position": {"x": 300, "y": 0}}
            ],
            "edges": [
                {"source": "start", "target": "fetch"},
                {"source": "fetch", "target": "summarize"},
                {"source": "summarize", "target": "out"},
                {"source": "start", "target": "fetch"}
            ]
        }));
        let blocks = def.blocks.clone();
        assert!(normalize(&mut def).is_empty());
        let shape: Vec<(&str, &str, Vec<&str>)> = def
            .steps
            .iter()
            .map(|s| (s.id.as_str(), s.kind.as_str(), s.depends_on.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            shape,
            [
                ("start", "transform", vec![]),
                ("fetch", "http_request", vec!["start"]),
                ("summarize", "agent", vec!["fetch"]),
                ("out", "transform", vec!["summarize"]),
            ]
        );
        assert_eq!(def.steps[1].url, "https://api.example.com");
        assert_eq!(def.steps[2].agent, "a1");
        assert!(def.steps.iter().all(|s| s.config.is_none()));
        assert!(def.steps[0].output.is_empty() && def.steps[3].output.is_empty());
        assert_eq!(def.blocks, blocks, "the dialect source is kept");
        let once = def.clone();
        assert!(normalize(&mut def).is_empty());
        assert_eq!(def, once, "expanding again changes nothing");
    }

    #[test]
    fn edges_to_unknown_blocks_are_missing_dependencies() {
        let mut def = definition(json!({
            "blocks": [{"id": "a", "type": "starter"}],
            "edges": [{"source": "a", "target": "ghost"}, {"source": "nope", "target": "a"}]
        }));
        let problems = normalize(&mut def);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["edges[0].target", "edges[1].source"]);
        assert!(problems.iter().all(|p| p.code == ProblemCode::MissingDependency));
        assert_eq!(problems[0].message, "Edge 0 enters 'ghost' which doesn't exist among the blocks");
    }

    #[test]
    fn steps_that_contradict_the_dialect_are_reported() {
        let mut def = definition(json!({
            "steps": [{"id": "x", "agent": "a", "task": "t"}],
            "states": {"s": {"type": "task", "task": "f", "next": "end"}, "end": {"type": "succeed"}}
        }));
        let problems = normalize(&mut def);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "steps");
        assert_eq!(def.steps[0].id, "x", "the explicit steps are kept");
    }
}
