//! Realistic definitions in every shape the server accepts, written for the
//! fuzzer: the native step list (every step type, nesting, config objects
//! and type aliases), the `states` state machine and the `blocks` + `edges`
//! graph. Structure-aware mutation starts from one of these, so most inputs
//! get past deserialization and reach the checks, the DAG and the dialects.

use serde_json::{Value, json};

/// Every seed definition.
pub fn all() -> Vec<Value> {
    vec![
        weft_core::fixtures::lead_pipeline(),
        every_step_type(),
        config_objects(),
        nested_iteration(),
        state_machine(),
        graph(),
    ]
}

/// One step of each type, wired in a chain with branches.
fn every_step_type() -> Value {
    json!({
        "name": "all-types",
        "inputSchema": {"type": "object", "properties": {"orders": {"type": "array", "items": {"type": "integer"}}}},
        "outputSchema": {"type": "object"},
        "onFailure": "retry", "retries": 2, "timeout": 600,
        "policy": {"allowTools": ["http_get"], "maxTotalCost": {"amount": 50, "currency": "eur"}},
        "steps": [
            {"id": "fetch", "type": "http_request", "method": "POST", "url": "https://api.example.org/orders",
             "headers": {"accept": "application/json"}, "body": {"since": "{{ input.since }}"}, "timeout": "30s"},
            {"id": "ping", "type": "webhook", "url": "https://hooks.example.org/x", "method": "POST",
             "waitForCallback": true, "dependsOn": ["fetch"]},
            {"id": "pause", "type": "delay", "duration": 5, "dependsOn": ["ping"]},
            {"id": "total", "type": "script", "language": "python", "script": "print(1)",
             "dependsOn": ["pause"], "stateWrites": ["total"]},
            {"id": "check", "type": "condition", "expression": "$.total.output.sum > 100 && $.input.vip == true",
             "dependsOn": ["total"], "onTrue": {"next": "signoff"}, "onFalse": {"next": "notify"}},
            {"id": "signoff", "type": "approval", "action": "ship", "message": "Ship {{ input.orders }}?",
             "options": ["approve", "deny"], "defaultAction": "deny", "timeout": "2h"},
            {"id": "notify", "type": "agent", "agent": "mailer", "task": "Tell {{ input.owner }}",
             "stateReads": ["total"], "onStepFailure": {"action": "continue"}},
            {"id": "arrival", "type": "wait", "event": "order.paid", "timeout": "1d",
             "dependsOn": ["signoff"], "onTimeout": {"next": "notify"}},
            {"id": "plan", "type": "planner", "agent": "planner", "task": "Plan the follow-up",
             "dependsOn": ["arrival"]},
            {"id": "shape", "type": "transform", "dependsOn": ["plan"],
             "output": {"first": "$.input.orders[0]", "all": "$..orders[*]", "cheap": "$.input.orders[?@ < 10]"}}
        ]
    })
}

/// The `config` object form with type aliases and snake_case keys.
fn config_objects() -> Value {
    json!({
        "name": "config-form",
        "steps": [
            {"id": "get", "type": "http_request", "config": {"method": "GET", "url": "https://e.example/data"}},
            {"id": "sum", "type": "agent_task", "config": {"agent_id": "summarizer", "goal": "Summarize",
             "depends_on": ["get"]}},
            {"id": "each", "type": "map", "over": "$.get.output.rows", "config": {"as": "row", "concurrency": 2,
             "step": {"id": "one", "type": "agent_task", "config": {"agent": "s", "task": "{{ row.name }}"}}}}
        ]
    })
}

/// Parallel, loop and map nested inside each other.
fn nested_iteration() -> Value {
    json!({
        "steps": [
            {"id": "outer", "type": "parallel", "steps": [
                {"id": "poll", "type": "loop", "maxIterations": 5, "until": "$.probe.output.done == true",
                 "steps": [{"id": "probe", "type": "agent", "agent": "prober", "task": "probe"}]},
                {"id": "fan", "type": "map", "over": "$.input.items", "as": "item", "concurrency": 4,
                 "step": {"id": "inner", "type": "parallel", "steps": [
                    {"id": "left", "type": "agent", "agent": "l", "task": "{{ item.a }}"},
                    {"id": "right", "type": "transform", "output": {"v": "$.item.b"}}]}}
            ]},
            {"id": "again", "type": "loop", "over": "$.input.pages", "as": "page",
             "dependsOn": ["outer"], "step": {"id": "read", "type": "agent", "agent": "reader", "task": "{{ page }}"}},
            {"id": "drain", "type": "loop", "while": "length($.input.pages) > 0", "maxIterations": 3,
             "dependsOn": ["again"], "steps": [{"id": "take", "type": "agent", "agent": "t", "task": "next"}]}
        ]
    })
}

/// The state-machine dialect.
fn state_machine() -> Value {
    json!({
        "name": "onboarding",
        "states": {
            "start": {"type": "task", "task": "check", "next": "create"},
            "create": {"type": "task", "task": "open", "next": "mail"},
            "mail": {"type": "task", "task": "send", "next": "done"},
            "done": {"type": "succeed"},
            "broken": {"type": "fail"}
        },
        "functions": ["check", "open", "send"]
    })
}

/// The graph dialect.
fn graph() -> Value {
    json!({
        "name": "graph",
        "blocks": [
            {"id": "start", "type": "starter", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "ask", "type": "agent", "config": {"agent": "helper", "task": "Answer {{ input.q }}"},
             "position": {"x": 150, "y": 0}},
            {"id": "call", "type": "http_request", "config": {"url": "https://e.example", "method": "GET"}},
            {"id": "out", "type": "response", "config": {}, "position": {"x": 300, "y": 0}}
        ],
        "edges": [
            {"source": "start", "target": "ask"},
            {"source": "ask", "target": "call"},
            {"source": "call", "target": "out"}
        ]
    })
}
