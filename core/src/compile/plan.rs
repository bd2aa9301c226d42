//! A planner step's output, `{"steps": [step definitions]}`, checked like a
//! definition and merged into the DAG the run executes, so the engine can
//! splice it in after the planner.
//!
//! How the new steps join the DAG:
//! - they are appended to the top-level steps, so every existing step keeps
//!   its node index (a live run's records stay valid);
//! - a new step with no `dependsOn` that is not a branch or goto target
//!   (a root of the plan) waits for the planner;
//! - every existing step that lists the planner in `dependsOn` also waits
//!   for the plan's sinks (new steps nothing else in the plan waits for,
//!   goto targets left out), so what came after the planner now comes after
//!   the plan. A plan step that depends on such a step therefore makes a
//!   cycle, reported like any other.
//!
//! Problems are those of a definition (ids unique across the run, missing
//! dependencies, cycles, unknown types, unparsable expressions), found by
//! the same analysis, with the fields of new steps written relative to the
//! output: `output.steps[1].dependsOn[0]`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::fields::is_plan_key;
use super::normalize::normalize_step;
use super::path::shorten;
use super::problem::{Problem, ProblemCode};
use super::{CompiledWorkflow, MAX_NESTING};
use crate::model::definition::{Definition, StepDef};

/// A plan merged into a workflow.
#[derive(Debug)]
pub struct Splice {
    /// The run's workflow with the plan's steps in it.
    pub workflow: CompiledWorkflow,
    /// Ids of the new top-level steps, in plan order.
    pub top_level: Vec<String>,
    /// Ids of every new step, sub-steps included, parents first.
    pub added: Vec<String>,
}

/// Merges the plan `output` of step `planner` into `base`. Fails with every
/// problem found: the output's shape (not an object with a `steps` array,
/// a step that is not a step object, unknown fields), then everything a
/// definition is checked for.
pub fn splice_plan(base: &CompiledWorkflow, planner: &str, output: &Value) -> Result<Splice, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut steps = read_plan(output, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    for (k, step) in steps.iter_mut().enumerate() {
        normalize_step(step, &format!("output.steps[{k}]"), 0, &mut problems);
    }
    let added = added_ids(&steps);
    let top_level: Vec<String> = steps.iter().map(|s| s.id.clone()).collect();
    let mut merged: Definition = base.definition().clone();
    let offset = merged.steps.len();
    join_to_planner(&mut merged.steps, &mut steps, planner);
    merged.steps.extend(steps);
    let analysis = super::analyze(&merged);
    problems.extend(analysis.problems.into_iter().map(|p| relabel(p, offset)));
    match analysis.parts {
        Some(parts) if problems.is_empty() => {
            Ok(Splice { workflow: CompiledWorkflow::assemble(merged, parts), top_level, added })
        }
        _ => Err(problems),
    }
}

/// The step definitions of a plan output, each problem with its shape
/// reported.
fn read_plan(output: &Value, problems: &mut Vec<Problem>) -> Vec<StepDef> {
    let expected = "a planner's output must be {\"steps\": [step definitions]}";
    let Some(object) = output.as_object() else {
        let message = format!("The output is {}; {expected}", describe(output));
        problems.push(Problem::new("", "output", ProblemCode::InvalidField, message));
        return Vec::new();
    };
    if let Some(extra) = object.keys().find(|k| *k != "steps") {
        let message = format!("The output has a field '{}'; {expected} and nothing else", shorten(extra));
        problems.push(Problem::new("", format!("output.{extra}"), ProblemCode::InvalidField, message));
    }
    let items = match object.get("steps") {
        Some(Value::Array(items)) => items,
        Some(other) => {
            let message = format!("The output's steps is {}; {expected}", describe(other));
            problems.push(Problem::new("", "output.steps", ProblemCode::InvalidField, message));
            return Vec::new();
        }
        None => {
            let message = format!("The output has no steps; {expected}");
            problems.push(Problem::new("", "output.steps", ProblemCode::MissingField, message));
            return Vec::new();
        }
    };
    let mut steps = Vec::with_capacity(items.len());
    for (k, item) in items.iter().enumerate() {
        let field = format!("output.steps[{k}]");
        let Some(fields) = item.as_object() else {
            let message = format!("The plan's step at {field} is {}, not a step object", describe(item));
            problems.push(Problem::new("", field, ProblemCode::InvalidField, message));
            continue;
        };
        unknown_fields(fields, &field, 0, problems);
        match serde_json::from_value::<StepDef>(item.clone()) {
            Ok(step) => steps.push(step),
            Err(e) => {
                let message = format!("The plan's step at {field} is not a valid step: {e}");
                problems.push(Problem::new(id_of(fields), field, ProblemCode::InvalidField, message));
            }
        }
    }
    steps
}

/// Reports keys no step type knows (a typo such as `dependOn` would
/// otherwise be dropped and the step run with no dependencies), in
/// sub-steps too.
fn unknown_fields(fields: &Map<String, Value>, at: &str, depth: usize, problems: &mut Vec<Problem>) {
    for key in fields.keys() {
        if !is_plan_key(key) {
            let message = format!("The plan's step at {at} has an unknown field '{}'", shorten(key));
            problems.push(Problem::new(id_of(fields), format!("{at}.{key}"), ProblemCode::InvalidField, message));
        }
    }
    if depth >= MAX_NESTING {
        return; // deeper trees are refused by the analysis
    }
    if let Some(Value::Array(children)) = fields.get("steps") {
        for (i, child) in children.iter().enumerate() {
            if let Some(child) = child.as_object() {
                unknown_fields(child, &format!("{at}.steps[{i}]"), depth + 1, problems);
            }
        }
    }
    if let Some(Value::Object(sub)) = fields.get("step") {
        unknown_fields(sub, &format!("{at}.step"), depth + 1, problems);
    }
}

fn id_of(fields: &Map<String, Value>) -> &str {
    fields.get("id").and_then(Value::as_str).unwrap_or("")
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every id of the plan, parents before their sub-steps.
fn added_ids(steps: &[StepDef]) -> Vec<String> {
    let plan = Definition { steps: steps.to_vec(), ..Definition::default() };
    let mut ids = Vec::new();
    plan.walk_steps(&mut |step, _| ids.push(step.id.clone()));
    ids
}

/// Hangs the plan after the planner: its roots wait for the planner, and
/// the planner's dependents wait for its sinks.
fn join_to_planner(existing: &mut [StepDef], plan: &mut [StepDef], planner: &str) {
    let mut upstream: HashSet<&str> = HashSet::new();
    let mut targets: HashSet<&str> = HashSet::new();
    let mut gotos: HashSet<&str> = HashSet::new();
    for step in plan.iter() {
        upstream.extend(step.depends_on.iter().map(String::as_str));
        for branch in [&step.on_true, &step.on_false, &step.on_timeout].into_iter().flatten() {
            targets.insert(&branch.next);
            upstream.insert(&step.id);
        }
        if let Some(route) = &step.on_step_failure {
            gotos.insert(&route.target);
        }
    }
    let sinks: Vec<String> = plan
        .iter()
        .filter(|s| !upstream.contains(s.id.as_str()) && !gotos.contains(s.id.as_str()))
        .map(|s| s.id.clone())
        .collect();
    let roots: Vec<usize> = (0..plan.len())
        .filter(|&k| {
            let id = plan[k].id.as_str();
            plan[k].depends_on.is_empty() && !targets.contains(id) && !gotos.contains(id)
        })
        .collect();
    for k in roots {
        plan[k].depends_on.push(planner.to_owned());
    }
    wait_for_sinks(existing, planner, &sinks, 0);
}

fn wait_for_sinks(steps: &mut [StepDef], planner: &str, sinks: &[String], depth: usize) {
    for step in steps {
        if step.depends_on.iter().any(|d| d == planner) {
            // A sink reusing this step's id is a duplicate, reported as one.
            step.depends_on.extend(sinks.iter().filter(|s| **s != step.id).cloned());
        }
        if depth < MAX_NESTING {
            wait_for_sinks(&mut step.steps, planner, sinks, depth + 1);
            if let Some(sub) = step.step.as_deref_mut() {
                wait_for_sinks(std::slice::from_mut(sub), planner, sinks, depth + 1);
            }
        }
    }
}

/// Rewrites the paths of plan steps, `steps[i]…` in the merged definition,
/// to `output.steps[i - offset]…`, in the field and in the message.
fn relabel(mut problem: Problem, offset: usize) -> Problem {
    problem.field = relabel_text(&problem.field, offset);
    problem.message = relabel_text(&problem.message, offset);
    problem
}

fn relabel_text(text: &str, offset: usize) -> String {
    const TOP: &str = "steps[";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(TOP) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        // `.steps[` is a sub-step path, `xsteps[` part of a word.
        let top_level = out.chars().next_back().is_none_or(|c| c != '.' && !c.is_alphanumeric());
        let digits = &from[TOP.len()..];
        let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
        match digits[..end].parse::<usize>() {
            Ok(i) if top_level && i >= offset && digits[end..].starts_with(']') => {
                out.push_str(&format!("output.steps[{}", i - offset));
            }
            _ => out.push_str(&from[..TOP.len() + end]),
        }
        rest = &digits[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::compile::{EdgeKind, compile};

    fn base() -> CompiledWorkflow {
        let def: Definition = serde_json::from_value(json!({"steps": [
            {"id": "plan", "type": "planner", "agent": "planner", "task": "plan it"},
            {"id": "after", "type": "transform", "dependsOn": ["plan"], "output": {"x": "$.input"}},
        ]}))
        .expect("deserializes");
        compile(&def).expect("valid")
    }

    fn deps(workflow: &CompiledWorkflow, id: &str) -> Vec<String> {
        let node = workflow.node(id).expect("step exists");
        let mut ids: Vec<String> = workflow
            .predecessors(node)
            .filter(|(_, kind)| *kind == EdgeKind::DependsOn)
            .map(|(u, _)| workflow.graph()[u].clone())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn roots_wait_for_the_planner_and_dependents_for_the_sinks() {
        let base = base();
        let plan = json!({"steps": [
            {"id": "a", "type": "agent", "agent": "w", "task": "do a"},
            {"id": "b", "type": "transform", "dependsOn": ["a"], "output": {"a": "$.a.output"}},
            {"id": "c", "type": "agent", "agent": "w", "task": "do c", "config": {"retries": 1}},
        ]});
        let splice = splice_plan(&base, "plan", &plan).expect("a valid plan");
        let wf = &splice.workflow;
        assert_eq!(splice.top_level, ["a", "b", "c"]);
        assert_eq!(wf.node("plan"), base.node("plan"), "existing steps keep their nodes");
        assert_eq!(wf.node("after"), base.node("after"));
        assert_eq!(deps(wf, "a"), ["plan"]);
        assert_eq!(deps(wf, "b"), ["a"]);
        assert_eq!(deps(wf, "c"), ["plan"]);
        assert_eq!(deps(wf, "after"), ["b", "c", "plan"]);
        let c = wf.node("c").and_then(|n| wf.step_def(n)).expect("c is defined");
        assert_eq!(c.retries, 1, "config objects are normalized like a definition's");
    }

    #[test]
    fn goto_and_branch_targets_are_not_joined_to_the_planner() {
        let plan = json!({"steps": [
            {"id": "check", "type": "condition", "expression": "$.input.n > 1",
             "onTrue": {"next": "yes"}, "onFalse": {"next": "no"}},
            {"id": "yes", "type": "agent", "agent": "w", "task": "yes",
             "onStepFailure": {"action": "goto", "target": "rescue"}},
            {"id": "no", "type": "transform", "output": {"n": "$.input.n"}},
            {"id": "rescue", "type": "transform", "output": {"n": "$.input.n"}},
        ]});
        let splice = splice_plan(&base(), "plan", &plan).expect("a valid plan");
        let wf = &splice.workflow;
        assert_eq!(deps(wf, "check"), ["plan"]);
        assert!(deps(wf, "yes").is_empty() && deps(wf, "rescue").is_empty());
        assert_eq!(deps(wf, "after"), ["no", "plan", "yes"]);
    }

    #[test]
    fn every_problem_of_a_plan_is_reported_at_once() {
        let plan = json!({"steps": [
            {"id": "after", "type": "transform", "output": {"x": "$.input"}},
            {"id": "x", "type": "agent", "agent": "w", "task": "x", "dependsOn": ["nowhere"]},
            {"id": "c1", "type": "transform", "dependsOn": ["c2"], "output": {"x": "$.input"}},
            {"id": "c2", "type": "transform", "dependsOn": ["c1"], "output": {"x": "$.input"}},
            {"id": "t", "type": "teleport"},
            {"id": "e", "type": "condition", "expression": "$.a >=", "onTrue": {"next": "x"}},
        ]});
        let problems = splice_plan(&base(), "plan", &plan).expect_err("an invalid plan");
        let codes: Vec<ProblemCode> = problems.iter().map(|p| p.code).collect();
        for code in [
            ProblemCode::DuplicateStepId,
            ProblemCode::MissingDependency,
            ProblemCode::Cycle,
            ProblemCode::UnknownStepType,
            ProblemCode::InvalidExpression,
        ] {
            assert!(codes.contains(&code), "{code} missing from {problems:#?}");
        }
        let missing = problems.iter().find(|p| p.code == ProblemCode::MissingDependency).expect("reported");
        assert_eq!(missing.field, "output.steps[1].dependsOn[0]");
    }

    #[test]
    fn outputs_that_are_not_plans_are_refused_with_what_is_wrong() {
        let base = base();
        let problem = |output: Value| splice_plan(&base, "plan", &output).expect_err("not a plan");
        assert!(problem(json!("steps"))[0].message.contains("is a string"));
        assert_eq!(problem(json!({"tasks": []})).len(), 2, "an unknown key and no steps");
        assert!(problem(json!({"steps": {"id": "a"}}))[0].message.contains("is an object"));
        let typo =
            problem(json!({"steps": [{"id": "a", "type": "agent", "agent": "w", "task": "t", "dependOn": ["x"]}]}));
        assert_eq!(typo[0].field, "output.steps[0].dependOn");
        let wrong = problem(json!({"steps": [1, {"id": "b", "dependsOn": "plan"}]}));
        assert_eq!(wrong.len(), 2, "{wrong:#?}");
    }

    #[test]
    fn plan_step_paths_are_relative_to_the_output() {
        assert_eq!(
            relabel_text("at steps[1] and at steps[3].steps[4]", 2),
            "at steps[1] and at output.steps[1].steps[4]"
        );
        assert_eq!(relabel_text("steps[12].dependsOn[0]", 10), "output.steps[2].dependsOn[0]");
        assert_eq!(relabel_text("mysteps[5] steps[x] steps[", 0), "mysteps[5] steps[x] steps[");
    }

    #[test]
    fn a_plan_depending_on_the_planners_dependent_is_a_cycle() {
        let plan = json!({"steps": [{"id": "late", "type": "transform", "dependsOn": ["after"], "output": {}}]});
        let problems = splice_plan(&base(), "plan", &plan).expect_err("a cycle through 'after'");
        assert!(problems.iter().any(|p| p.code == ProblemCode::Cycle), "{problems:#?}");
    }
}
