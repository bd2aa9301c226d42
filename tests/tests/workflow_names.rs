//! Workflows addressed by name (issue 21): names are unique per tenant
//! (ALREADY_EXISTS / 409 `WORKFLOW_NAME_TAKEN` naming `workflow.name` and
//! the workflow that has it, on create, rename, rollback and template
//! install); ApplyWorkflow creates, updates or leaves a workflow as it is,
//! comparing canonical definitions; and every RPC that takes a workflow id
//! takes its name too. Over gRPC and REST, bad input included; runs on the
//! suite's store.

use serde_json::{Value, json};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use weft_sdk::{Weft, pb};
use weft_tests::runs::{self, json_of, step};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, chain_workflow, http1};

/// A one-step workflow that echoes `$.input.v`; `variant` tells versions
/// apart (in the description).
fn shaped(name: &str, variant: i64) -> Value {
    json!({"name": name, "description": format!("variant {variant}"),
        "steps": [{"id": "shape", "type": "transform", "output": {"v": "$.input.v"}}]})
}

async fn apply(client: &Weft, workflow: pb::Workflow) -> Result<pb::ApplyWorkflowResponse, Status> {
    let request = pb::ApplyWorkflowRequest { workflow: Some(workflow), change_summary: String::new() };
    Ok(client.workflows().apply_workflow(request).await?.into_inner())
}

async fn get(client: &Weft, id_or_name: &str) -> Result<pb::Workflow, Status> {
    let request = pb::GetWorkflowRequest { id: id_or_name.into() };
    Ok(client.workflows().get_workflow(request).await?.into_inner().workflow.expect("a workflow"))
}

async fn rename(client: &Weft, id_or_name: &str, name: &str) -> Result<pb::Workflow, Status> {
    let request = pb::UpdateWorkflowRequest {
        workflow: Some(pb::Workflow { id: id_or_name.into(), name: name.into(), ..Default::default() }),
        update_mask: Some(prost_types::FieldMask { paths: vec!["name".into()] }),
        expected_version: 0,
    };
    Ok(client.workflows().update_workflow(request).await?.into_inner().workflow.expect("a workflow"))
}

fn outcome(response: &pb::ApplyWorkflowResponse) -> pb::ApplyOutcome {
    pb::ApplyOutcome::try_from(response.outcome).expect("a known outcome")
}

/// Asserts `status` is the taken-name error for `name`, held by `holder`.
fn assert_name_taken(status: &Status, name: &str, holder: &str) {
    assert_eq!(status.code(), Code::AlreadyExists, "{status:?}");
    let details = status.get_error_details();
    let info = details.error_info().expect("an ErrorInfo");
    assert_eq!(info.reason, "WORKFLOW_NAME_TAKEN");
    assert_eq!(info.metadata.get("field").map(String::as_str), Some("workflow.name"));
    assert_eq!(info.metadata.get("workflowId").map(String::as_str), Some(holder), "{status:?}");
    assert!(status.message().contains(name), "{status:?}");
}

/// The field an INVALID_ARGUMENT names.
fn violated_field(status: &Status) -> String {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status.get_error_details();
    let request = details.bad_request().unwrap_or_else(|| panic!("a BadRequest in {status:?}"));
    request.field_violations[0].field.clone()
}

#[tokio::test]
async fn apply_creates_then_leaves_unchanged_then_updates() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;

    let created = apply(&client, chain_workflow("applied", 1)).await.unwrap();
    assert_eq!(outcome(&created), pb::ApplyOutcome::Created);
    let first = created.workflow.unwrap();
    assert_eq!((first.version, first.name.as_str()), (1, "applied"));

    let again = apply(&client, chain_workflow("applied", 1)).await.unwrap();
    assert_eq!(outcome(&again), pb::ApplyOutcome::Unchanged);
    let kept = again.workflow.unwrap();
    assert_eq!((kept.id.as_str(), kept.version), (first.id.as_str(), 1), "nothing was written");

    let changed = apply(&client, chain_workflow("applied", 2)).await.unwrap();
    assert_eq!(outcome(&changed), pb::ApplyOutcome::Updated);
    let second = changed.workflow.unwrap();
    assert_eq!((second.id.as_str(), second.version, second.steps.len()), (first.id.as_str(), 2, 2));
    assert!(second.change_summary.starts_with("Applied"), "{}", second.change_summary);

    // Tags are part of what is compared; then the same again is unchanged.
    let tagged = pb::Workflow { tags: vec!["nightly".into()], ..chain_workflow("applied", 2) };
    let retagged = apply(&client, tagged.clone()).await.unwrap();
    assert_eq!(outcome(&retagged), pb::ApplyOutcome::Updated);
    assert_eq!(retagged.workflow.unwrap().version, 3);
    let same = apply(&client, tagged).await.unwrap();
    assert_eq!((outcome(&same), same.workflow.unwrap().version), (pb::ApplyOutcome::Unchanged, 3));

    let versions = pb::ListWorkflowVersionsRequest { id: "applied".into() };
    let versions = client.workflows().list_workflow_versions(versions).await.unwrap().into_inner().versions;
    assert_eq!(versions.len(), 3, "one version per change, none for the unchanged applies");
    let listed = client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap();
    assert_eq!(listed.into_inner().total, 1, "one workflow");
    server.stop().await;
}

#[tokio::test]
async fn apply_over_rest_compares_canonical_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let put = |body: Value| http1::json(server.addr, "PUT", "/v1/workflows:apply", Some(body));
    let config_form = json!({"workflow": {"name": "fetcher", "steps": [
        {"id": "fetch", "type": "http_request", "config": {"url": "https://example.com/a", "method": "GET"}}
    ]}});
    let (status, created) = put(config_form.clone()).await;
    assert_eq!(status, 200, "{created}");
    assert!(created["outcome"].as_str().unwrap().to_lowercase().ends_with("created"), "{created}");
    let id = created["workflow"]["id"].as_str().unwrap().to_owned();

    // The same definition, flat: the canonical forms are equal.
    let flat = json!({"workflow": {"name": "fetcher", "steps": [
        {"id": "fetch", "type": "http_request", "url": "https://example.com/a", "method": "GET"}
    ]}});
    let (status, unchanged) = put(flat).await;
    assert_eq!(status, 200, "{unchanged}");
    assert!(unchanged["outcome"].as_str().unwrap().to_lowercase().ends_with("unchanged"), "{unchanged}");
    assert_eq!(
        (unchanged["workflow"]["id"].as_str(), &unchanged["workflow"]["version"]),
        (Some(id.as_str()), &json!(1))
    );

    let moved = json!({"workflow": {"name": "fetcher", "steps": [
        {"id": "fetch", "type": "http_request", "config": {"url": "https://example.com/b", "method": "GET"}}
    ]}, "changeSummary": "point at b"});
    let (status, updated) = put(moved).await;
    assert_eq!(status, 200, "{updated}");
    assert!(updated["outcome"].as_str().unwrap().to_lowercase().ends_with("updated"), "{updated}");
    assert_eq!(updated["workflow"]["version"], 2);
    assert_eq!(updated["workflow"]["changeSummary"], "point at b");

    let (status, nameless) = put(json!({"workflow": {"steps": []}})).await;
    assert_eq!(status, 400, "{nameless}");
    assert!(nameless["error"].as_str().unwrap().starts_with("workflow.name"), "{nameless}");
    server.stop().await;
}

#[tokio::test]
async fn a_taken_name_is_already_exists_and_409_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let holder = create_json(&server, shaped("taken", 1)).await;

    let (status, refused) = http1::json(server.addr, "POST", "/v1/workflows", Some(shaped("taken", 2))).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error_code"], "WORKFLOW_NAME_TAKEN");
    assert!(refused["error"].as_str().unwrap().contains(&holder), "{refused}");

    let again = pb::CreateWorkflowRequest { workflow: Some(chain_workflow("taken", 1)), request_id: String::new() };
    assert_name_taken(&client.workflows().create_workflow(again).await.unwrap_err(), "taken", &holder);

    // A create retried with its request id still answers the first result.
    let once = || pb::CreateWorkflowRequest { workflow: Some(chain_workflow("retried", 1)), request_id: "r-1".into() };
    let first = client.workflows().create_workflow(once()).await.unwrap().into_inner().id;
    let retried = client.workflows().create_workflow(once()).await.unwrap().into_inner().id;
    assert_eq!(first, retried);

    // Renames onto the name, over gRPC and REST.
    let other = create_json(&server, shaped("other", 1)).await;
    assert_name_taken(&rename(&client, &other, "taken").await.unwrap_err(), "taken", &holder);
    let path = format!("/v1/workflows/{other}");
    let (status, clash) = http1::json(server.addr, "PATCH", &path, Some(json!({"name": "taken"}))).await;
    assert_eq!((status, &clash["error_code"]), (409, &json!("WORKFLOW_NAME_TAKEN")), "{clash}");
    assert_eq!(get(&client, &other).await.unwrap().version, 1, "the refused rename wrote nothing");

    // A rollback to a version whose name another workflow took since.
    rename(&client, &other, "other-2").await.unwrap();
    let newcomer = create_json(&server, shaped("other", 3)).await;
    let back = pb::RollbackWorkflowRequest { id: other.clone(), version: 1, change_summary: String::new() };
    assert_name_taken(&client.workflows().rollback_workflow(back).await.unwrap_err(), "other", &newcomer);

    // Archived workflows keep their names; deleting one frees it.
    let archive = pb::SetWorkflowStatusRequest { id: "taken".into(), status: pb::WorkflowStatus::Archived as i32 };
    client.workflows().set_workflow_status(archive).await.unwrap();
    let (status, _) = http1::json(server.addr, "POST", "/v1/workflows", Some(shaped("taken", 2))).await;
    assert_eq!(status, 409, "an archived workflow keeps its name");
    let (status, _) = http1::json(server.addr, "DELETE", "/v1/workflows/taken", None).await;
    assert_eq!(status, 200);
    let reborn = create_json(&server, shaped("taken", 2)).await;
    assert_ne!(reborn, holder);

    // Installing a template under a taken name.
    let install = || pb::InstallTemplateRequest {
        template_id: "lead-enrichment".into(),
        name: "installed".into(),
        ..Default::default()
    };
    let installed = client.templates().install_template(install()).await.unwrap().into_inner().workflow_id;
    let twice = client.templates().install_template(install()).await.unwrap_err();
    assert_name_taken(&twice, "installed", &installed);
    server.stop().await;
}

#[tokio::test]
async fn a_name_works_wherever_an_id_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = create_json(&server, shaped("named flow", 7)).await;

    assert_eq!(get(&client, "named flow").await.unwrap().id, id);
    let run = runs::start(&client, "named flow", json!({"v": 7})).await;
    assert_eq!(run.workflow_id, id);
    let run = runs::wait_finished(&client, &run.id, 10).await;
    assert_eq!(json_of(&step(&run, "shape").output), json!({"v": 7}));

    let list = pb::ListRunsRequest { workflow_id: "named flow".into(), ..Default::default() };
    let listed = client.runs().list_runs(list).await.unwrap().into_inner();
    assert_eq!(listed.runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [run.id.as_str()]);
    let events =
        pb::ListRunEventsRequest { run_id: run.id.clone(), workflow_id: "named flow".into(), ..Default::default() };
    assert!(!client.runs().list_run_events(events).await.unwrap().into_inner().events.is_empty());

    let version = pb::GetWorkflowVersionRequest { id: "named flow".into(), version: 1 };
    assert_eq!(client.workflows().get_workflow_version(version).await.unwrap().into_inner().workflow.unwrap().id, id);
    let estimate = pb::EstimateRunRequest { workflow_id: "named flow".into(), ..Default::default() };
    client.runs().estimate_run(estimate).await.expect("EstimateRun by name");
    let schedules = pb::ListSchedulesRequest { workflow_id: "named flow".into(), ..Default::default() };
    assert!(client.schedules().list_schedules(schedules).await.unwrap().into_inner().schedules.is_empty());
    let trigger = pb::GetTriggerStatusRequest { workflow_id: "named flow".into() };
    assert_eq!(
        client.triggers().get_trigger_status(trigger).await.unwrap().into_inner().trigger.unwrap().workflow_id,
        id
    );

    // A rename by name, then the new name is the one that works.
    let renamed = rename(&client, "named flow", "renamed flow").await.unwrap();
    assert_eq!((renamed.id.as_str(), renamed.version), (id.as_str(), 2));
    assert_eq!(get(&client, "named flow").await.unwrap_err().code(), Code::NotFound);

    // REST: names in the path, percent-encoded.
    let (status, workflow) = http1::json(server.addr, "GET", "/v1/workflows/renamed%20flow", None).await;
    assert_eq!((status, workflow["id"].as_str()), (200, Some(id.as_str())), "{workflow}");
    let (status, versions) = http1::json(server.addr, "GET", "/v1/workflows/renamed%20flow/versions", None).await;
    assert_eq!(status, 200, "{versions}");
    assert_eq!(versions.to_string().matches("\"version\"").count(), 2, "{versions}");
    let (status, listed) = http1::json(server.addr, "GET", "/v1/workflows/renamed%20flow/runs", None).await;
    assert_eq!(status, 200, "{listed}");
    assert!(listed.to_string().contains(&run.id), "{listed}");
    let (status, _) = http1::json(server.addr, "DELETE", "/v1/workflows/renamed%20flow", None).await;
    assert_eq!(status, 200);
    assert_eq!(get(&client, &id).await.unwrap_err().code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn bad_names_and_references_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;

    let nothing = pb::ApplyWorkflowRequest::default();
    assert_eq!(violated_field(&client.workflows().apply_workflow(nothing).await.unwrap_err()), "workflow.name");
    for name in ["", "   ", &"n".repeat(201)] {
        let refused = apply(&client, chain_workflow(name, 1)).await.unwrap_err();
        assert_eq!(violated_field(&refused), "workflow.name", "{name:?}");
    }
    let broken = pb::Workflow {
        steps: vec![pb::Step { id: "a".into(), r#type: "no-such-type".into(), ..Default::default() }],
        ..chain_workflow("broken", 0)
    };
    let refused = apply(&client, broken).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert_eq!(refused.get_error_details().error_info().unwrap().reason, "VALIDATION_ERROR");
    let listed = client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap();
    assert_eq!(listed.into_inner().total, 0, "refused applies stored nothing");

    for (value, code) in [
        ("", Code::InvalidArgument),
        (&"n".repeat(201) as &str, Code::InvalidArgument),
        (&format!("wf_{}", "x".repeat(130)), Code::InvalidArgument),
        ("nobody", Code::NotFound),
    ] {
        let refused = get(&client, value).await.unwrap_err();
        assert_eq!(refused.code(), code, "{value:?}: {refused:?}");
        if code == Code::InvalidArgument {
            assert_eq!(violated_field(&refused), "id");
        } else {
            assert_eq!(refused.get_error_details().error_info().unwrap().reason, "WORKFLOW_NOT_FOUND");
        }
    }
    let runs = pb::ListRunsRequest { workflow_id: "nobody".into(), ..Default::default() };
    assert_eq!(client.runs().list_runs(runs).await.unwrap_err().code(), Code::NotFound);
    let long = pb::ListRunsRequest { workflow_id: "n".repeat(201), ..Default::default() };
    assert_eq!(violated_field(&client.runs().list_runs(long).await.unwrap_err()), "workflow_id");
    let deploy = pb::DeployWorkflowRequest { workflow_id: String::new(), ..Default::default() };
    assert_eq!(violated_field(&client.triggers().deploy_workflow(deploy).await.unwrap_err()), "workflow_id");
    let update = pb::UpdateWorkflowRequest {
        workflow: Some(pb::Workflow { id: "nobody".into(), description: "d".into(), ..Default::default() }),
        ..Default::default()
    };
    assert_eq!(client.workflows().update_workflow(update).await.unwrap_err().code(), Code::NotFound);

    let (status, missing) = http1::json(server.addr, "GET", "/v1/workflows/nobody", None).await;
    assert_eq!((status, &missing["error_code"]), (404, &json!("WORKFLOW_NOT_FOUND")), "{missing}");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_applies_of_one_new_name_make_one_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;

    // The same definition from eight callers at once: one creates it.
    let applies = (0..8).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { apply(&client, chain_workflow("raced", 1)).await })
    });
    let mut outcomes = Vec::new();
    for handle in applies.collect::<Vec<_>>() {
        let answer = handle.await.unwrap().expect("every apply succeeds");
        outcomes.push((outcome(&answer), answer.workflow.unwrap().id));
    }
    let created = outcomes.iter().filter(|(o, _)| *o == pb::ApplyOutcome::Created).count();
    assert_eq!(created, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|(o, id)| *o != pb::ApplyOutcome::Updated && *id == outcomes[0].1), "{outcomes:?}");

    // Different definitions at once: still one workflow, one version each.
    let applies = (1..=6).map(|n| {
        let client = client.clone();
        tokio::spawn(async move { apply(&client, chain_workflow("raced-apart", n)).await })
    });
    let mut ids = Vec::new();
    for handle in applies.collect::<Vec<_>>() {
        ids.push(handle.await.unwrap().expect("every apply succeeds").workflow.unwrap().id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let versions = pb::ListWorkflowVersionsRequest { id: "raced-apart".into() };
    let versions = client.workflows().list_workflow_versions(versions).await.unwrap().into_inner().versions;
    assert_eq!(versions.len(), 6, "a version per distinct definition");

    // Plain creates of one name at once: one succeeds, the rest are told why.
    let creates = (0..6).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            let request = pb::CreateWorkflowRequest {
                workflow: Some(chain_workflow("created-once", 1)),
                request_id: String::new(),
            };
            client.workflows().create_workflow(request).await.map(|r| r.into_inner().id)
        })
    });
    let mut made = Vec::new();
    for handle in creates.collect::<Vec<_>>() {
        match handle.await.unwrap() {
            Ok(id) => made.push(id),
            Err(status) => assert_eq!(status.code(), Code::AlreadyExists, "{status:?}"),
        }
    }
    assert_eq!(made.len(), 1, "{made:?}");
    let listed = client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap();
    assert_eq!(listed.into_inner().total, 3);
    server.stop().await;
}
