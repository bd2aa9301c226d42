//! Version diffs name fields as the author wrote them (issue 18, the 003
//! document's config form): two versions written with `config` objects
//! diff at `/steps/0/config/url`, not at the canonical flat path; an
//! update of another field keeps the written form; a rollback brings the
//! written form back; a version written flat diffs in the canonical form.
//! Over REST and gRPC; runs on the suite's store (the sources are a new
//! column, migration 0015).

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::api::convert_runs::struct_to_pb;
use weft_tests::{TestServer, http1};

fn fetch_step(url: &str) -> pb::Step {
    pb::Step {
        id: "fetch".into(),
        r#type: "http_request".into(),
        config: struct_to_pb(&json!({"url": url, "method": "GET"})),
        ..Default::default()
    }
}

async fn update(client: &Weft, workflow: pb::Workflow, paths: &[&str]) -> pb::Workflow {
    let request = pb::UpdateWorkflowRequest {
        workflow: Some(workflow),
        update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() }),
        ..Default::default()
    };
    client.workflows().update_workflow(request).await.expect("UpdateWorkflow").into_inner().workflow.unwrap()
}

async fn diff_paths(client: &Weft, id: &str, v1: u32, v2: u32) -> Vec<String> {
    let request = pb::DiffWorkflowVersionsRequest { id: id.into(), v1, v2 };
    let diff = client.workflows().diff_workflow_versions(request).await.expect("DiffWorkflowVersions").into_inner();
    diff.diff.into_iter().map(|op| op.path).collect()
}

fn rest_paths(body: &Value) -> Vec<String> {
    let ops = body["diff"].as_array().unwrap_or_else(|| panic!("no diff in {body}"));
    ops.iter().map(|op| op["path"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn config_form_versions_diff_at_the_written_paths() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let body = json!({"name": "fetcher", "steps": [
        {"id": "fetch", "type": "http_request", "config": {"url": "https://example.com/a", "method": "GET"}}
    ]});
    let (status, created) = http1::json(server.addr, "POST", "/api/workflows", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let created = created.get("workflow").unwrap_or(&created).clone();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["steps"][0]["url"], "https://example.com/a", "the canonical form is what is served");

    // v2: the URL changes, written in the config form over gRPC.
    let v2 = pb::Workflow { id: id.clone(), steps: vec![fetch_step("https://example.com/b")], ..Default::default() };
    update(&client, v2, &["steps"]).await;
    assert_eq!(diff_paths(&client, &id, 1, 2).await, ["/steps/0/config/url"]);
    let (status, diff) = http1::json(server.addr, "GET", &format!("/api/workflows/{id}/diff?v1=1&v2=2"), None).await;
    assert_eq!(status, 200, "{diff}");
    assert_eq!(rest_paths(&diff), ["/steps/0/config/url"]);

    // v3: a rename keeps the written form.
    let v3 = pb::Workflow { id: id.clone(), name: "fetcher-2".into(), ..Default::default() };
    update(&client, v3, &["name"]).await;
    assert_eq!(diff_paths(&client, &id, 2, 3).await, ["/name"]);
    let mut both = diff_paths(&client, &id, 1, 3).await;
    both.sort();
    assert_eq!(both, ["/name", "/steps/0/config/url"]);

    // v4: a rollback to v1 brings v1's written form back.
    let request = pb::RollbackWorkflowRequest { id: id.clone(), version: 1, ..Default::default() };
    client.workflows().rollback_workflow(request).await.expect("RollbackWorkflow");
    assert!(diff_paths(&client, &id, 1, 4).await.is_empty());

    // v5: written flat, so v4 → v5 compares canonical forms.
    let flat = pb::Step {
        id: "fetch".into(),
        r#type: "http_request".into(),
        url: "https://example.com/c".into(),
        method: "GET".into(),
        ..Default::default()
    };
    update(&client, pb::Workflow { id: id.clone(), steps: vec![flat], ..Default::default() }, &["steps"]).await;
    assert_eq!(diff_paths(&client, &id, 4, 5).await, ["/steps/0/url"]);

    // Bad input: an unknown version, version 0, an unknown workflow.
    let refused = |v1, v2, id: &str| {
        let request = pb::DiffWorkflowVersionsRequest { id: id.into(), v1, v2 };
        let client = client.clone();
        async move { client.workflows().diff_workflow_versions(request).await.unwrap_err().code() }
    };
    assert_eq!(refused(1, 99, &id).await, Code::NotFound);
    assert_eq!(refused(0, 2, &id).await, Code::InvalidArgument);
    assert_eq!(refused(1, 2, "wf_nope").await, Code::NotFound);
    let (status, body) = http1::json(server.addr, "GET", &format!("/api/workflows/{id}/diff?v1=1&v2=99"), None).await;
    assert_eq!(status, 404, "{body}");
    server.stop().await;
}
