//! Creating workflows in end-to-end tests: from the REST JSON most tests
//! write, or from a protobuf `Workflow` over gRPC. Every test file used to
//! carry its own copy of these.

use serde_json::Value;
use weft_sdk::{Weft, pb};

use crate::{TestServer, http1};

/// Creates a workflow from its REST JSON (`POST /v1/workflows`, which must
/// answer 201) and returns its id.
pub async fn create_json(server: &TestServer, definition: Value) -> String {
    let (status, created) = http1::json(server.addr, "POST", "/v1/workflows", Some(definition)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("the created workflow has an id").to_owned()
}

/// Creates `workflow` over gRPC (which must succeed) and returns it as stored.
pub async fn create_pb(client: &Weft, workflow: pb::Workflow) -> pb::Workflow {
    let request = pb::CreateWorkflowRequest { workflow: Some(workflow), request_id: String::new() };
    let created = client.workflows().create_workflow(request).await.expect("CreateWorkflow");
    created.into_inner().workflow.expect("the created workflow")
}
