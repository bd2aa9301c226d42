//! ListWorkflows `sort` and `order` (issue 18, the 002 document's list
//! parameters): every order over gRPC and as REST query parameters, pages
//! that follow the order through their tokens, and the refusals naming
//! the field. Runs on the suite's store (SQLite, or Postgres with
//! `WEFT_TEST_STORE=postgres`).

use serde_json::json;
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

async fn list(client: &Weft, sort: &str, order: &str) -> Vec<String> {
    let request = pb::ListWorkflowsRequest { sort: sort.into(), order: order.into(), ..Default::default() };
    let page = client.workflows().list_workflows(request).await.expect("ListWorkflows").into_inner();
    page.workflows.into_iter().map(|w| w.name).collect()
}

fn definition(name: &str) -> serde_json::Value {
    json!({"name": name, "steps": [{"id": "t", "type": "transform", "output": {"x": "$.input.x"}}]})
}

/// Three workflows created b, a, c (1 ms apart at least), then b updated.
async fn three(server: &TestServer) -> String {
    let mut b = String::new();
    for name in ["b-flow", "a-flow", "c-flow"] {
        let id = create_json(server, definition(name)).await;
        if name == "b-flow" {
            b = id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let client = server.client().await;
    let touched = pb::Workflow { id: b.clone(), description: "touched".into(), ..Default::default() };
    let request = pb::UpdateWorkflowRequest {
        workflow: Some(touched),
        update_mask: Some(prost_types::FieldMask { paths: vec!["description".into()] }),
        ..Default::default()
    };
    client.workflows().update_workflow(request).await.expect("UpdateWorkflow");
    b
}

#[tokio::test]
async fn every_sort_and_order_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    three(&server).await;
    let client = server.client().await;
    assert_eq!(list(&client, "", "").await, ["c-flow", "a-flow", "b-flow"], "default: newest created first");
    assert_eq!(list(&client, "createdAt", "asc").await, ["b-flow", "a-flow", "c-flow"]);
    assert_eq!(list(&client, "name", "asc").await, ["a-flow", "b-flow", "c-flow"]);
    assert_eq!(list(&client, "name", "desc").await, ["c-flow", "b-flow", "a-flow"]);
    assert_eq!(list(&client, "updatedAt", "").await, ["b-flow", "c-flow", "a-flow"], "the update moves b first");
    assert_eq!(list(&client, "updated_at", "ASC").await, ["a-flow", "c-flow", "b-flow"]);

    // Pages follow the order through their tokens, by name too.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let request = pb::ListWorkflowsRequest {
            sort: "name".into(),
            order: "asc".into(),
            page_size: 1,
            page_token: token.clone(),
            ..Default::default()
        };
        let page = client.workflows().list_workflows(request).await.unwrap().into_inner();
        names.extend(page.workflows.into_iter().map(|w| w.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
        assert!(names.len() < 5, "pages never end: {names:?}");
    }
    assert_eq!(names, ["a-flow", "b-flow", "c-flow"]);
    server.stop().await;
}

#[tokio::test]
async fn bad_sort_order_and_foreign_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    three(&server).await;
    let client = server.client().await;
    let refused = |sort: &str, order: &str, token: &str| {
        let request = pb::ListWorkflowsRequest {
            sort: sort.into(),
            order: order.into(),
            page_token: token.into(),
            ..Default::default()
        };
        let client = client.clone();
        async move { client.workflows().list_workflows(request).await.unwrap_err() }
    };
    let bad_sort = refused("size", "", "").await;
    assert_eq!(bad_sort.code(), Code::InvalidArgument);
    assert!(bad_sort.message().starts_with("sort:") && bad_sort.message().contains("createdAt, updatedAt or name"));
    let bad_order = refused("", "sideways", "").await;
    assert_eq!(bad_order.code(), Code::InvalidArgument);
    assert!(bad_order.message().starts_with("order:") && bad_order.message().contains("asc or desc"));

    // A token of the name order is no token of the time order.
    let request = pb::ListWorkflowsRequest { sort: "name".into(), page_size: 1, ..Default::default() };
    let token = client.workflows().list_workflows(request).await.unwrap().into_inner().next_page_token;
    assert!(!token.is_empty());
    assert_eq!(refused("createdAt", "", &token).await.code(), Code::InvalidArgument);
    assert_eq!(refused("name", "asc", &token).await.code(), Code::InvalidArgument, "another order");
    server.stop().await;
}

#[tokio::test]
async fn sort_and_order_as_rest_query_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    three(&server).await;
    // The families differ in envelope (a bare list, `workflows`, `data`);
    // the order is what is checked here.
    let names = |body: &serde_json::Value| -> Vec<String> {
        let list = [body.get("workflows"), body.get("data"), Some(body)].into_iter().flatten().find(|v| v.is_array());
        let list = list.unwrap_or_else(|| panic!("no list in {body}"));
        list.as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap().to_owned()).collect()
    };
    let (status, body) = http1::json(server.addr, "GET", "/v1/workflows?sort=name&order=asc", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["a-flow", "b-flow", "c-flow"]);
    let (status, body) = http1::json(server.addr, "GET", "/api/workflows?sort=createdAt&order=asc", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), ["b-flow", "a-flow", "c-flow"]);
    let (status, body) = http1::json(server.addr, "GET", "/v1/workflows?sort=popularity", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("sort"), "{body}");
    let (status, body) = http1::json(server.addr, "GET", "/v1/workflows?order=random", None).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("order"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_rename_moves_the_workflow_in_the_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    three(&server).await;
    let client = server.client().await;
    let c = client
        .workflows()
        .list_workflows(pb::ListWorkflowsRequest { sort: "name".into(), order: "desc".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .workflows
        .remove(0);
    assert_eq!(c.name, "c-flow");
    let renamed = pb::Workflow { id: c.id.clone(), name: "0-flow".into(), ..Default::default() };
    let request = pb::UpdateWorkflowRequest {
        workflow: Some(renamed),
        update_mask: Some(prost_types::FieldMask { paths: vec!["name".into()] }),
        ..Default::default()
    };
    client.workflows().update_workflow(request).await.expect("rename");
    assert_eq!(list(&client, "name", "asc").await, ["0-flow", "a-flow", "b-flow"]);
    // A rollback brings the old name back with the old version.
    let request = pb::RollbackWorkflowRequest { id: c.id.clone(), version: 1, ..Default::default() };
    client.workflows().rollback_workflow(request).await.expect("rollback");
    assert_eq!(list(&client, "name", "asc").await, ["a-flow", "b-flow", "c-flow"]);
    server.stop().await;
}
