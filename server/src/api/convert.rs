//! Conversions between `weft.v1` messages and domain types, one function per
//! direction. Definitions cross through protobuf JSON: the domain
//! definition is the documented step JSON, so the JSON mapping of the proto
//! *is* the conversion, and a field added to both stays in step.
//!
//! A definition is stored and sent back, so it is held to the JSON nesting
//! limit as it comes in; one stored before the limit that is deeper is
//! sent without its steps rather than failing every read of it.

use prost_types::Timestamp;
use serde_json::Value;
use weft_proto::v1 as pb;

use crate::api::descriptors::{json_to_message, message_to_json};
use crate::api::error;
use crate::api::request_checks::json_depth;
use crate::model::json_limits::check_stored_depth;
use crate::model::{Definition, Workflow, WorkflowStatus, WorkflowVersionInfo};

/// Unix milliseconds as a protobuf timestamp.
pub fn timestamp(ms: i64) -> Timestamp {
    Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000) as i32 }
}

/// A protobuf status as the domain status; `None` for UNSPECIFIED.
pub fn status_from_pb(status: i32) -> Result<Option<WorkflowStatus>, tonic::Status> {
    match pb::WorkflowStatus::try_from(status) {
        Ok(pb::WorkflowStatus::Unspecified) => Ok(None),
        Ok(pb::WorkflowStatus::Draft) => Ok(Some(WorkflowStatus::Draft)),
        Ok(pb::WorkflowStatus::Active) => Ok(Some(WorkflowStatus::Active)),
        Ok(pb::WorkflowStatus::Paused) => Ok(Some(WorkflowStatus::Paused)),
        Ok(pb::WorkflowStatus::Archived) => Ok(Some(WorkflowStatus::Archived)),
        Err(_) => Err(error::invalid_argument("status", format!("unknown workflow status {status}"))),
    }
}

fn status_to_pb(status: WorkflowStatus) -> pb::WorkflowStatus {
    match status {
        WorkflowStatus::Draft => pb::WorkflowStatus::Draft,
        WorkflowStatus::Active => pb::WorkflowStatus::Active,
        WorkflowStatus::Paused => pb::WorkflowStatus::Paused,
        WorkflowStatus::Archived => pb::WorkflowStatus::Archived,
    }
}

fn failure_mode_from_pb(mode: i32) -> Result<Option<String>, tonic::Status> {
    match pb::FailureMode::try_from(mode) {
        Ok(pb::FailureMode::Unspecified) => Ok(None),
        Ok(pb::FailureMode::Stop) => Ok(Some("stop".into())),
        Ok(pb::FailureMode::Continue) => Ok(Some("continue".into())),
        Ok(pb::FailureMode::Retry) => Ok(Some("retry".into())),
        Err(_) => Err(error::invalid_argument("on_failure", format!("unknown failure mode {mode}"))),
    }
}

fn failure_mode_to_pb(mode: Option<&str>) -> pb::FailureMode {
    match mode {
        Some("stop") => pb::FailureMode::Stop,
        Some("continue") => pb::FailureMode::Continue,
        Some("retry") => pb::FailureMode::Retry,
        _ => pb::FailureMode::Unspecified,
    }
}

/// Reads the definition fields of a message (`weft.v1.Workflow` or
/// `weft.v1.WorkflowDefinition`) through its JSON form.
fn definition_from_json(mut json: Value, on_failure: i32, field: &str) -> Result<Definition, tonic::Status> {
    json_depth(&json, field)?;
    if let Some(object) = json.as_object_mut() {
        // The enum is mapped on its own: the domain writes "stop", not FAILURE_MODE_STOP.
        object.remove("onFailure");
    }
    let mut definition: Definition =
        serde_json::from_value(json).map_err(|e| error::invalid_argument(field, e.to_string()))?;
    definition.on_failure = failure_mode_from_pb(on_failure)?;
    Ok(definition)
}

/// The definition a client sent in a `Workflow`: the nested `definition`
/// form when present, else the flat fields.
pub fn definition_from_pb(workflow: &pb::Workflow) -> Result<Definition, tonic::Status> {
    match &workflow.definition {
        Some(nested) => definition_from_json(
            message_to_json("weft.v1.WorkflowDefinition", nested),
            nested.on_failure,
            "workflow.definition",
        ),
        None => {
            let mut flat = workflow.clone();
            flat.definition = None;
            // Output only, and not a definition field: a client's value is
            // ignored, even one outside the range JSON timestamps can spell.
            (flat.create_time, flat.update_time) = (None, None);
            definition_from_json(message_to_json("weft.v1.Workflow", &flat), workflow.on_failure, "workflow")
        }
    }
}

/// The nested-form definition of a validate request.
pub fn definition_from_nested(nested: &pb::WorkflowDefinition) -> Result<Definition, tonic::Status> {
    definition_from_json(message_to_json("weft.v1.WorkflowDefinition", nested), nested.on_failure, "definition")
}

/// A domain workflow as the `weft.v1.Workflow` resource.
pub fn workflow_to_pb(workflow: &Workflow) -> pb::Workflow {
    let mut json = workflow.definition.to_document();
    if let Some(object) = json.as_object_mut() {
        object.remove("onFailure");
    }
    let mapped = check_stored_depth(&json, "definition")
        .map_err(|fault| fault.to_string())
        .and_then(|()| json_to_message::<pb::Workflow>("weft.v1.Workflow", json));
    let mut message = match mapped {
        Ok(message) => message,
        Err(why) => {
            tracing::warn!(workflow_id = %workflow.id, version = workflow.version, error = %why,
                "a stored definition cannot be sent; answering without its steps");
            pb::Workflow {
                name: workflow.definition.name.clone(),
                description: format!("[definition omitted: {why}]"),
                ..Default::default()
            }
        }
    };
    message.id = workflow.id.clone();
    message.tags = workflow.tags.clone();
    message.status = status_to_pb(workflow.status) as i32;
    message.version = workflow.version;
    message.trigger_type = workflow.trigger_type.clone();
    message.change_summary = workflow.change_summary.clone();
    message.on_failure = failure_mode_to_pb(workflow.definition.on_failure.as_deref()) as i32;
    message.create_time = Some(timestamp(workflow.created_at_ms));
    message.update_time = Some(timestamp(workflow.updated_at_ms));
    message
}

/// A version history entry as `weft.v1.WorkflowVersion`.
pub fn version_to_pb(info: &WorkflowVersionInfo) -> pb::WorkflowVersion {
    pb::WorkflowVersion {
        version: info.version,
        change_summary: info.change_summary.clone(),
        create_time: Some(timestamp(info.created_at_ms)),
    }
}

/// A JSON Patch operation as `weft.v1.JsonPatchOperation`.
pub fn patch_operation_to_pb(operation: &json_patch::PatchOperation) -> pb::JsonPatchOperation {
    let json = serde_json::to_value(operation).expect("patch operations serialize");
    let text = |key: &str| json.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    pb::JsonPatchOperation {
        op: text("op"),
        path: text("path"),
        from: text("from"),
        value: json.get("value").map(value_to_pb),
    }
}

/// A JSON value as `google.protobuf.Value`.
pub fn value_to_pb(value: &Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => {
            Kind::ListValue(prost_types::ListValue { values: items.iter().map(value_to_pb).collect() })
        }
        Value::Object(map) => Kind::StructValue(prost_types::Struct {
            fields: map.iter().map(|(k, v)| (k.clone(), value_to_pb(v))).collect(),
        }),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stored(definition: Value) -> Workflow {
        Workflow {
            id: "wf_1".into(),
            tags: vec!["t".into()],
            status: WorkflowStatus::Active,
            trigger_type: "manual".into(),
            version: 2,
            latest_version: 2,
            change_summary: String::new(),
            definition: serde_json::from_value(definition).unwrap(),
            created_at_ms: 1,
            updated_at_ms: 2,
        }
    }

    /// A stored definition that no longer maps onto `weft.v1.Workflow` (a
    /// schema that is not an object, or one nested past what clients
    /// decode) is answered without its steps, never a panic.
    #[test]
    fn an_unmappable_stored_definition_is_answered_without_its_steps() {
        let mut deep = json!({});
        for _ in 0..80 {
            deep = json!({ "x": deep });
        }
        for definition in [json!({"name": "odd", "inputSchema": 5}), json!({"name": "odd", "inputSchema": deep})] {
            let message = workflow_to_pb(&stored(definition));
            assert!(message.description.starts_with("[definition omitted"), "{message:?}");
            assert_eq!((message.name.as_str(), message.id.as_str(), message.version), ("odd", "wf_1", 2));
            assert!(message.steps.is_empty());
        }
    }
}
