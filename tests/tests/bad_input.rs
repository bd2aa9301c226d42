//! Bad input on every WorkflowService RPC: the right status code, and the
//! stored data unchanged afterwards.

use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::pb;
use weft_tests::workflows::create_pb;
use weft_tests::{TestServer, chain_workflow};

/// Everything stored about one workflow, to compare before and after.
async fn snapshot(client: &weft_sdk::Weft, id: &str) -> (pb::Workflow, Vec<pb::WorkflowVersion>, u32) {
    let workflow =
        client.workflows().get_workflow(pb::GetWorkflowRequest { id: id.into() }).await.unwrap().into_inner().workflow;
    let versions = client
        .workflows()
        .list_workflow_versions(pb::ListWorkflowVersionsRequest { id: id.into() })
        .await
        .unwrap()
        .into_inner()
        .versions;
    let total =
        client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap().into_inner().total;
    (workflow.unwrap(), versions, total)
}

#[tokio::test]
async fn bad_requests_get_precise_codes_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let mut wf = create_pb(&client, chain_workflow("kept", 2)).await;
    let id = wf.id.clone();
    let before = snapshot(&client, &id).await;
    let mut w = client.workflows();

    // Unknown ids: NOT_FOUND, with the documented reason.
    let missing = w.get_workflow(pb::GetWorkflowRequest { id: "wf_nope".into() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(missing.get_error_details().error_info().unwrap().reason, "WORKFLOW_NOT_FOUND");
    let codes = [
        w.delete_workflow(pb::DeleteWorkflowRequest { id: "wf_nope".into() }).await.unwrap_err().code(),
        w.list_workflow_versions(pb::ListWorkflowVersionsRequest { id: "wf_nope".into() }).await.unwrap_err().code(),
        w.get_workflow_version(pb::GetWorkflowVersionRequest { id: id.clone(), version: 9 }).await.unwrap_err().code(),
        w.diff_workflow_versions(pb::DiffWorkflowVersionsRequest { id: id.clone(), v1: 1, v2: 9 })
            .await
            .unwrap_err()
            .code(),
        w.rollback_workflow(pb::RollbackWorkflowRequest { id: id.clone(), version: 9, ..Default::default() })
            .await
            .unwrap_err()
            .code(),
        w.set_workflow_status(pb::SetWorkflowStatusRequest {
            id: "wf_nope".into(),
            status: pb::WorkflowStatus::Paused as i32,
        })
        .await
        .unwrap_err()
        .code(),
        w.update_workflow(pb::UpdateWorkflowRequest {
            workflow: Some(pb::Workflow { id: "wf_nope".into(), name: "x".into(), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap_err()
        .code(),
    ];
    assert!(codes.iter().all(|c| *c == Code::NotFound), "{codes:?}");

    // Malformed requests: INVALID_ARGUMENT.
    let invalid = [
        w.create_workflow(pb::CreateWorkflowRequest::default()).await.unwrap_err(),
        w.create_workflow(pb::CreateWorkflowRequest {
            workflow: Some(pb::Workflow { name: String::new(), ..chain_workflow("unnamed", 1) }),
            request_id: String::new(),
        })
        .await
        .unwrap_err(),
        w.get_workflow(pb::GetWorkflowRequest { id: String::new() }).await.unwrap_err(),
        w.get_workflow_version(pb::GetWorkflowVersionRequest { id: id.clone(), version: 0 }).await.unwrap_err(),
        w.set_workflow_status(pb::SetWorkflowStatusRequest { id: id.clone(), status: 0 }).await.unwrap_err(),
        w.set_workflow_status(pb::SetWorkflowStatusRequest { id: id.clone(), status: 42 }).await.unwrap_err(),
        w.validate_workflow(pb::ValidateWorkflowRequest::default()).await.unwrap_err(),
        w.diff_workflow_versions(pb::DiffWorkflowVersionsRequest { id: id.clone(), v1: 0, v2: 1 }).await.unwrap_err(),
        w.rollback_workflow(pb::RollbackWorkflowRequest { id: id.clone(), version: 0, ..Default::default() })
            .await
            .unwrap_err(),
        w.list_workflows(pb::ListWorkflowsRequest { page_token: "garbage!".into(), ..Default::default() })
            .await
            .unwrap_err(),
        w.list_workflow_versions(pb::ListWorkflowVersionsRequest { id: String::new() }).await.unwrap_err(),
        w.delete_workflow(pb::DeleteWorkflowRequest { id: String::new() }).await.unwrap_err(),
        // Nothing to change.
        w.update_workflow(pb::UpdateWorkflowRequest {
            workflow: Some(pb::Workflow { id: id.clone(), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap_err(),
        // A mask naming a field that cannot change.
        w.update_workflow(pb::UpdateWorkflowRequest {
            workflow: Some(pb::Workflow { id: id.clone(), name: "x".into(), ..Default::default() }),
            update_mask: Some(prost_types::FieldMask { paths: vec!["version".into()] }),
            ..Default::default()
        })
        .await
        .unwrap_err(),
    ];
    for (i, status) in invalid.iter().enumerate() {
        assert_eq!(status.code(), Code::InvalidArgument, "case {i}: {status:?}");
    }

    // An update that makes the definition invalid is refused whole.
    wf.steps[1].depends_on = vec!["ghost".into()];
    let refused = w
        .update_workflow(pb::UpdateWorkflowRequest {
            workflow: Some(pb::Workflow { id: id.clone(), steps: wf.steps.clone(), ..Default::default() }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    let violations = refused.get_error_details().bad_request().unwrap().field_violations.clone();
    assert!(violations.iter().any(|v| v.description.contains("'ghost'")), "{violations:?}");

    // A message over the size limit: RESOURCE_EXHAUSTED.
    let huge = pb::Workflow { description: "x".repeat(5 * 1024 * 1024), ..chain_workflow("huge", 1) };
    let too_big = w
        .create_workflow(pb::CreateWorkflowRequest { workflow: Some(huge), request_id: String::new() })
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), Code::ResourceExhausted, "{too_big:?}");

    assert_eq!(snapshot(&client, &id).await, before, "bad input changed stored data");
}
