//! Checks of the definition's own settings: run-level failure handling,
//! policy, and the input/output JSON Schemas, which are compiled here once
//! so runs can validate against them without compiling again.

use jsonschema::Validator;
use serde_json::Value;

use super::checks::MAX_RETRIES;
use super::path::shorten;
use super::problem::{Problem, ProblemCode};
use crate::model::FailureMode;
use crate::model::definition::{Definition, MAX_CONCURRENT_RUNS, Money};

/// Deepest nesting of a JSON Schema document. Schema compilation recurses
/// per level, so a bound keeps hostile schemas from exhausting the stack.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// Compiled schemas of a definition.
#[derive(Debug, Default)]
pub struct Schemas {
    pub input: Option<Validator>,
    pub output: Option<Validator>,
}

/// Checks the definition-level fields; problems have an empty step id.
pub fn check_document(def: &Definition, problems: &mut Vec<Problem>) -> Schemas {
    let mut report = |field: &str, code, message: String| problems.push(Problem::new("", field, code, message));
    if let Some(on_failure) = &def.on_failure
        && FailureMode::parse(on_failure).is_none()
    {
        let message =
            format!("The definition has onFailure '{}'; expected stop, continue or retry", shorten(on_failure));
        report("onFailure", ProblemCode::InvalidField, message);
    }
    if def.retries > MAX_RETRIES {
        let message = format!("The definition asks for {} retries; the limit is {MAX_RETRIES}", def.retries);
        report("retries", ProblemCode::LimitExceeded, message);
    }
    if let Some(limit) = def.max_concurrent_runs
        && limit > MAX_CONCURRENT_RUNS
    {
        let message = format!(
            "The definition's maxConcurrentRuns is {limit}; the limit is {MAX_CONCURRENT_RUNS} (0 means no limit)"
        );
        report("maxConcurrentRuns", ProblemCode::LimitExceeded, message);
    }
    if let Some(policy) = &def.policy {
        let caps =
            [("policy.maxCostPerStep", &policy.max_cost_per_step), ("policy.maxTotalCost", &policy.max_total_cost)];
        for (field, cap) in caps {
            if let Some(Money { amount, .. }) = cap
                && *amount < 0
            {
                let message =
                    format!("The definition's {field} is negative ({amount}); a cost cap must be zero or more");
                report(field, ProblemCode::InvalidField, message);
            }
        }
        // Empty is unset: protobuf JSON writes "" for a string not given.
        let retention = policy.retention.as_deref().filter(|text| !text.is_empty());
        if let Some(Err(e)) = retention.map(super::duration::parse_duration) {
            let message = format!("The definition's policy.retention: {e}");
            report("policy.retention", ProblemCode::InvalidField, message);
        }
    }
    Schemas {
        input: def.input_schema.as_ref().and_then(|s| compile_schema("inputSchema", s, problems)),
        output: def.output_schema.as_ref().and_then(|s| compile_schema("outputSchema", s, problems)),
    }
}

/// Validates `schema` against its meta-schema and compiles it. Remote
/// `$ref`s cannot resolve (no HTTP client is built in), which is reported.
fn compile_schema(field: &str, schema: &Value, problems: &mut Vec<Problem>) -> Option<Validator> {
    let invalid = |reason: String| {
        let message = format!("The definition's {field} is not a valid JSON Schema: {}", shorten_reason(&reason));
        Problem::new("", field, ProblemCode::InvalidSchema, message)
    };
    if depth(schema) > MAX_SCHEMA_DEPTH {
        let message = format!("The definition's {field} nests deeper than {MAX_SCHEMA_DEPTH} levels");
        problems.push(Problem::new("", field, ProblemCode::LimitExceeded, message));
        return None;
    }
    if let Err(e) = jsonschema::meta::validate(schema) {
        let at = e.instance_path().to_string();
        let reason = if at.is_empty() { e.to_string() } else { format!("{e} (at {at})") };
        problems.push(invalid(reason));
        return None;
    }
    // Formats (`email`, `date-time`, `uri`, …) are only annotations under
    // draft 2020-12 unless asked for; users who write them expect them
    // checked.
    match jsonschema::options().should_validate_formats(true).build(schema) {
        Ok(validator) => Some(validator),
        Err(e) => {
            problems.push(invalid(e.to_string()));
            None
        }
    }
}

/// Nesting depth of a JSON value, computed without recursion.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

/// Validator messages can quote a whole schema; keep them readable.
fn shorten_reason(reason: &str) -> String {
    const MAX_CHARS: usize = 300;
    match reason.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &reason[..cut]),
        None => reason.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(def: serde_json::Value) -> (Vec<Problem>, Schemas) {
        let def: Definition = serde_json::from_value(def).expect("deserializes");
        let mut problems = Vec::new();
        let schemas = check_document(&def, &mut problems);
        (problems, schemas)
    }

    #[test]
    fn documented_schemas_compile() {
        let (problems, schemas) = check(json!({
            "inputSchema": {"type": "object", "required": ["website", "userId"], "properties": {
                "website": {"type": "string", "format": "uri"},
                "userId": {"type": "string"},
                "priority": {"type": "string", "enum": ["low", "high"]}}},
            "outputSchema": {"type": "object", "required": ["score"], "properties": {
                "score": {"type": "number", "minimum": 0, "maximum": 100}}}
        }));
        assert!(problems.is_empty(), "{problems:?}");
        let input = schemas.input.expect("input schema compiled");
        assert!(input.is_valid(&json!({"website": "https://acme.com", "userId": "u1"})));
        assert!(!input.is_valid(&json!({"website": "https://acme.com"})));
        assert!(schemas.output.is_some());
    }

    #[test]
    fn invalid_schemas_are_reported_with_the_reason() {
        let (problems, schemas) = check(json!({
            "inputSchema": {"type": "invalid_type"},
            "outputSchema": "not a schema"
        }));
        let fields: Vec<(&str, ProblemCode)> = problems.iter().map(|p| (p.field.as_str(), p.code)).collect();
        assert_eq!(fields, [("inputSchema", ProblemCode::InvalidSchema), ("outputSchema", ProblemCode::InvalidSchema)]);
        assert!(problems.iter().all(|p| p.step_id.is_empty()));
        assert!(schemas.input.is_none() && schemas.output.is_none());
    }

    #[test]
    fn remote_refs_and_unknown_meta_schemas_are_refused() {
        let (problems, _) = check(json!({
            "inputSchema": {"$ref": "http://example.com/schema.json"},
            "outputSchema": {"$schema": "http://example.com/meta"}
        }));
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn deeply_nested_schema_is_refused_before_compiling() {
        let mut schema = json!({"type": "string"});
        for _ in 0..100 {
            schema = json!({"type": "array", "items": schema});
        }
        let (problems, _) = check(json!({ "inputSchema": schema }));
        assert_eq!(problems[0].code, ProblemCode::LimitExceeded);
    }

    #[test]
    fn run_level_settings_are_checked() {
        let (problems, _) = check(json!({
            "onFailure": "explode",
            "retries": 1000,
            "policy": {"maxTotalCost": {"amount": -5, "currency": "usd"}}
        }));
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["onFailure", "retries", "policy.maxTotalCost"]);
    }
}
