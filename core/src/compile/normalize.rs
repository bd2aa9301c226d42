//! Normalization: every accepted way of writing a step becomes the canonical
//! flat step. Nested `config` objects (camelCase or snake_case keys,
//! `agent_id` → `agent`, `goal` → `task`) move into the flat fields, and type
//! aliases (`""`, `"agent_task"`) become `"agent"`. Which keys a config
//! object may set, and how each moves, is the table in `fields.rs`. The
//! dialects (`states`, `blocks` + `edges`) are expanded in `dialect.rs`.

use std::fmt;

use serde_json::{Map, Value};

use super::MAX_NESTING;
use super::dialect;
use super::duration::parse_duration;
use super::fields::{Contradiction, Fill, config_field};
use super::path::{Slot, StepPath, shorten, step_label};
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
pub fn needs_normalize(def: &Definition) -> bool {
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
pub fn normalize_step(step: &mut StepDef, path: &dyn fmt::Display, depth: usize, problems: &mut Vec<Problem>) {
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
            Some(field) => move_value(step, field, value.clone()),
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

/// The flat field a config key means, or `None` if no field a config
/// object may set.
fn field_name(key: &str) -> Option<(&'static str, Fill)> {
    config_field(&snake_to_camel(key))
}

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
fn move_value(step: &mut StepDef, (name, fill): (&'static str, Fill), value: Value) -> Result<(), String> {
    let value = whole_numbers_as_integers(value);
    // Clients of the config form write timeouts as a number of seconds.
    let value = match value {
        Value::Number(n) if name == "timeout" => Value::String(n.to_string()),
        // ... and durations as text ("30s"), which the flat field holds as
        // whole seconds.
        Value::String(text) if name == "duration" => Value::from(duration_seconds(&text)?),
        other => other,
    };
    let probe: StepDef = serde_json::from_value(Value::Object(Map::from_iter([(name.to_owned(), value)])))
        .map_err(|e| format!(" of the wrong type: {e}"))?;
    fill(step, probe).map_err(|Contradiction| format!(", which contradicts the step's own '{name}' field"))
}

/// A config `duration` written as text, in whole seconds.
fn duration_seconds(text: &str) -> Result<u32, String> {
    let duration = parse_duration(text).map_err(|e| format!(" that is not a duration: {e}"))?;
    if duration.subsec_nanos() != 0 {
        return Err(format!(" of '{}', which is not a whole number of seconds", shorten(text)));
    }
    u32::try_from(duration.as_secs()).map_err(|_| " longer than the limit of 366 days".to_owned())
}

/// `value` with every whole-number double (`2.0`) written as the integer
/// it is. A config object crosses the API as a `google.protobuf.Struct`,
/// whose numbers are all doubles, so `"concurrency": 2` arrives as `2.0`;
/// JSON does not tell the two apart, and integer fields must take it.
fn whole_numbers_as_integers(value: Value) -> Value {
    /// 2^53: up to here every integer is exact as a double.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() <= EXACT => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(whole_numbers_as_integers).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, whole_numbers_as_integers(v))).collect()),
        other => other,
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
        let name = |key| field_name(key).map(|(name, _)| name);
        assert_eq!(name("agent_id"), Some("agent"));
        assert_eq!(name("default_action"), Some("defaultAction"));
        assert_eq!(name("id"), None);
        assert_eq!(name("type"), None);
    }

    /// Found by fuzzing (fuzz/, definitions through the API): config
    /// numbers arrive as doubles from a protobuf Struct.
    #[test]
    fn config_numbers_sent_as_doubles_fill_integer_fields() {
        let mut def = definition(json!({"steps": [
            {"id": "each", "type": "map", "over": "$.input.items",
             "config": {"concurrency": 2.0, "timeout": 30.0, "retries": 1.0,
                        "step": {"id": "one", "agent": "a", "task": "t", "config": {"retries": 3.0}}}},
            {"id": "nap", "type": "delay", "config": {"duration": 5.0}}
        ]}));
        assert_eq!(normalize(&mut def), []);
        let (each, nap) = (&def.steps[0], &def.steps[1]);
        assert_eq!((each.concurrency, each.timeout.as_str(), each.retries), (2, "30", 1));
        assert_eq!(each.step.as_ref().map(|s| s.retries), Some(3));
        assert_eq!(nap.duration, 5);
        let mut fractional = definition(json!({"steps": [{"id": "n", "type": "delay", "config": {"duration": 2.5}}]}));
        assert_eq!(normalize(&mut fractional).len(), 1, "a fraction is still the wrong type");
    }
}
