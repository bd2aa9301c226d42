//! What the services' request checks enforce, stated as JSON Schema for
//! `/openapi.json`: required fields, length and count bounds, id and code
//! patterns, fields that exclude one another. The descriptors say only what
//! a field's type is; these rules say what the handlers in `crate::api`
//! refuse, so that a request valid by the document is not refused as
//! malformed and one invalid by it is.
//!
//! Keyed by message full name and proto field name. The schemathesis test
//! (tests/tests/openapi_schemathesis.rs) checks both directions against the
//! live server, so a check added to a handler without its rule here (or the
//! other way round) fails it.

use serde_json::{Value, json};

/// Longest resource id (`request_checks::required_id`).
const MAX_ID_BYTES: u64 = 128;
/// Longest user id, idempotency key, cancel or pause reason, step label
/// (`api::runs`).
const MAX_LABEL_CHARS: u64 = 256;
/// Longest settle wait of StartRun and ResumeRun, ms (`api::runs`).
const MAX_SETTLE_WAIT_MS: u64 = 10_000;
/// Longest run trigger label (`api::runs`).
const MAX_TRIGGER_CHARS: u64 = 64;
/// Longest agent or tool name, most agents per worker, longest worker name
/// and error text, most concurrency (`api::workers`).
const MAX_AGENT_CHARS: u64 = 128;
const MAX_AGENTS: u64 = 100;
const MAX_WORKER_NAME_CHARS: u64 = 200;
const MAX_ERROR_CHARS: u64 = 8192;
const MAX_CONCURRENCY: u64 = 10_000;

/// Longest workflow name (`engine::workflows::MAX_NAME_CHARS`).
const MAX_WORKFLOW_NAME_CHARS: usize = crate::engine::workflows::MAX_NAME_CHARS;
/// Template labels (`engine::templates`): name, description, category
/// and tag lengths, most tags.
const MAX_TEMPLATE_NAME_CHARS: u64 = 200;
const MAX_TEMPLATE_DESCRIPTION_CHARS: u64 = 10_000;
const MAX_TEMPLATE_LABEL_CHARS: u64 = 64;
const MAX_TEMPLATE_TAGS: u64 = 50;

/// No control character (what Rust's `char::is_control` finds: Cc).
const NO_CONTROL: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// Ids the server issues, and the worker ids clients may choose:
/// `wf_01jd…`, `wfrun_01jd…`, `task_01jd…`.
pub(super) const ID_PATTERN: &str = "^[A-Za-z0-9_.-]+$";

/// At least one character that is not Unicode White_Space (what Rust's
/// `str::trim` removes), spelled out because `\s` differs between regex
/// dialects.
const NOT_BLANK: &str =
    "[^\\u0009-\\u000d\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";

/// The schema of a server-issued id in a path or a field.
pub(super) fn id_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": MAX_ID_BYTES, "pattern": ID_PATTERN})
}

fn max_chars(n: u64) -> Value {
    json!({"maxLength": n})
}

fn not_blank(max: u64) -> Value {
    json!({"minLength": 1, "maxLength": max, "pattern": NOT_BLANK})
}

/// A Money a worker reports: not negative, in dollars (cents).
fn worker_money() -> Value {
    json!({
        "properties": {
            "amount": {"minimum": 0},
            "currency": {"pattern": "^([uU][sS][dD])?$", "description": "`usd` (any case) or empty."},
        },
    })
}

/// Extra keywords for field `field` of message `message`, merged into the
/// field's schema (beside a `$ref` through `allOf`).
pub(super) fn field_rule(message: &str, field: &str) -> Option<Value> {
    let rule = match (message.strip_prefix("weft.v1.")?, field) {
        // Versions start at 1.
        ("GetWorkflowVersionRequest" | "RollbackWorkflowRequest", "version")
        | ("DiffWorkflowVersionsRequest", "v1" | "v2") => json!({"minimum": 1}),
        (
            "StartRunRequest" | "ExecuteWorkflowRequest" | "ExecuteWorkflowStreamRequest",
            "user_id" | "idempotency_key",
        )
        | ("CancelRunRequest" | "PauseRunRequest", "reason")
        | ("ResumeRunRequest", "from_step")
        | ("RetryRunFromRequest", "step_id") => max_chars(MAX_LABEL_CHARS),
        (
            "StartRunRequest" | "ExecuteWorkflowRequest" | "ExecuteWorkflowStreamRequest" | "ListRunsRequest",
            "trigger",
        ) => max_chars(MAX_TRIGGER_CHARS),
        ("ListRunsRequest", "schedule_id") => max_chars(MAX_ID_BYTES),
        // Schedules (`engine::schedules`); whether an expression parses and
        // a zone exists is beyond a schema.
        ("Schedule", "cron_expression") => max_chars(256),
        ("Schedule", "timezone") => max_chars(64),
        ("Schedule", "user_id") => max_chars(MAX_LABEL_CHARS),
        ("GetScheduleRequest", "next_fire_count") => json!({"maximum": 100}),
        ("ResumeTarget", "step") => id_schema(),
        // StartRun's wait for the run to settle (`api::runs`).
        ("StartRunRequest" | "ResumeRunRequest", "settle_wait_ms") => json!({"maximum": MAX_SETTLE_WAIT_MS}),
        // ListWorkflows' order (`api::list_order`).
        ("ListWorkflowsRequest", "sort") => {
            json!({"enum": ["", "createdAt", "created_at", "updatedAt", "updated_at", "name"]})
        }
        ("ListWorkflowsRequest", "order") => json!({"pattern": "^([aA][sS][cC]|[dD][eE][sS][cC])?$"}),
        // Workers.
        ("RegisterWorkerRequest", "worker_id") => json!({"maxLength": MAX_ID_BYTES, "pattern": "^[A-Za-z0-9_.-]*$"}),
        ("RegisterWorkerRequest", "name") => max_chars(MAX_WORKER_NAME_CHARS),
        ("RegisterWorkerRequest", "concurrency") => json!({"maximum": MAX_CONCURRENCY}),
        ("RegisterWorkerRequest", "agents") => {
            let mut agent = not_blank(MAX_AGENT_CHARS);
            agent["not"] = json!({"pattern": "^weft:", "description": "reserved for built-in executors"});
            json!({"minItems": 1, "maxItems": MAX_AGENTS, "items": agent})
        }
        ("HeartbeatRequest" | "CompleteTaskRequest" | "FailTaskRequest" | "CheckToolUseRequest", "lease_token") => {
            json!({"minimum": 1})
        }
        ("HeartbeatRequest", "cost_so_far") | ("CompleteTaskRequest" | "FailTaskRequest", "cost") => worker_money(),
        ("AgentCostHint", "min_cost" | "max_cost") => worker_money(),
        ("FailTaskRequest", "error") => not_blank(MAX_ERROR_CHARS),
        ("FailTaskRequest", "error_code") => json!({"maxLength": 64, "pattern": "^[A-Z0-9_]*$"}),
        ("CheckToolUseRequest", "tool") => not_blank(MAX_AGENT_CHARS),
        ("CheckToolUseRequest", "approval_id") => json!({"maxLength": MAX_ID_BYTES, "pattern": "^[A-Za-z0-9_.-]*$"}),
        // Templates (`engine::templates`).
        ("ListTemplatesRequest", "category") => json!({"maxLength": MAX_TEMPLATE_LABEL_CHARS, "pattern": NO_CONTROL}),
        ("ListTemplatesRequest", "tag") => max_chars(MAX_TEMPLATE_LABEL_CHARS),
        ("InstallTemplateRequest", "name") => json!({"maxLength": MAX_TEMPLATE_NAME_CHARS, "pattern": NO_CONTROL}),
        ("InstallTemplateRequest", "tags") => template_tags(),
        ("CreateTemplateRequest", "workflow_id") => max_chars(MAX_ID_BYTES),
        _ => return None,
    };
    Some(rule)
}

/// Tags of a template or of a workflow installed from one.
fn template_tags() -> Value {
    json!({"maxItems": MAX_TEMPLATE_TAGS, "items": {"minLength": 1, "maxLength": MAX_TEMPLATE_LABEL_CHARS}})
}

/// Fields (proto names) a message must carry.
pub(super) fn required_fields(message: &str) -> &'static [&'static str] {
    match message.strip_prefix("weft.v1.").unwrap_or_default() {
        "SetWorkflowStatusRequest" => &["status"],
        "RollbackWorkflowRequest" => &["version"],
        "DiffWorkflowVersionsRequest" => &["v1", "v2"],
        "ResumeTarget" => &["step", "input"],
        "RegisterWorkerRequest" => &["agents"],
        "HeartbeatRequest" | "CompleteTaskRequest" => &["lease_token"],
        "FailTaskRequest" => &["lease_token", "error"],
        "CheckToolUseRequest" => &["lease_token", "tool"],
        _ => &[],
    }
}

/// Keywords on a whole message: fields that exclude one another.
pub(super) fn message_rule(message: &str) -> Option<Value> {
    let one_of_each = |pairs: &[(&str, &str)]| {
        let any: Vec<Value> = pairs.iter().map(|(a, b)| json!({"required": [a, b]})).collect();
        json!({"not": {"anyOf": any}})
    };
    match message.strip_prefix("weft.v1.")? {
        // The input comes once: `input`, `inputData` or `variables`.
        "StartRunRequest" | "ExecuteWorkflowRequest" | "ExecuteWorkflowStreamRequest" => {
            Some(one_of_each(&[("input", "inputData"), ("input", "variables"), ("inputData", "variables")]))
        }
        // At most one way to resume: a non-empty `event`, an answer
        // (`input.resume`) or a non-empty `fromStep`.
        "ResumeRunRequest" => {
            let event = json!({"required": ["event"], "properties": {"event": {"minLength": 1}}});
            let answer =
                json!({"required": ["input"], "properties": {"input": {"type": "object", "required": ["resume"]}}});
            let from_step = json!({"required": ["fromStep"], "properties": {"fromStep": {"minLength": 1}}});
            let both = |a: &Value, b: &Value| json!({"allOf": [a, b]});
            Some(
                json!({"not": {"anyOf": [both(&event, &answer), both(&event, &from_step), both(&answer, &from_step)]}}),
            )
        }
        // At least one of definition and workflow (definition wins).
        "ValidateWorkflowRequest" => {
            let given = |key: &str| json!({"required": [key], "properties": {key: {"type": "object"}}});
            Some(json!({"anyOf": [given("definition"), given("workflow")]}))
        }
        // Apply finds its workflow by name, so the workflow and its name
        // (1-200 characters, as names are) are required; the steps are, as
        // on create (`body_rule`).
        "ApplyWorkflowRequest" => Some(json!({
            "required": ["workflow"],
            "properties": {"workflow": {
                "type": "object",
                "required": ["name", "steps"],
                "properties": {
                    "name": {"minLength": 1, "maxLength": MAX_WORKFLOW_NAME_CHARS, "pattern": NOT_BLANK},
                    "steps": {"minItems": 1},
                },
            }},
        })),
        _ => None,
    }
}

/// Keywords for the body of `rpc` beyond its message's: what a create
/// needs that an update (same message) does not.
pub(super) fn body_rule(rpc: &str) -> Option<Value> {
    match rpc {
        "CreateWorkflow" => Some(json!({
            "required": ["name", "steps"],
            "properties": {"name": {"minLength": 1, "pattern": NOT_BLANK}, "steps": {"minItems": 1}},
        })),
        // The template's labels; its definition is checked like a workflow's.
        "CreateTemplate" => Some(json!({
            "required": ["name"],
            "properties": {
                "name": {"minLength": 1, "maxLength": MAX_TEMPLATE_NAME_CHARS,
                         "allOf": [{"pattern": NOT_BLANK}, {"pattern": NO_CONTROL}]},
                "description": {"maxLength": MAX_TEMPLATE_DESCRIPTION_CHARS},
                "category": {"maxLength": MAX_TEMPLATE_LABEL_CHARS, "pattern": NO_CONTROL},
                "tags": template_tags(),
            },
        })),
        _ => None,
    }
}
