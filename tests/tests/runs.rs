//! RunService end to end over real sockets: runs of pure steps, conditions
//! and delays to completion; agent steps parked with a task in the outbox
//! and cancelled; idempotency; input schema checks (gRPC and REST 422);
//! refused requests that change nothing; a delay that survives a restart
//! and fires once; inputMap queries that select nothing; distinct run error
//! codes; and shared state that survives a restart.

use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::pb;
use weft_tests::runs::{get_run, json_of, start_request, step, wait_finished};
use weft_tests::scenario::Scenario;
use weft_tests::store::open_store;
use weft_tests::workflows::{create_json, create_pb};
use weft_tests::{TestServer, chain_workflow, http1};

fn branching_with_delay(delay_seconds: u32) -> Value {
    json!({
        "name": "score-router",
        "steps": [
            {"id": "check", "type": "condition", "expression": "$.input.score >= 70",
             "onTrue": {"next": "high"}, "onFalse": {"next": "low"}},
            {"id": "high", "type": "transform", "output": {"tier": "$.input.score"}},
            {"id": "low", "type": "transform", "output": {"tier": "$.input.score"}},
            {"id": "pause", "type": "delay", "duration": delay_seconds, "dependsOn": ["high"]},
            {"id": "done", "type": "transform", "dependsOn": ["pause"], "output": {"tier": "$.high.output.tier"}}
        ]
    })
}

#[tokio::test]
async fn transforms_condition_and_delay_run_to_completed() {
    let s = Scenario::with(branching_with_delay(1)).await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);

    let started =
        client.runs().start_run(start_request(workflow_id, &json!({"score": 82}))).await.unwrap().into_inner();
    let run = started.run.unwrap();
    assert_eq!(started.run_id, run.id);
    assert!(run.id.starts_with("wfrun_") && run.id.len() == 6 + 26, "{}", run.id);
    assert_eq!(run.status, pb::RunStatus::Running as i32, "waiting on the delay");
    assert_eq!(step(&run, "pause").status, pb::StepStatus::Waiting as i32);
    assert_eq!(run.workflow_version, 1);

    let run = wait_finished(client, &run.id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(step(&run, "check").status, pb::StepStatus::Completed as i32);
    assert_eq!(json_of(&step(&run, "check").output), json!({"result": true}));
    assert_eq!(json_of(&step(&run, "high").output), json!({"tier": 82}));
    assert_eq!(step(&run, "low").status, pb::StepStatus::Skipped as i32, "branch not taken");
    assert!(step(&run, "low").output.is_none());
    assert_eq!(step(&run, "pause").status, pb::StepStatus::Completed as i32);
    assert_eq!(json_of(&step(&run, "done").output), json!({"tier": 82}));
    assert_eq!(json_of(&run.output), json!({"done": {"tier": 82}}), "outputs of the leaves, skipped ones left out");
    assert!(run.complete_time.is_some() && run.start_time.is_some());
    let names: Vec<&str> = run.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(names, ["check", "high", "low", "pause", "done"], "definition order");

    let listed = client
        .runs()
        .list_runs(pb::ListRunsRequest { workflow_id: workflow_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total, 1);
    assert_eq!(listed.runs[0].id, run.id);

    // A finished run can be deleted; then it is gone.
    client.runs().delete_run(pb::DeleteRunRequest { run_id: run.id.clone() }).await.unwrap();
    let gone = client.runs().get_run(pb::GetRunRequest { run_id: run.id.clone() }).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

#[tokio::test]
async fn all_pure_run_is_completed_when_start_returns() {
    let s = Scenario::with(branching_with_delay(1)).await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);
    // Score below 70: "high" is skipped, so the delay and "done" are too.
    let run = client.runs().start_run(start_request(workflow_id, &json!({"score": 12}))).await.unwrap().into_inner();
    let run = run.run.unwrap();
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(step(&run, "pause").status, pb::StepStatus::Skipped as i32);
    assert_eq!(json_of(&step(&run, "low").output), json!({"tier": 12}));
}

#[tokio::test]
async fn agent_step_waits_with_a_task_and_cancel_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow = create_pb(&client, chain_workflow("agents", 2)).await;

    let run =
        client.runs().start_run(start_request(&workflow.id, &json!({"company": "Stripe"}))).await.unwrap().into_inner();
    let run = run.run.unwrap();
    assert_eq!(run.status, pb::RunStatus::Running as i32);
    // Its task is queued and no worker holds it: ready, no attempt started.
    assert_eq!(step(&run, "s0").status, pb::StepStatus::Ready as i32);
    assert_eq!(step(&run, "s0").attempts, 0);
    assert_eq!(step(&run, "s1").status, pb::StepStatus::Pending as i32);

    let opened = open_store(&server.database).await;
    let store = opened.shared();
    assert_eq!(store.count_tasks(&run.id).await.unwrap(), 1, "the task is in the outbox");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        get_run(&client, &run.id).await.status,
        pb::RunStatus::Running as i32,
        "no worker yet: it stays running"
    );

    let refused = client.runs().delete_run(pb::DeleteRunRequest { run_id: run.id.clone() }).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "a live run is not deleted");

    let cancelled = client
        .runs()
        .cancel_run(pb::CancelRunRequest { run_id: run.id.clone(), reason: "changed my mind".into() })
        .await
        .unwrap()
        .into_inner()
        .run
        .unwrap();
    assert_eq!(cancelled.status, pb::RunStatus::Cancelled as i32);
    assert_eq!(cancelled.cancel_reason, "changed my mind");
    assert_eq!(step(&cancelled, "s0").status, pb::StepStatus::Cancelled as i32);
    assert_eq!(store.count_tasks(&run.id).await.unwrap(), 0, "the task was withdrawn");

    let again = client
        .runs()
        .cancel_run(pb::CancelRunRequest { run_id: run.id.clone(), reason: "again".into() })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let after = get_run(&client, &run.id).await;
    assert_eq!(after.cancel_reason, "changed my mind", "a refused cancel changes nothing");
    opened.close().await;
}

#[tokio::test]
async fn idempotency_key_returns_the_same_run() {
    let s = Scenario::with(branching_with_delay(30)).await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);
    let mut request = start_request(workflow_id, &json!({"score": 90}));
    request.idempotency_key = "order-42".into();
    let first = client.runs().start_run(request.clone()).await.unwrap().into_inner();
    let second = client.runs().start_run(request.clone()).await.unwrap().into_inner();
    assert_eq!(first.run_id, second.run_id);
    assert_eq!(second.run.unwrap().idempotency_key, "order-42");
    let mut other = start_request(workflow_id, &json!({"score": 1}));
    other.idempotency_key = "order-42".into();
    let third = client.runs().start_run(other).await.unwrap().into_inner();
    assert_eq!(third.run_id, first.run_id, "the key wins whatever the other fields say");

    // Fifty concurrent starts with one new key create one run.
    request.idempotency_key = "order-43".into();
    let starts = (0..50).map(|_| {
        let client = client.clone();
        let request = request.clone();
        tokio::spawn(async move { client.runs().start_run(request).await.unwrap().into_inner().run_id })
    });
    let mut ids = Vec::new();
    for handle in starts {
        ids.push(handle.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");

    let listed = client
        .runs()
        .list_runs(pb::ListRunsRequest { workflow_id: workflow_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total, 2);
}

#[tokio::test]
async fn input_failing_the_schema_is_refused_over_grpc_and_rest() {
    let s = Scenario::with(json!({
        "name": "typed",
        "inputSchema": {"type": "object", "required": ["company"],
                        "properties": {"company": {"type": "string"}}},
        "steps": [{"id": "echo", "type": "transform", "output": {"c": "$.input.company"}}]
    }))
    .await;
    let (server, client, workflow_id) = (&s.server, &s.client, &s.workflow_id);

    let refused = client.runs().start_run(start_request(workflow_id, &json!({"company": 5}))).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let details = refused.get_error_details();
    assert_eq!(details.error_info().unwrap().reason, "INPUT_SCHEMA_VIOLATION");
    let violations = &details.bad_request().unwrap().field_violations;
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].field, "input.company");

    let (status, body) =
        http1::json(server.addr, "POST", &format!("/v1/workflows/{workflow_id}/runs"), Some(json!({"input": {}})))
            .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error_code"], "INPUT_SCHEMA_VIOLATION");

    let (status, body) = http1::json(
        server.addr,
        "POST",
        &format!("/v1/workflows/{workflow_id}/runs"),
        Some(json!({"input": {"company": "Stripe"}})),
    )
    .await;
    assert!(status == 200 || status == 201 || status == 202, "{status} {body}");
    assert_eq!(body["status"], "completed", "{body}");
    assert_eq!(body["output"], json!({"c": "Stripe"}));

    let listed = client
        .runs()
        .list_runs(pb::ListRunsRequest { workflow_id: workflow_id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total, 1, "refused starts stored nothing");
}

#[tokio::test]
async fn bad_requests_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let mut runs = client.runs();

    let code = |r: Result<tonic::Response<pb::StartRunResponse>, tonic::Status>| r.unwrap_err().code();
    assert_eq!(code(runs.start_run(start_request("", &json!({}))).await), Code::InvalidArgument);
    assert_eq!(code(runs.start_run(start_request("wf_nope", &json!({}))).await), Code::NotFound);
    let workflow_id = create_json(&server, branching_with_delay(1)).await;
    let mut twice = start_request(&workflow_id, &json!({"score": 1}));
    twice.variables = twice.input.clone();
    assert_eq!(code(runs.start_run(twice).await), Code::InvalidArgument, "input given twice");
    let mut pinned = start_request(&workflow_id, &json!({"score": 1}));
    pinned.version = 7;
    assert_eq!(code(runs.start_run(pinned).await), Code::NotFound, "no version 7");

    let (status, _) =
        http1::json(server.addr, "POST", &format!("/v1/workflows/{workflow_id}/pause"), Some(json!({}))).await;
    if status == 200 {
        let paused = runs.start_run(start_request(&workflow_id, &json!({"score": 1}))).await.unwrap_err();
        assert_eq!(paused.code(), Code::FailedPrecondition, "a paused workflow starts no runs");
    }

    let get_err = runs.get_run(pb::GetRunRequest { run_id: String::new() }).await.unwrap_err();
    assert_eq!(get_err.code(), Code::InvalidArgument);
    let get_err = runs.get_run(pb::GetRunRequest { run_id: "wfrun_nope".into() }).await.unwrap_err();
    assert_eq!(get_err.code(), Code::NotFound);
    assert_eq!(get_err.get_error_details().error_info().unwrap().reason, "RUN_NOT_FOUND");
    let cancel_err = runs.cancel_run(pb::CancelRunRequest { run_id: "wfrun_nope".into(), reason: String::new() }).await;
    assert_eq!(cancel_err.unwrap_err().code(), Code::NotFound);
    let cancel_err = runs.cancel_run(pb::CancelRunRequest { run_id: " ".into(), reason: String::new() }).await;
    assert_eq!(cancel_err.unwrap_err().code(), Code::InvalidArgument);
    let delete_err = runs.delete_run(pb::DeleteRunRequest { run_id: "wfrun_nope".into() }).await.unwrap_err();
    assert_eq!(delete_err.code(), Code::NotFound);
    let bad_token =
        runs.list_runs(pb::ListRunsRequest { page_token: "garbage".into(), ..Default::default() }).await.unwrap_err();
    assert_eq!(bad_token.code(), Code::InvalidArgument);

    let listed = runs.list_runs(pb::ListRunsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.total, 0, "nothing was started");
}

#[tokio::test]
async fn list_pages_newest_first_without_gaps() {
    let s = Scenario::with(branching_with_delay(1)).await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);
    let mut started = Vec::new();
    for i in 0..5 {
        let run = client.runs().start_run(start_request(workflow_id, &json!({"score": i}))).await.unwrap().into_inner();
        started.push(run.run_id);
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .runs()
            .list_runs(pb::ListRunsRequest { page_size: 2, page_token: token.clone(), ..Default::default() })
            .await
            .unwrap()
            .into_inner();
        seen.extend(page.runs.into_iter().map(|r| r.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    started.reverse();
    assert_eq!(seen, started, "newest first, each once");
}

#[tokio::test]
async fn a_delay_survives_a_restart_and_fires_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), weft_server::Config::default()).await;
    let workflow_id = create_json(&server, branching_with_delay(2)).await;
    let run_id = {
        let client = server.client().await;
        client.runs().start_run(start_request(&workflow_id, &json!({"score": 99}))).await.unwrap().into_inner().run_id
    };
    server.stop().await;

    let server = TestServer::start_on(database.clone(), weft_server::Config::default()).await;
    let client = server.client().await;
    let run = get_run(&client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Running as i32, "still waiting after the restart");
    assert_eq!(step(&run, "pause").status, pb::StepStatus::Waiting as i32);
    let run = wait_finished(&client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&run.output), json!({"done": {"tier": 99}}));

    // Give a duplicate firing the chance to happen, then count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let opened = open_store(&database).await;
    let store = opened.shared();
    let events = store.list_run_events("default", &run_id, 0, 1000).await.unwrap();
    let fired =
        events.iter().filter(|e| e.event_type == "step.completed" && e.step_id.as_deref() == Some("pause")).count();
    assert_eq!(fired, 1, "{events:?}");
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=events.len() as u64).collect::<Vec<_>>(), "no gap, no duplicate");
    assert!(store.list_timers().await.unwrap().is_empty(), "the timer row is spent");
    opened.close().await;
}

#[tokio::test]
async fn a_run_pinned_to_an_old_version_runs_that_version() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let version_of = |label: &str| json!({"name": "pinned", "steps": [{"id": "mark", "type": "transform", "output": {"label": label}}]});
    let workflow_id = create_json(&server, version_of("$.input.v1")).await;
    let (status, updated) = weft_tests::http1::json(
        server.addr,
        "PATCH",
        &format!("/v1/workflows/{workflow_id}"),
        Some(json!({"steps": version_of("$.input.v2")["steps"]})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);

    let input = json!({"v1": "from version 1", "v2": "from version 2"});
    let mut pinned = start_request(&workflow_id, &input.clone());
    pinned.version = 1;
    let old = client.runs().start_run(pinned).await.unwrap().into_inner().run.unwrap();
    let latest = client.runs().start_run(start_request(&workflow_id, &input)).await.unwrap().into_inner().run.unwrap();
    assert_eq!(old.workflow_version, 1);
    assert_eq!(latest.workflow_version, 2);
    let old = wait_finished(&client, &old.id, 10).await;
    let latest = wait_finished(&client, &latest.id, 10).await;
    assert_eq!(json_of(&step(&old, "mark").output)["label"], "from version 1");
    assert_eq!(json_of(&step(&latest, "mark").output)["label"], "from version 2");

    let mut missing = start_request(&workflow_id, &json!({}));
    missing.version = 9;
    let err = client.runs().start_run(missing).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn input_map_selecting_nothing_fails_the_step_with_input_map_empty() {
    let s = Scenario::with(json!({"name": "strict-input", "steps": [
        {"id": "pick", "type": "transform", "inputMap": {"email": "$.input.contact.email"},
         "output": {"name": "$.input.name"}},
        {"id": "after", "type": "transform", "dependsOn": ["pick"], "output": {"n": "$.pick.output.name"}}
    ]}))
    .await;
    let (client, workflow_id) = (&s.client, &s.workflow_id);
    let run = client.runs().start_run(start_request(workflow_id, &json!({"name": "Ada"}))).await.unwrap().into_inner();
    let run = run.run.unwrap();
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    let error = run.error.clone().expect("run error");
    assert_eq!(error.code, "INPUT_MAP_EMPTY");
    assert_eq!(error.step_id, "pick");
    let pick = step(&run, "pick");
    assert_eq!(pick.status, pb::StepStatus::Failed as i32);
    for part in ["'pick'", "'email'", "$.input.contact.email", "selected nothing"] {
        assert!(pick.error.contains(part), "{} names {part}", pick.error);
    }
    assert_eq!(step(&run, "after").status, pb::StepStatus::Cancelled as i32);
    let events = client
        .runs()
        .list_run_events(pb::ListRunEventsRequest { run_id: run.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .events;
    let failed = events.iter().find(|e| e.r#type == "step.failed").expect("step.failed");
    assert_eq!(failed.step_id, "pick");
    assert_eq!(failed.error, pick.error);
    let data = weft_server::api::convert_runs::struct_from_pb(failed.data.as_ref().unwrap());
    assert_eq!(data, json!({"code": "INPUT_MAP_EMPTY"}));

    // With the key present, the same workflow completes.
    let input = json!({"name": "Ada", "contact": {"email": "ada@example.com"}});
    let ok = client.runs().start_run(start_request(workflow_id, &input)).await.unwrap().into_inner().run.unwrap();
    assert_eq!(ok.status, pb::RunStatus::Completed as i32);
}

#[tokio::test]
async fn failed_runs_carry_distinct_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let schema = create_json(
        &server,
        json!({"name": "schema", "outputSchema": {"type": "object", "required": ["score"]},
               "steps": [{"id": "out", "type": "transform", "output": {"other": "$.input.x"}}]}),
    )
    .await;
    let run =
        client.runs().start_run(start_request(&schema, &json!({"x": 1}))).await.unwrap().into_inner().run.unwrap();
    let error = run.error.expect("failed");
    assert_eq!((error.code.as_str(), error.step_id.as_str()), ("OUTPUT_SCHEMA_VIOLATION", ""));

    let timed = create_json(
        &server,
        json!({"name": "timed", "timeout": 1, "steps": [{"id": "wait", "type": "delay", "duration": 30}]}),
    )
    .await;
    let run = client.runs().start_run(start_request(&timed, &json!({}))).await.unwrap().into_inner().run.unwrap();
    let run = wait_finished(&client, &run.id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    assert_eq!(run.error.as_ref().map(|e| e.code.as_str()), Some("RUN_TIMEOUT"));
    assert_eq!(step(&run, "wait").status, pb::StepStatus::Cancelled as i32);
    assert!(run.duration >= 1, "{run:?}");
}

#[tokio::test]
async fn shared_state_written_before_a_restart_is_read_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), weft_server::Config::default()).await;
    let workflow_id = create_json(
        &server,
        json!({"name": "stateful", "steps": [
            {"id": "writer", "type": "transform", "output": {"company": "$.input.company"}, "stateWrites": ["company"]},
            {"id": "pause", "type": "delay", "duration": 1, "dependsOn": ["writer"]},
            {"id": "reader", "type": "transform", "dependsOn": ["pause"], "stateReads": ["company", "campaign"],
             "output": {"company": "$.state.company", "campaign": "$.state.campaign"}}
        ]}),
    )
    .await;
    let mut request = start_request(&workflow_id, &json!({"company": "Acme"}));
    request.shared_state = match weft_server::api::convert::value_to_pb(&json!({"campaign": "q2"})).kind {
        Some(prost_types::value::Kind::StructValue(s)) => Some(s),
        _ => None,
    };
    let run_id = {
        let client = server.client().await;
        let run = client.runs().start_run(request).await.unwrap().into_inner().run.unwrap();
        let state = weft_server::api::convert_runs::struct_from_pb(run.shared_state.as_ref().unwrap());
        assert_eq!(state, json!({"campaign": "q2", "company": "Acme"}), "the write is in the state at once");
        run.id
    };
    server.stop().await;

    let server = TestServer::start_on(database, weft_server::Config::default()).await;
    let client = server.client().await;
    let run = wait_finished(&client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "reader").output), json!({"company": "Acme", "campaign": "q2"}));
    let state = weft_server::api::convert_runs::struct_from_pb(run.shared_state.as_ref().unwrap());
    assert_eq!(state, json!({"campaign": "q2", "company": "Acme"}));
}
