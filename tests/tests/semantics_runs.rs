//! Issue 18's run semantics end to end, on the suite's store (SQLite, or
//! Postgres with `WEFT_TEST_STORE=postgres`): workflow retries whatever
//! onFailure says, shared-state writers serialized in definition order
//! (and reported as a warning, not an error), empty transforms as join
//! points, a state machine's end states as steps, and a graph's response
//! returning what flows into it. Workflows are written over REST; runs are
//! driven and read over gRPC.

use serde_json::{Value, json};
use weft_sdk::pb;
use weft_tests::http1;
use weft_tests::runs::{get_run, json_of, step, trace, wait_finished};
use weft_tests::scenario::Scenario;
use weft_tests::workers::{complete, poll, poll_one, register};

/// Fails `task` under its lease, as a retryable error.
async fn fail_retryable(client: &weft_sdk::Weft, task: &pb::Task, error: &str) {
    let request = pb::FailTaskRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token,
        error: error.into(),
        retryable: true,
        ..Default::default()
    };
    client.workers().fail_task(request).await.expect("the failure is recorded");
}

#[tokio::test]
async fn workflow_retries_apply_without_on_failure_retry_then_on_failure_decides() {
    let definition = json!({"name": "flaky", "retries": 2, "onFailure": "continue", "steps": [
        {"id": "call", "agent": "flaky", "task": "call"},
    ]});
    let (s, run_id) = Scenario::agent_run(Default::default(), definition, "w1", &["flaky"], json!({})).await;
    for attempt in 1..=3 {
        let task = poll_one(&s.client, "w1").await;
        assert_eq!(task.attempt, attempt, "attempt {attempt} is offered");
        fail_retryable(&s.client, &task, &format!("boom {attempt}")).await;
    }
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(step(&run, "call").attempts, 3, "two retries, then onFailure: {run:?}");
    assert_eq!(run.status, pb::RunStatus::Partial as i32, "onFailure continue decides once retries are spent");
    let retries = trace(&s.client, &run_id).await.iter().filter(|t| *t == "step.retrying call").count();
    assert_eq!(retries, 2);
}

#[tokio::test]
async fn a_retried_step_can_still_succeed() {
    let definition = json!({"name": "flaky-once", "retries": 1, "steps": [{"id": "call", "agent": "a", "task": "t"}]});
    let (s, run_id) = Scenario::agent_run(Default::default(), definition, "w1", &["a"], json!({})).await;
    let first = poll_one(&s.client, "w1").await;
    fail_retryable(&s.client, &first, "transient").await;
    let second = poll_one(&s.client, "w1").await;
    assert_eq!(second.attempt, 2);
    complete(&s.client, &second, &json!({"ok": true})).await;
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "call").output), json!({"ok": true}));
}

fn two_writers() -> Value {
    json!({"name": "writers", "steps": [
        {"id": "gate", "agent": "a", "task": "g"},
        {"id": "first", "agent": "a", "task": "f", "dependsOn": ["gate"], "stateWrites": ["owner"]},
        {"id": "second", "agent": "a", "task": "s", "stateWrites": ["owner"]},
    ]})
}

#[tokio::test]
async fn unordered_writers_are_a_warning_and_run_in_definition_order() {
    let s = Scenario::with(two_writers()).await;
    let (status, body) =
        http1::json(s.server.addr, "POST", "/v1/workflows:validate", Some(json!({"workflow": two_writers()}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["valid"], json!(true), "a warning leaves the definition valid: {body}");
    assert_eq!(body["errors"].as_array().map(Vec::len).unwrap_or(0), 0, "{body}");
    let problems = body["problems"].as_array().expect("the warning is listed");
    assert_eq!(problems.len(), 1, "{body}");
    assert_eq!(problems[0]["code"], json!("CONFLICTING_STATE_WRITES"));
    assert_eq!(problems[0]["stepId"], json!("second"));
    assert!(problems[0]["message"].as_str().unwrap().contains("'second' will run after 'first'"), "{body}");

    register(&s.client, "w1", &["a"]).await;
    let run_id = s.start(json!({})).await;
    let gate = poll_one(&s.client, "w1").await;
    assert_eq!(gate.step_id, "gate");
    assert!(poll(&s.client, "w1", 1).await.is_none(), "'second' waits for 'first', which waits for 'gate'");
    complete(&s.client, &gate, &json!({})).await;
    let first = poll_one(&s.client, "w1").await;
    assert_eq!(first.step_id, "first");
    assert!(poll(&s.client, "w1", 1).await.is_none(), "never both in flight");
    complete(&s.client, &first, &json!({"owner": "first"})).await;
    let second = poll_one(&s.client, "w1").await;
    assert_eq!(second.step_id, "second");
    complete(&s.client, &second, &json!({"owner": "second"})).await;
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let state = weft_server::api::convert_runs::struct_from_pb(run.shared_state.as_ref().expect("shared state"));
    assert_eq!(state["owner"], json!("second"), "the later writer's value is the last");
}

#[tokio::test]
async fn an_empty_transform_joins_branches_and_yields_an_empty_object() {
    let definition = json!({"name": "join", "steps": [
        {"id": "left", "type": "transform", "output": {"side": "$.input.l"}},
        {"id": "right", "type": "transform", "output": {"side": "$.input.r"}},
        {"id": "join", "type": "transform", "output": {}, "dependsOn": ["left", "right"]},
        {"id": "bare", "type": "transform", "dependsOn": ["join"]},
    ]});
    let s = Scenario::with(definition).await;
    let run_id = s.start(json!({"l": 1, "r": 2})).await;
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "join").output), json!({}));
    assert_eq!(json_of(&step(&run, "bare").output), json!({}), "no output field at all means the same");
}

fn onboarding(end: Value) -> Value {
    json!({
        "name": "onboarding",
        "states": {
            "initial": {"type": "task", "task": "validate", "next": "createAccount"},
            "createAccount": {"type": "task", "task": "create", "next": "complete"},
            "complete": end
        },
        "functions": ["validate", "create"]
    })
}

#[tokio::test]
async fn a_state_machine_ends_with_its_succeed_state_as_a_step() {
    let (s, run_id) = Scenario::agent_run(
        Default::default(),
        onboarding(json!({"type": "succeed"})),
        "w1",
        &["validate", "create"],
        json!({"customer": "c-1"}),
    )
    .await;
    let task = poll_one(&s.client, "w1").await;
    assert_eq!(task.step_id, "initial");
    complete(&s.client, &task, &json!({"valid": true})).await;
    let task = poll_one(&s.client, "w1").await;
    assert_eq!(task.step_id, "createAccount");
    complete(&s.client, &task, &json!({"accountId": "acc-1"})).await;
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let ids: Vec<&str> = run.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["initial", "createAccount", "complete"], "step ids are state names, the final one included");
    assert_eq!(step(&run, "complete").status, pb::StepStatus::Completed as i32);
    assert_eq!(json_of(&run.output), json!({"accountId": "acc-1"}), "the output is the last task's");
}

#[tokio::test]
async fn a_fail_state_fails_the_run_with_state_failed() {
    let (s, run_id) = Scenario::agent_run(
        Default::default(),
        onboarding(json!({"type": "fail"})),
        "w1",
        &["validate", "create"],
        json!({}),
    )
    .await;
    for _ in 0..2 {
        let task = poll_one(&s.client, "w1").await;
        complete(&s.client, &task, &json!({})).await;
    }
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    let error = run.error.as_ref().expect("the run's error");
    assert_eq!(error.code, "STATE_FAILED");
    assert!(error.message.contains("fail state 'complete'"), "{error:?}");
    assert_eq!(step(&run, "complete").status, pb::StepStatus::Failed as i32);
    let run = get_run(&s.client, &run_id).await;
    assert_eq!(run.can_retry_from, "complete");
}

#[tokio::test]
async fn a_fail_state_carries_its_error_and_cause_into_the_run_error() {
    let end = json!({"type": "fail", "error": "AccountRefused", "cause": "the customer is on a deny list"});
    let (s, run_id) =
        Scenario::agent_run(Default::default(), onboarding(end), "w1", &["validate", "create"], json!({})).await;
    for _ in 0..2 {
        let task = poll_one(&s.client, "w1").await;
        complete(&s.client, &task, &json!({})).await;
    }
    let run = wait_finished(&s.client, &run_id, 10).await;
    let error = run.error.as_ref().expect("the run's error");
    assert_eq!(error.code, "STATE_FAILED");
    assert_eq!(error.message, "AccountRefused: the customer is on a deny list", "{error:?}");
    // Read back over gRPC, the state keeps both fields.
    let stored = s.client.workflows().get_workflow(pb::GetWorkflowRequest { id: s.workflow_id.clone() }).await;
    let states = stored.unwrap().into_inner().workflow.unwrap().states;
    assert_eq!(states["complete"].error, "AccountRefused");
    assert_eq!(states["complete"].cause, "the customer is on a deny list");
}

#[tokio::test]
async fn a_starter_to_response_graph_returns_the_response_input() {
    let direct = json!({
        "name": "echo",
        "blocks": [
            {"id": "start", "type": "starter", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "out", "type": "response", "config": {}, "position": {"x": 200, "y": 0}}
        ],
        "edges": [{"source": "start", "target": "out"}]
    });
    let s = Scenario::with(direct).await;
    let run_id = s.start(json!({"question": "why?"})).await;
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&run.output), json!({"question": "why?"}));
    assert_eq!(json_of(&step(&run, "out").output), json!({"question": "why?"}));

    let through = json!({
        "name": "ask",
        "blocks": [
            {"id": "start", "type": "starter"},
            {"id": "answer", "type": "agent_task", "config": {"agent_id": "oracle", "goal": "Answer"}},
            {"id": "out", "type": "response"}
        ],
        "edges": [{"source": "start", "target": "answer"}, {"source": "answer", "target": "out"}]
    });
    let (s, run_id) = Scenario::agent_run(Default::default(), through, "w1", &["oracle"], json!({"q": 1})).await;
    let task = poll_one(&s.client, "w1").await;
    complete(&s.client, &task, &json!({"answer": 42})).await;
    let run = wait_finished(&s.client, &run_id, 10).await;
    assert_eq!(json_of(&run.output), json!({"answer": 42}), "the response block's input is the result");
}
