//! Webhook, http_request and script steps in the pure core: each becomes a
//! task under its reserved agent, carrying its whole request or program
//! (an http_request body rendered from the run, map items included); a
//! webhook waiting for its callback is Waiting yet takes its outcome like
//! external work; cancelling withdraws its task; a retry dispatches the
//! same spec again.

use serde_json::json;

use super::*;

fn spec(h: &Harness, key: &str) -> Value {
    serde_json::from_str(h.task(key).task.as_deref().expect("a spec")).expect("the spec is JSON")
}

#[test]
fn builtin_steps_become_tasks_of_reserved_agents_carrying_their_spec() {
    let h = Harness::started(
        json!({"steps": [
            {"id": "hook", "type": "webhook", "url": "https://hooks.example.com/x", "method": "put",
             "headers": {"X-A": "1"}, "inputMap": {"lead": "$.input.lead"}, "timeout": "30s"},
            {"id": "get", "type": "http_request", "url": "https://api.example.com/leads",
             "body": {"name": "{{ input.lead }}", "n": 2}},
            {"id": "run", "type": "script", "language": "python", "script": "print(1)"},
        ]}),
        json!({"lead": "Acme"}),
    );
    let agents: Vec<_> = ["hook", "get", "run"].iter().map(|k| h.task(k).agent.clone().unwrap()).collect();
    assert_eq!(agents, ["weft:webhook", "weft:http_request", "weft:script"]);
    assert_eq!(h.task("hook").input, json!({"lead": "Acme"}));
    assert_eq!(
        spec(&h, "hook"),
        json!({"url": "https://hooks.example.com/x", "method": "PUT", "headers": {"X-A": "1"}, "timeoutMs": 30000})
    );
    assert_eq!(spec(&h, "get")["body"], json!({"name": "Acme", "n": 2}));
    assert_eq!(spec(&h, "run"), json!({"language": "python", "script": "print(1)"}));
    assert_eq!(h.status("hook"), StepStatus::Running);
}

#[test]
fn an_http_request_inside_a_map_renders_its_body_per_item() {
    let h = Harness::started(
        json!({"steps": [{"id": "each", "type": "map", "over": "$.input.leads", "as": "lead", "concurrency": 2,
            "step": {"id": "post", "type": "http_request", "method": "POST", "url": "https://api.example.com",
                     "body": {"name": "{{ lead.name }}"}}}]}),
        json!({"leads": [{"name": "a"}, {"name": "b"}]}),
    );
    assert_eq!(spec(&h, "post[0]")["body"], json!({"name": "a"}));
    assert_eq!(spec(&h, "post[1]")["body"], json!({"name": "b"}));
}

#[test]
fn a_webhook_awaiting_its_callback_waits_and_completes_with_the_callback() {
    let mut h = Harness::started(
        json!({"steps": [
            {"id": "hook", "type": "webhook", "url": "https://hooks.example.com/x", "waitForCallback": true},
            {"id": "after", "type": "transform", "dependsOn": ["hook"], "output": {"s": "$.hook.output.score"}},
        ]}),
        json!({}),
    );
    assert_eq!(h.status("hook"), StepStatus::Waiting);
    assert_eq!(spec(&h, "hook")["waitForCallback"], json!(true));
    h.succeed("hook", json!({"score": 7}));
    assert_eq!(h.output("after"), Some(json!({"s": 7})));
    assert_eq!(h.run.status(), RunStatus::Completed);
}

#[test]
fn a_failed_webhook_attempt_is_dispatched_again_with_the_same_spec() {
    let mut h = Harness::started(
        json!({"steps": [{"id": "hook", "type": "webhook", "url": "https://h.example.com", "retries": 1,
                          "waitForCallback": true}]}),
        json!({}),
    );
    let first = spec(&h, "hook");
    h.fail("hook", "no callback arrived within 1s", true);
    assert_eq!(h.task("hook").attempt, 2);
    assert_eq!(spec(&h, "hook"), first);
    h.fail("hook", "no callback arrived within 1s", true);
    assert_eq!(h.status("hook"), StepStatus::Failed);
}

#[test]
fn cancelling_a_run_withdraws_a_waiting_webhooks_task() {
    let mut h = Harness::started(
        json!({"steps": [{"id": "hook", "type": "webhook", "url": "https://h.example.com", "waitForCallback": true}]}),
        json!({}),
    );
    let now_ms = h.now_ms + 1;
    h.apply(Command::Cancel { reason: "stop".into(), now_ms }).unwrap();
    assert!(h.tasks.is_empty(), "the task was withdrawn");
    assert_eq!(h.status("hook"), StepStatus::Cancelled);
}

#[test]
fn a_templated_url_is_rendered_from_the_run_and_per_map_item() {
    let h = Harness::started(
        json!({"steps": [
            {"id": "fetch", "type": "http_request", "url": "{{ input.url }}"},
            {"id": "hook", "type": "webhook", "method": "POST", "url": "https://hooks.example.com/{{ input.id }}/x"},
            {"id": "each", "type": "map", "over": "$.input.pages", "as": "page", "concurrency": 2,
             "step": {"id": "get-page", "type": "http_request", "url": "https://api.example.com/p/{{ page }}"}},
        ]}),
        json!({"url": "http://127.0.0.1:9/status", "id": 42, "pages": ["a", "b"]}),
    );
    assert_eq!(spec(&h, "fetch")["url"], json!("http://127.0.0.1:9/status"));
    assert_eq!(spec(&h, "hook")["url"], json!("https://hooks.example.com/42/x"), "a number renders as JSON text");
    assert_eq!(spec(&h, "get-page[0]")["url"], json!("https://api.example.com/p/a"));
    assert_eq!(spec(&h, "get-page[1]")["url"], json!("https://api.example.com/p/b"));
}
