//! What a webhook, http_request or script task carries: the whole request
//! or program, rendered when the attempt is dispatched, so the built-in
//! executor needs nothing but the task row (steps spliced by a planner
//! included) and every attempt of a step sends what the state said then.
//! Pure: the spec is a function of the step and the run state document.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::instance::Instance;
use super::transition::Tx;
use crate::engine::compile::StepKind;

/// Agent names the built-in executor claims tasks under. Workers cannot
/// register a name starting with `weft:`, and are never handed these kinds.
pub const BUILTIN_PREFIX: &str = "weft:";

/// The reserved agent name of a kind the server runs itself.
pub fn builtin_agent(kind: StepKind) -> Option<&'static str> {
    match kind {
        StepKind::Webhook => Some("weft:webhook"),
        StepKind::HttpRequest => Some("weft:http_request"),
        StepKind::Script => Some("weft:script"),
        _ => None,
    }
}

impl Tx<'_> {
    /// The JSON spec of a built-in task (as the task's text): the step's
    /// request or program fields, an http_request `body` with its `{{ }}`
    /// placeholders rendered, and the step's `timeout` in ms.
    pub(super) fn builtin_spec(&mut self, inst: Instance) -> String {
        let wf = Arc::clone(&self.wf);
        let (Some(step), Some(def)) = (wf.step(inst.node), wf.step_def(inst.node)) else { return "{}".into() };
        let mut spec = Map::new();
        match step.kind() {
            StepKind::Webhook | StepKind::HttpRequest => {
                spec.insert("url".into(), json!(def.url));
                spec.insert("method".into(), json!(def.method.to_ascii_uppercase()));
                spec.insert("headers".into(), json!(def.headers));
                if def.wait_for_callback {
                    spec.insert("waitForCallback".into(), json!(true));
                }
            }
            StepKind::Script => {
                spec.insert("language".into(), json!(def.language));
                spec.insert("script".into(), json!(def.script));
            }
            _ => {}
        }
        if let Some(mut body) = def.body.clone() {
            self.with_item(inst, |doc| {
                for (pointer, template) in step.body_templates() {
                    if let Some(slot) = body.pointer_mut(pointer) {
                        *slot = Value::String(template.render(doc));
                    }
                }
            });
            spec.insert("body".into(), body);
        }
        if let Some(timeout) = step.timeout() {
            spec.insert("timeoutMs".into(), json!(timeout.as_millis() as u64));
        }
        Value::Object(spec).to_string()
    }
}
