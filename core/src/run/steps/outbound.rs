//! Webhook, http_request and script steps, which the server runs itself:
//! their task, claimed by the built-in executor under a reserved agent
//! name ([`StepKind::builtin_agent`]), carries the whole request or
//! program, rendered when the attempt is dispatched, so the executor
//! needs nothing but the task row (steps spliced by a planner included)
//! and every attempt sends what the state said then. A webhook that waits
//! for its callback shows as waiting from the start.
//!
//! Pure: the spec is a function of the step and the run state document.

use serde_json::{Map, Value, json};

use crate::compile::{CompiledKind, CompiledStep, Request};
use crate::run::instance::Instance;
use crate::run::status::StepStatus;
use crate::run::steps::TaskParts;
use crate::run::tx::Tx;

impl Tx<'_> {
    /// A webhook starts. One that waits for its callback shows as waiting
    /// from the start: its outcome comes from outside, not from its task.
    pub(super) fn start_webhook(&mut self, inst: Instance, wait_for_callback: bool) {
        if wait_for_callback {
            self.begin(inst, StepStatus::Waiting);
            self.dispatch(inst);
        } else {
            self.start_task(inst);
        }
    }

    /// The task of a built-in step: the reserved agent name, and as the
    /// task's text the JSON spec: the request (its URL's and an
    /// http_request `body`'s `{{ }}` placeholders rendered) or program, and the step's
    /// `timeout` in ms. The server enforces that timeout itself, so the
    /// task has no claim timeout.
    pub(super) fn outbound_task(&mut self, inst: Instance, step: &CompiledStep) -> TaskParts {
        let mut spec = Map::new();
        let request = |spec: &mut Map<String, Value>, r: &Request| {
            spec.insert("url".into(), json!(r.url));
            spec.insert("method".into(), json!(r.method));
            spec.insert("headers".into(), json!(r.headers));
        };
        let body = match step.data() {
            CompiledKind::Webhook { request: r, wait_for_callback } => {
                request(&mut spec, r);
                if *wait_for_callback {
                    spec.insert("waitForCallback".into(), json!(true));
                }
                r.body.clone()
            }
            CompiledKind::HttpRequest { request: r } => {
                request(&mut spec, r);
                r.body.clone()
            }
            CompiledKind::Script { language, script } => {
                spec.insert("language".into(), json!(language));
                spec.insert("script".into(), json!(script));
                None
            }
            CompiledKind::Agent { .. }
            | CompiledKind::Planner { .. }
            | CompiledKind::Parallel
            | CompiledKind::Condition
            | CompiledKind::Delay { .. }
            | CompiledKind::Approval { .. }
            | CompiledKind::Transform { .. }
            | CompiledKind::Map { .. }
            | CompiledKind::Loop { .. }
            | CompiledKind::Wait { .. } => None,
        };
        if let Some(url) = step.url_template() {
            let rendered = self.with_item(inst, |doc| url.render(doc));
            spec.insert("url".into(), json!(rendered));
        }
        if let Some(mut body) = body {
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
        TaskParts {
            task: Some(Value::Object(spec).to_string()),
            agent: step.kind().builtin_agent().map(str::to_owned),
            timeout_ms: None,
        }
    }
}
