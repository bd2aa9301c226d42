//! WorkflowService end to end: CRUD, versions, diff, rollback, listing,
//! validation, concurrency and durability, through a tonic client over a
//! real socket.

use std::collections::BTreeSet;

use prost_types::FieldMask;
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::pb;
use weft_tests::{TestServer, chain_workflow};

fn create(workflow: pb::Workflow) -> pb::CreateWorkflowRequest {
    pb::CreateWorkflowRequest { workflow: Some(workflow), request_id: String::new() }
}

async fn create_ok(client: &weft_sdk::Weft, workflow: pb::Workflow) -> pb::Workflow {
    client.workflows().create_workflow(create(workflow)).await.expect("create").into_inner().workflow.unwrap()
}

#[tokio::test]
async fn create_get_update_delete_round_trip_with_versions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let mut workflows = client.workflows();

    let created = workflows.create_workflow(create(chain_workflow("lead-enrichment", 2))).await.unwrap().into_inner();
    let wf = created.workflow.unwrap();
    assert_eq!(created.id, wf.id);
    assert!(wf.id.starts_with("wf_") && wf.id.len() == 29, "id {}", wf.id);
    assert_eq!(wf.version, 1);
    assert_eq!(wf.status, pb::WorkflowStatus::Active as i32);
    assert_eq!(wf.change_summary, "Initial version");
    assert_eq!(wf.steps.len(), 2);
    assert_eq!(wf.steps[1].depends_on, vec!["s0"]);

    let fetched = workflows
        .get_workflow(pb::GetWorkflowRequest { id: wf.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .workflow
        .unwrap();
    assert_eq!(fetched, wf);

    // A rename alone keeps the steps and bumps the version by one.
    let renamed = workflows
        .update_workflow(pb::UpdateWorkflowRequest {
            workflow: Some(pb::Workflow {
                id: wf.id.clone(),
                name: "lead-enrichment-v2".into(),
                change_summary: "Renamed".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .workflow
        .unwrap();
    assert_eq!(renamed.version, 2);
    assert_eq!(renamed.name, "lead-enrichment-v2");
    assert_eq!(renamed.steps, wf.steps);

    // New steps replace the old list entirely.
    let resteps = chain_workflow("ignored", 3);
    let v3 = workflows
        .update_workflow(pb::UpdateWorkflowRequest {
            workflow: Some(pb::Workflow { id: wf.id.clone(), steps: resteps.steps.clone(), ..Default::default() }),
            update_mask: Some(FieldMask { paths: vec!["steps".into()] }),
            expected_version: 2,
        })
        .await
        .unwrap()
        .into_inner()
        .workflow
        .unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(v3.steps.len(), 3);
    assert_eq!(v3.name, "lead-enrichment-v2");

    let versions = workflows
        .list_workflow_versions(pb::ListWorkflowVersionsRequest { id: wf.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), vec![3, 2, 1]);
    assert_eq!(versions[1].change_summary, "Renamed");

    let old = workflows
        .get_workflow_version(pb::GetWorkflowVersionRequest { id: wf.id.clone(), version: 1 })
        .await
        .unwrap()
        .into_inner()
        .workflow
        .unwrap();
    assert_eq!(old.version, 1);
    assert_eq!(old.name, "lead-enrichment");
    assert_eq!(old.steps, wf.steps);

    let diff = workflows
        .diff_workflow_versions(pb::DiffWorkflowVersionsRequest { id: wf.id.clone(), v1: 1, v2: 3 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((diff.v1, diff.v2), (1, 3));
    assert!(diff.diff.iter().any(|op| op.op == "add" && op.path == "/steps/2"), "{:?}", diff.diff);
    assert!(diff.diff.iter().any(|op| op.op == "replace" && op.path == "/name"), "{:?}", diff.diff);
    assert_eq!(diff.summary, "Added 1 step, changed name");

    let rolled = workflows
        .rollback_workflow(pb::RollbackWorkflowRequest { id: wf.id.clone(), version: 1, change_summary: String::new() })
        .await
        .unwrap()
        .into_inner()
        .workflow
        .unwrap();
    assert_eq!(rolled.version, 4);
    assert_eq!(rolled.name, "lead-enrichment");
    assert_eq!(rolled.steps, wf.steps);
    assert_eq!(rolled.change_summary, "Rolled back to version 1");
    let no_change = workflows
        .diff_workflow_versions(pb::DiffWorkflowVersionsRequest { id: wf.id.clone(), v1: 1, v2: 4 })
        .await
        .unwrap()
        .into_inner();
    assert!(no_change.diff.is_empty());
    assert_eq!(no_change.summary, "No changes");

    let paused = workflows
        .set_workflow_status(pb::SetWorkflowStatusRequest {
            id: wf.id.clone(),
            status: pb::WorkflowStatus::Paused as i32,
        })
        .await
        .unwrap()
        .into_inner()
        .workflow
        .unwrap();
    assert_eq!(paused.status, pb::WorkflowStatus::Paused as i32);
    assert_eq!(paused.version, 4, "a status change writes no version");

    let deleted = workflows.delete_workflow(pb::DeleteWorkflowRequest { id: wf.id.clone() }).await.unwrap();
    assert!(deleted.into_inner().success);
    let gone = workflows.get_workflow(pb::GetWorkflowRequest { id: wf.id.clone() }).await.unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let again = workflows.delete_workflow(pb::DeleteWorkflowRequest { id: wf.id }).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
}

#[tokio::test]
async fn list_filters_by_status_tag_and_trigger_and_pages_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut wf = chain_workflow(&format!("wf-{i}"), 1);
        wf.tags = if i % 2 == 0 { vec!["etl".into()] } else { vec!["crm".into()] };
        wf.trigger_type = if i == 4 { "schedule".into() } else { String::new() };
        ids.push(create_ok(&client, wf).await.id);
    }
    client
        .workflows()
        .set_workflow_status(pb::SetWorkflowStatusRequest {
            id: ids[1].clone(),
            status: pb::WorkflowStatus::Archived as i32,
        })
        .await
        .unwrap();

    let list = |request: pb::ListWorkflowsRequest| {
        let client = client.clone();
        async move { client.workflows().list_workflows(request).await.map(|r| r.into_inner()) }
    };

    let all = list(pb::ListWorkflowsRequest::default()).await.unwrap();
    let newest_first: Vec<String> = [4, 3, 2, 0].iter().map(|i| ids[*i].clone()).collect();
    assert_eq!(all.workflows.iter().map(|w| w.id.clone()).collect::<Vec<_>>(), newest_first, "archived hidden");
    assert_eq!(all.total, 4);

    let archived = list(pb::ListWorkflowsRequest { status: pb::WorkflowStatus::Archived as i32, ..Default::default() })
        .await
        .unwrap();
    assert_eq!(archived.workflows.len(), 1);
    assert_eq!(archived.workflows[0].id, ids[1]);

    let etl = list(pb::ListWorkflowsRequest { tag: "etl".into(), ..Default::default() }).await.unwrap();
    assert_eq!(
        etl.workflows.iter().map(|w| w.id.clone()).collect::<Vec<_>>(),
        vec![ids[4].clone(), ids[2].clone(), ids[0].clone()]
    );

    let scheduled =
        list(pb::ListWorkflowsRequest { trigger_type: "schedule".into(), ..Default::default() }).await.unwrap();
    assert_eq!(scheduled.workflows.len(), 1);
    assert_eq!(scheduled.workflows[0].id, ids[4]);

    // Pages of two walk the same order with no gap or repeat.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(pb::ListWorkflowsRequest { page_size: 2, page_token: token.clone(), ..Default::default() })
            .await
            .unwrap();
        assert!(page.workflows.len() <= 2);
        seen.extend(page.workflows.iter().map(|w| w.id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, newest_first);

    // Offset paging, for clients that use limit/offset.
    let offset = list(pb::ListWorkflowsRequest { limit: 2, offset: 1, ..Default::default() }).await.unwrap();
    assert_eq!(offset.workflows.iter().map(|w| w.id.clone()).collect::<Vec<_>>(), newest_first[1..3].to_vec());

    // A token is bound to its query.
    let first = list(pb::ListWorkflowsRequest { page_size: 1, ..Default::default() }).await.unwrap();
    let misuse = list(pb::ListWorkflowsRequest {
        page_size: 1,
        page_token: first.next_page_token,
        tag: "etl".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(misuse.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn concurrent_updates_get_consecutive_versions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let wf = create_ok(&client, chain_workflow("contended", 1)).await;

    const WRITERS: u32 = 24;
    let mut tasks = Vec::new();
    for i in 0..WRITERS {
        let client = client.clone();
        let id = wf.id.clone();
        tasks.push(tokio::spawn(async move {
            client
                .workflows()
                .update_workflow(pb::UpdateWorkflowRequest {
                    workflow: Some(pb::Workflow {
                        id,
                        description: format!("writer {i}"),
                        change_summary: format!("writer {i}"),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
                .map(|r| r.into_inner().workflow.unwrap().version)
        }));
    }
    let mut versions = BTreeSet::new();
    for task in tasks {
        assert!(versions.insert(task.await.unwrap().expect("every concurrent update succeeds")));
    }
    assert_eq!(versions, (2..=WRITERS + 1).collect::<BTreeSet<u32>>(), "no gap, no duplicate");

    let history = client
        .workflows()
        .list_workflow_versions(pb::ListWorkflowVersionsRequest { id: wf.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(history.len(), WRITERS as usize + 1);
    let summaries: BTreeSet<String> =
        history.iter().filter(|v| v.version != 1).map(|v| v.change_summary.clone()).collect();
    assert_eq!(summaries.len() as u32, WRITERS, "each writer's change is its own version");
}

#[tokio::test]
async fn stale_expected_version_is_aborted_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let wf = create_ok(&client, chain_workflow("guarded", 1)).await;
    let err = client
        .workflows()
        .update_workflow(pb::UpdateWorkflowRequest {
            workflow: Some(pb::Workflow { id: wf.id.clone(), name: "other".into(), ..Default::default() }),
            expected_version: 7,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let now = client.workflows().get_workflow(pb::GetWorkflowRequest { id: wf.id.clone() }).await.unwrap();
    assert_eq!(now.into_inner().workflow.unwrap(), wf);
}

#[tokio::test]
async fn validation_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let step = |id: &str, kind: &str| pb::Step { id: id.into(), r#type: kind.into(), ..Default::default() };
    let agent = |id: &str, deps: &[&str]| pb::Step {
        agent: "a".into(),
        task: "t".into(),
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        ..step(id, "agent")
    };
    let definition = pb::WorkflowDefinition {
        name: "broken".into(),
        steps: vec![
            agent("dup", &[]),
            agent("dup", &[]),
            agent("notify", &["fetch"]),
            agent("step_a", &["step_b"]),
            agent("step_b", &["step_a"]),
            step("odd", "teleport"),
            pb::Step { input_map: [("x".to_string(), "$.[[".to_string())].into(), ..agent("bad-path", &[]) },
            pb::Step {
                expression: "$.score.output.score >=".into(),
                on_true: Some(pb::Branch { next: "notify".into() }),
                ..step("bad-expr", "condition")
            },
            pb::Step {
                on_step_failure: Some(pb::StepFailureRoute { action: "goto".into(), target: "nowhere".into() }),
                ..agent("bad-goto", &[])
            },
            step("no-fields", "delay"),
        ],
        input_schema: Some(prost_types::Struct {
            fields: [(
                "type".to_string(),
                prost_types::Value { kind: Some(prost_types::value::Kind::NumberValue(12.0)) },
            )]
            .into(),
        }),
        ..Default::default()
    };
    let answer = client
        .workflows()
        .validate_workflow(pb::ValidateWorkflowRequest { definition: Some(definition.clone()), workflow: None })
        .await
        .unwrap()
        .into_inner();
    assert!(!answer.valid);
    assert_eq!(answer.errors.len(), answer.problems.len());
    let codes: BTreeSet<&str> = answer.problems.iter().map(|p| p.code.as_str()).collect();
    for expected in [
        "DUPLICATE_STEP_ID",
        "MISSING_DEPENDENCY",
        "CYCLE",
        "UNKNOWN_STEP_TYPE",
        "INVALID_JSONPATH",
        "INVALID_EXPRESSION",
        "INVALID_SCHEMA",
        "UNKNOWN_GOTO_TARGET",
        "MISSING_FIELD",
    ] {
        assert!(codes.contains(expected), "missing {expected} in {:#?}", answer.problems);
    }
    assert!(answer.errors.iter().any(|e| e.contains("'notify'") && e.contains("'fetch'")), "{:?}", answer.errors);
    assert!(
        answer.errors.iter().any(|e| e.contains("step_a → step_b → step_a") || e.contains("step_b → step_a → step_b")),
        "{:?}",
        answer.errors
    );
    let no_fields = answer.problems.iter().find(|p| p.code == "MISSING_FIELD" && p.step_id == "no-fields");
    assert!(no_fields.is_some(), "each problem names its step: {:#?}", answer.problems);

    // Create refuses the same definition with the same problems as field violations.
    let workflow = pb::Workflow { definition: Some(definition), ..Default::default() };
    let refused = client.workflows().create_workflow(create(workflow)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let details = refused.get_error_details();
    let violations = &details.bad_request().expect("bad request details").field_violations;
    assert_eq!(violations.len(), answer.problems.len());
    assert_eq!(details.error_info().unwrap().reason, "VALIDATION_ERROR");
    let listed = client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap();
    assert_eq!(listed.into_inner().total, 0, "nothing was stored");

    let good = client
        .workflows()
        .validate_workflow(pb::ValidateWorkflowRequest { workflow: Some(chain_workflow("fine", 3)), definition: None })
        .await
        .unwrap()
        .into_inner();
    assert!(good.valid, "{:?}", good.errors);
    assert!(good.errors.is_empty());
}

#[tokio::test]
async fn create_with_the_same_request_id_returns_the_first_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let request =
        pb::CreateWorkflowRequest { workflow: Some(chain_workflow("once", 1)), request_id: "create-once-1".into() };
    let first = client.workflows().create_workflow(request.clone()).await.unwrap().into_inner();
    let second = client.workflows().create_workflow(request).await.unwrap().into_inner();
    assert_eq!(first.id, second.id);
    let listed = client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap();
    assert_eq!(listed.into_inner().total, 1);
}

#[tokio::test]
async fn dialects_compile_to_canonical_steps_and_keep_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let state = |kind: &str, task: &str, next: &str| pb::MachineState {
        r#type: kind.into(),
        task: task.into(),
        next: next.into(),
        ..Default::default()
    };
    let machine = pb::Workflow {
        name: "Customer Onboarding".into(),
        states: [
            ("initial".to_string(), state("task", "validateCustomerData", "createAccount")),
            ("createAccount".to_string(), state("task", "createCustomerAccount", "complete")),
            ("complete".to_string(), state("succeed", "", "")),
        ]
        .into(),
        functions: vec!["validateCustomerData".into(), "createCustomerAccount".into()],
        ..Default::default()
    };
    let wf = create_ok(&client, machine).await;
    assert_eq!(wf.states.len(), 3, "the source dialect is kept");
    let ids: Vec<&str> = wf.steps.iter().map(|s| s.id.as_str()).collect();
    assert!(ids.contains(&"initial") && ids.contains(&"createAccount"), "{ids:?}");
    let create_account = wf.steps.iter().find(|s| s.id == "createAccount").unwrap();
    assert_eq!(create_account.depends_on, vec!["initial"]);
    assert_eq!(create_account.agent, "createCustomerAccount");

    let config = |pairs: &[(&str, &str)]| prost_types::Struct {
        fields: pairs
            .iter()
            .map(|(k, v)| {
                (k.to_string(), prost_types::Value { kind: Some(prost_types::value::Kind::StringValue(v.to_string())) })
            })
            .collect(),
    };
    let nested = pb::Workflow {
        definition: Some(pb::WorkflowDefinition {
            name: "Fetch and notify".into(),
            steps: vec![
                pb::Step {
                    id: "fetch".into(),
                    r#type: "http_request".into(),
                    config: Some(config(&[("method", "GET"), ("url", "https://api.example.com/data")])),
                    ..Default::default()
                },
                pb::Step {
                    id: "notify".into(),
                    r#type: "agent_task".into(),
                    config: Some(config(&[("agent_id", "agent_123"), ("goal", "Summarize")])),
                    depends_on: vec!["fetch".into()],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }),
        trigger_type: "manual".into(),
        tags: vec!["notifications".into()],
        ..Default::default()
    };
    let wf = create_ok(&client, nested).await;
    assert_eq!(wf.name, "Fetch and notify");
    assert_eq!(wf.steps[0].url, "https://api.example.com/data");
    assert_eq!(wf.steps[0].method, "GET");
    assert!(wf.steps[0].config.is_none());
    assert_eq!(wf.steps[1].r#type, "agent");
    assert_eq!(wf.steps[1].agent, "agent_123");
    assert_eq!(wf.steps[1].task, "Summarize");
    assert!(wf.definition.is_none(), "the nested form is input only");
}

#[tokio::test]
async fn data_survives_a_server_restart_on_the_same_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let wf = create_ok(&client, chain_workflow("durable", 2)).await;
    client
        .workflows()
        .update_workflow(pb::UpdateWorkflowRequest {
            workflow: Some(pb::Workflow { id: wf.id.clone(), description: "second".into(), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap();
    let before =
        client.workflows().get_workflow(pb::GetWorkflowRequest { id: wf.id.clone() }).await.unwrap().into_inner();
    let database = server.database.clone();
    drop(client);
    server.stop().await;

    let restarted = TestServer::start_on(database, weft_server::Config::default()).await;
    let client = restarted.client().await;
    let after =
        client.workflows().get_workflow(pb::GetWorkflowRequest { id: wf.id.clone() }).await.unwrap().into_inner();
    assert_eq!(after, before);
    let versions = client
        .workflows()
        .list_workflow_versions(pb::ListWorkflowVersionsRequest { id: wf.id })
        .await
        .unwrap()
        .into_inner()
        .versions;
    assert_eq!(versions.len(), 2);
}

#[tokio::test]
async fn a_ten_thousand_step_dag_validates_and_its_cycle_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let chain = chain_workflow("big", 10_000);
    let valid = client
        .workflows()
        .validate_workflow(pb::ValidateWorkflowRequest { workflow: Some(chain.clone()), definition: None })
        .await
        .unwrap()
        .into_inner();
    assert!(valid.valid, "{:?}", valid.errors.first());

    let mut cycle = chain;
    cycle.steps[0].depends_on = vec!["s9999".into()];
    let invalid = client
        .workflows()
        .validate_workflow(pb::ValidateWorkflowRequest { workflow: Some(cycle), definition: None })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(invalid.problems.len(), 1, "{:?}", invalid.errors);
    assert_eq!(invalid.problems[0].code, "CYCLE");
    assert!(invalid.errors[0].starts_with("Cycle detected: s0 → s1"), "{}", invalid.errors[0]);
}
