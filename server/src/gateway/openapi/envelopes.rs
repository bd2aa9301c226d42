//! The parts of `/openapi.json` that differ by path family: the envelope
//! each profile puts around an answer ([`Answer`]) and the error body forms
//! ([`ErrorForm`]), so that every family's document shows what it serves.

use prost_reflect::MessageDescriptor;
use serde_json::{Map, Value, json};

use super::{Builder, ERROR_SCHEMA, SCHEMAS};
use crate::api::descriptors::pool;
use crate::gateway::profile::{Answer, ErrorForm};

/// Component names of the smaller error bodies.
const PLAIN_ERROR: &str = "ErrorPlain";
const STRUCTURED_ERROR: &str = "ErrorStructured";

/// The schemas of the smaller error bodies, as components.
pub(super) fn error_form_schemas() -> Map<String, Value> {
    let mut schemas = Map::new();
    schemas.insert(
        PLAIN_ERROR.into(),
        json!({
            "type": "object",
            "description": "An error as `{\"error\": message}`, on the routes whose document lists that body. \
                A refusal of the key, its scope or a per-tenant limit (401, 403, 429) also carries `error_code`.",
            "properties": {
                "error": {"type": "string", "description": "What went wrong."},
                "error_code": {"type": "string", "description": "Only on 401, 403 and 429 (`API_KEY_INVALID`…)."},
            },
            "required": ["error"],
            "additionalProperties": false,
        }),
    );
    schemas.insert(
        STRUCTURED_ERROR.into(),
        json!({
            "type": "object",
            "description": "An error as `{\"error\": message, \"error_code\": CODE}`.",
            "properties": {
                "error": {"type": "string", "description": "What went wrong."},
                "error_code": {"type": "string", "description": "UPPER_SNAKE reason (`WORKFLOW_NOT_FOUND`)."},
            },
            "required": ["error", "error_code"],
            "additionalProperties": false,
        }),
    );
    schemas
}

/// `$ref` to the error body of `form`.
pub(super) fn error_ref(form: ErrorForm) -> Value {
    let name = match form {
        ErrorForm::Status => ERROR_SCHEMA,
        ErrorForm::Structured => STRUCTURED_ERROR,
        ErrorForm::Plain => PLAIN_ERROR,
    };
    json!({"$ref": format!("{SCHEMAS}{name}")})
}

/// The `data:` of a stream's `error` event: the route's error body with
/// `type: "error"`, and `error_code` when it reports a timeout.
pub(super) fn stream_error_schema(form: ErrorForm) -> Value {
    match form {
        ErrorForm::Status => error_ref(form),
        ErrorForm::Structured | ErrorForm::Plain => json!({
            "type": "object",
            "properties": {
                "type": {"const": "error"},
                "error": {"type": "string"},
                "error_code": {"type": "string", "description": "Present for EXECUTION_TIMEOUT."},
            },
            "required": ["type", "error"],
        }),
    }
}

/// Error statuses an envelope adds to an operation.
pub(super) fn outcome_errors(answer: Answer) -> Vec<(&'static str, &'static str)> {
    match answer {
        Answer::Outcome => vec![
            ("500", "The run failed (EXECUTION_FAILED); the message names the step and its error."),
            ("504", "The run did not finish within the execution timeout (EXECUTION_TIMEOUT)."),
        ],
        Answer::Bare
        | Answer::Only(_)
        | Answer::DataMeta { .. }
        | Answer::AgentRun
        | Answer::AgentRuns
        | Answer::Execution => Vec::new(),
    }
}

fn strict_object(properties: Map<String, Value>, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

impl Builder {
    /// The answer schema of `answer`, around `written` (the schema of the
    /// answer as written with the family's keys, `output` its message).
    pub(super) fn envelope(&mut self, answer: Answer, output: &MessageDescriptor, written: Value) -> Value {
        match answer {
            Answer::Bare | Answer::Execution | Answer::Outcome => written,
            Answer::Only(keys) => {
                let mut properties = Map::new();
                for field in output.fields() {
                    let key = self.naming.key(&field).into_owned();
                    if keys.contains(&key.as_str()) {
                        properties.insert(key, self.constrained_field_schema(&field));
                    }
                }
                strict_object(properties, keys)
            }
            Answer::DataMeta { items, .. } => {
                let data = output
                    .fields()
                    .find(|field| self.naming.key(field) == items)
                    .map(|field| self.field_schema(&field))
                    .unwrap_or_else(|| json!({"type": "array"}));
                let count = json!({"type": "integer", "minimum": 0});
                let mut meta = Map::new();
                meta.insert("total".into(), count.clone());
                meta.insert("limit".into(), count.clone());
                meta.insert("offset".into(), count);
                let mut properties = Map::new();
                properties.insert("data".into(), data);
                properties.insert("meta".into(), strict_object(meta, &["total", "limit", "offset"]));
                strict_object(properties, &["data", "meta"])
            }
            Answer::AgentRun => self.agent_run(),
            Answer::AgentRuns => {
                let mut properties = Map::new();
                properties.insert("runs".into(), json!({"type": "array", "items": self.agent_run()}));
                properties.insert("next_page_token".into(), json!({"type": "string"}));
                strict_object(properties, &["runs", "next_page_token"])
            }
        }
    }

    /// 001's run: `{output: {status, steps, result, pendingAction}, run_id}`.
    fn agent_run(&mut self) -> Value {
        let pending = match pool().get_message_by_name("weft.v1.PendingAction") {
            Some(message) => json!({"anyOf": [self.message_ref(&message), {"type": "null"}]}),
            None => json!({}),
        };
        let mut step = Map::new();
        step.insert("name".into(), json!({"type": "string"}));
        step.insert("status".into(), json!({"type": "string"}));
        step.insert("output".into(), json!({"description": "The step's output; null before it has one."}));
        let mut output = Map::new();
        output.insert(
            "status".into(),
            json!({"type": "string", "enum": ["running", "paused", "completed", "failed", "cancelled"]}),
        );
        output.insert(
            "steps".into(),
            json!({"type": "array", "items": strict_object(step, &["name", "status", "output"])}),
        );
        output.insert("result".into(), json!({"description": "The run's output once completed, else null."}));
        output.insert("pendingAction".into(), pending);
        let mut properties = Map::new();
        properties.insert("output".into(), strict_object(output, &["status", "steps", "result", "pendingAction"]));
        properties.insert("run_id".into(), json!({"type": "string"}));
        strict_object(properties, &["output", "run_id"])
    }
}
