//! Normalization: every accepted way of writing a step becomes the canonical
//! flat step. Nested `config` objects (camelCase or snake_case keys,
//! `agent_id` → `agent`, `goal` → `task`) move into the flat fields, and type
//! aliases (`""`, `"agent_task"`) become `"agent"`. The dialects (`states`,
//! `blocks` + `edges`) are expanded in `dialect.rs`.

use std::fmt;

use serde_json::{Map, Value};

use super::MAX_NESTING;
use super::dialect;
use super::path::{Slot, StepPath, step_label};
use super::problem::{Problem, ProblemCode};
use crate::model::definition::{Definition, StepDef};

/// Moves dialects into canonical flat steps and nested `config` objects into
/// flat fields; returns what could not be moved (unknown config keys, values
/// of the wrong type, a config value that contradicts the flat field,
/// dialect errors). Unmovable keys stay in `config`, and the dialect source
/// fields stay as written, so normalizing twice equals normalizing once.
pub fn normalize(def: &mut Definition) -> Vec<Problem> {
    let mut problems = Vec::new();
    dialect::expand(def, &mut problems);
    for (i, step) in def.steps.iter_mut().enumerate() {
        let path = StepPath { parent: None, slot: Slot::Top(i) };
        normalize_step(step, &path, 0, &mut problems);
    }
    problems
}

/// True when [`normalize`] could change `def`, so validation knows whether
/// it must normalize a copy first. Dialect steps already expanded need no
/// second expansion (a mismatch is `normalize`'s to report).
pub(crate) fn needs_normalize(def: &Definition) -> bool {
    fn any_step(steps: &[StepDef], depth: usize) -> bool {
        depth <= MAX_NESTING
            && steps.iter().any(|s| {
                s.config.is_some()
                    || s.kind.is_empty()
                    || s.kind == "agent_task"
                    || any_step(&s.steps, depth + 1)
                    || s.step.as_deref().is_some_and(|sub| any_step(std::slice::from_ref(sub), depth + 1))
            })
    }
    let has_dialect = !def.states.is_empty() || !def.blocks.is_empty() || !def.edges.is_empty();
    (has_dialect && def.steps.is_empty()) || any_step(&def.steps, 0)
}

/// Normalizes one step and its sub-steps; `path` names it in problems.
pub(crate) fn normalize_step(step: &mut StepDef, path: &dyn fmt::Display, depth: usize, problems: &mut Vec<Problem>) {
    if step.kind.is_empty() || step.kind == "agent_task" {
        step.kind = "agent".to_owned();
    }
    if let Some(config) = step.config.take() {
        let leftover = move_config(step, config, path, problems);
        step.config = (!leftover.is_empty()).then_some(leftover);
    }
    // Deeper trees are refused by validation; stop here so a hostile tree
    // cannot exhaust the stack.
    if depth >= MAX_NESTING {
        return;
    }
    for (i, child) in step.steps.iter_mut().enumerate() {
        let child_path = StepPath { parent: Some(path), slot: Slot::Child(i) };
        normalize_step(child, &child_path, depth + 1, problems);
    }
    if let Some(sub) = step.step.as_deref_mut() {
        let sub_path = StepPath { parent: Some(path), slot: Slot::Sub };
        normalize_step(sub, &sub_path, depth + 1, problems);
    }
}

/// Moves every known key of `config` into `step`; returns the keys that
/// could not be moved, each reported.
fn move_config(
    step: &mut StepDef,
    config: Map<String, Value>,
    path: &dyn fmt::Display,
    problems: &mut Vec<Problem>,
) -> Map<String, Value> {
    let mut leftover = Map::new();
    for (key, value) in config {
        let moved = match field_name(&key) {
            Some(name) => move_value(step, name, value.clone()),
            None => Err(", which matches no step field".to_owned()),
        };
        if let Err(why) = moved {
            let message = format!("{} has config key '{key}'{why}", step_label(&step.id, path));
            let field = format!("{path}.config.{key}");
            problems.push(Problem::new(&step.id, field, ProblemCode::InvalidField, message));
            leftover.insert(key, value);
        }
    }
    leftover
}

/// The flat field (JSON name) a config key means, or `None` if no field.
fn field_name(key: &str) -> Option<&'static str> {
    let camel = snake_to_camel(key);
    let camel = match camel.as_str() {
        "agentId" => "agent",
        "goal" => "task",
        other => other,
    };
    CONFIG_FIELDS.iter().copied().find(|f| *f == camel)
}

/// Every step field a config object may set: all but `id`, `type` and
/// `config` itself.
const CONFIG_FIELDS: &[&str] = &[
    "dependsOn",
    "inputMap",
    "onStepFailure",
    "stateReads",
    "stateWrites",
    "retries",
    "timeout",
    "agent",
    "task",
    "steps",
    "expression",
    "onTrue",
    "onFalse",
    "duration",
    "action",
    "defaultAction",
    "message",
    "options",
    "url",
    "method",
    "headers",
    "waitForCallback",
    "body",
    "output",
    "over",
    "as",
    "concurrency",
    "step",
    "maxIterations",
    "while",
    "until",
    "event",
    "onTimeout",
    "language",
    "script",
];

fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        match c {
            '_' if !out.is_empty() => upper = true,
            _ if upper => {
                out.extend(c.to_uppercase());
                upper = false;
            }
            _ => out.push(c),
        }
    }
    out
}

/// Sets the field `name` from a config value, unless the value has the
/// wrong type or contradicts a value the flat field already has.
fn move_value(step: &mut StepDef, name: &'static str, value: Value) -> Result<(), String> {
    // Clients of the config form write timeouts as a number of seconds.
    let value = match value {
        Value::Number(n) if name == "timeout" => Value::String(n.to_string()),
        other => other,
    };
    let probe: StepDef = serde_json::from_value(Value::Object(Map::from_iter([(name.to_owned(), value)])))
        .map_err(|e| format!(" of the wrong type: {e}"))?;
    let merged = match name {
        "dependsOn" => merge(&mut step.depends_on, probe.depends_on),
        "inputMap" => merge(&mut step.input_map, probe.input_map),
        "onStepFailure" => merge(&mut step.on_step_failure, probe.on_step_failure),
        "stateReads" => merge(&mut step.state_reads, probe.state_reads),
        "stateWrites" => merge(&mut step.state_writes, probe.state_writes),
        "retries" => merge(&mut step.retries, probe.retries),
        "timeout" => merge(&mut step.timeout, probe.timeout),
        "agent" => merge(&mut step.agent, probe.agent),
        "task" => merge(&mut step.task, probe.task),
        "steps" => merge(&mut step.steps, probe.steps),
        "expression" => merge(&mut step.expression, probe.expression),
        "onTrue" => merge(&mut step.on_true, probe.on_true),
        "onFalse" => merge(&mut step.on_false, probe.on_false),
        "duration" => merge(&mut step.duration, probe.duration),
        "action" => merge(&mut step.action, probe.action),
        "defaultAction" => merge(&mut step.default_action, probe.default_action),
        "message" => merge(&mut step.message, probe.message),
        "options" => merge(&mut step.options, probe.options),
        "url" => merge(&mut step.url, probe.url),
        "method" => merge(&mut step.method, probe.method),
        "headers" => merge(&mut step.headers, probe.headers),
        "waitForCallback" => merge(&mut step.wait_for_callback, probe.wait_for_callback),
        "body" => merge(&mut step.body, probe.body),
        "output" => merge(&mut step.output, probe.output),
        "over" => merge(&mut step.over, probe.over),
        "as" => merge(&mut step.as_name, probe.as_name),
        "concurrency" => merge(&mut step.concurrency, probe.concurrency),
        "step" => merge(&mut step.step, probe.step),
        "maxIterations" => merge(&mut step.max_iterations, probe.max_iterations),
        "while" => merge(&mut step.while_condition, probe.while_condition),
        "until" => merge(&mut step.until_condition, probe.until_condition),
        "event" => merge(&mut step.event, probe.event),
        "onTimeout" => merge(&mut step.on_timeout, probe.on_timeout),
        "language" => merge(&mut step.language, probe.language),
        "script" => merge(&mut step.script, probe.script),
        _ => Ok(()),
    };
    merged.map_err(|()| format!(", which contradicts the step's own '{name}' field"))
}

/// Fills an unset field; agreeing values are fine, differing ones are not.
fn merge<T: PartialEq + Default>(slot: &mut T, value: T) -> Result<(), ()> {
    if *slot == value {
        Ok(())
    } else if *slot == T::default() {
        *slot = value;
        Ok(())
    } else {
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn definition(value: Value) -> Definition {
        serde_json::from_value(value).expect("test definition deserializes")
    }

    #[test]
    fn config_form_moves_into_flat_fields() {
        let mut def = definition(json!({"steps": [
            {"id": "fetch", "type": "http_request",
             "config": {"method": "GET", "url": "https://api.example.com/data", "timeout": 30}},
            {"id": "notify", "type": "agent_task", "dependsOn": ["fetch"],
             "config": {"agent_id": "agent_123", "goal": "Summarize the fetched data"}},
            {"id": "reshape", "type": "transform",
             "config": {"output": {"x": "$.fetch.output"}, "input_map": {"y": "$.input.y"}, "stateWrites": ["k"]}},
        ]}));
        assert!(normalize(&mut def).is_empty());
        let [fetch, notify, reshape] = &def.steps[..] else { panic!("three steps") };
        assert_eq!((fetch.method.as_str(), fetch.url.as_str()), ("GET", "https://api.example.com/data"));
        assert_eq!(fetch.timeout, "30");
        assert_eq!(notify.kind, "agent");
        assert_eq!(notify.agent, "agent_123");
        assert_eq!(notify.task, "Summarize the fetched data");
        assert_eq!(notify.depends_on, ["fetch"]);
        assert_eq!(reshape.output["x"], "$.fetch.output");
        assert_eq!(reshape.input_map["y"], "$.input.y");
        assert_eq!(reshape.state_writes, ["k"]);
        assert!(def.steps.iter().all(|s| s.config.is_none()));
    }

    #[test]
    fn unknown_wrongly_typed_and_contradicting_config_keys_are_problems_and_stay() {
        let mut def = definition(json!({"steps": [
            {"id": "a", "type": "http_request", "url": "https://a.example",
             "config": {"url": "https://b.example", "method": 5, "colour": "blue", "headers": {"X": "1"}}},
        ]}));
        let problems = normalize(&mut def);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["steps[0].config.url", "steps[0].config.method", "steps[0].config.colour"]);
        assert!(problems.iter().all(|p| p.code == ProblemCode::InvalidField && p.step_id == "a"));
        assert!(problems[2].message.contains("'colour'"), "{}", problems[2].message);
        let leftover = def.steps[0].config.as_ref().expect("unmovable keys stay");
        assert_eq!(leftover.len(), 3);
        assert_eq!(def.steps[0].headers["X"], "1");
    }

    #[test]
    fn sub_steps_are_normalized_too() {
        let mut def = definition(json!({"steps": [
            {"id": "all", "type": "parallel", "steps": [{"id": "a", "config": {"agentId": "x", "goal": "y"}}]},
            {"id": "each", "type": "map", "over": "$.input.items",
             "config": {"step": {"id": "one", "type": "agent_task", "config": {"agent": "s", "task": "t"}}}},
        ]}));
        assert!(normalize(&mut def).is_empty());
        assert_eq!(def.steps[0].steps[0].agent, "x");
        assert_eq!(def.steps[0].steps[0].kind, "agent");
        let sub = def.steps[1].step.as_deref().expect("map sub-step moved from config");
        assert_eq!((sub.kind.as_str(), sub.agent.as_str(), sub.config.is_none()), ("agent", "s", true));
    }

    #[test]
    fn normalize_is_idempotent() {
        let mut def = definition(json!({"steps": [
            {"id": "a", "config": {"agent_id": "x", "goal": "y", "bogus": 1}},
            {"id": "b", "type": "http_request", "config": {"url": "https://e.example"}},
        ]}));
        let first = normalize(&mut def);
        let once = def.clone();
        let second = normalize(&mut def);
        assert_eq!(def, once);
        assert_eq!(first, second);
        assert!(!needs_normalize(&definition(json!({"steps": [{"id": "a", "type": "agent"}]}))));
    }

    #[test]
    fn snake_case_keys_become_camel_case() {
        assert_eq!(snake_to_camel("wait_for_callback"), "waitForCallback");
        assert_eq!(snake_to_camel("max_iterations"), "maxIterations");
        assert_eq!(field_name("agent_id"), Some("agent"));
        assert_eq!(field_name("default_action"), Some("defaultAction"));
        assert_eq!(field_name("id"), None);
        assert_eq!(field_name("type"), None);
    }
}
