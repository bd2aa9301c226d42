//! The one-port surface: reflection (v1 and v1alpha), health, gRPC-web over
//! HTTP/1.1 with CORS, and UNIMPLEMENTED where an RPC is served over REST only.

use prost::Message;
use tonic::Code;
use weft_sdk::pb;
use weft_tests::http1::{grpc_frame, grpc_web_frames, request};
use weft_tests::{TestServer, chain_workflow, with_origins};

const EXPECTED_SERVICES: &[&str] = &[
    "weft.v1.WorkflowService",
    "weft.v1.RunService",
    "weft.v1.WorkerService",
    "weft.v1.ApprovalService",
    "weft.v1.ScheduleService",
    "weft.v1.TemplateService",
    "weft.v1.TriggerService",
    "weft.v1.KeyService",
    "weft.v1.SecretService",
    "weft.v1.NotificationService",
    "grpc.health.v1.Health",
];

#[tokio::test]
async fn reflection_v1_and_v1alpha_list_every_service() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url()).unwrap().connect().await.unwrap();

    use tonic_reflection::pb::v1 as r1;
    let mut v1 = r1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let ask = r1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(String::new())),
    };
    let mut answers = v1.server_reflection_info(tokio_stream::iter(vec![ask])).await.unwrap().into_inner();
    let answer = answers.message().await.unwrap().expect("one answer");
    let Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(list)) = answer.message_response
    else {
        panic!("unexpected reflection answer {answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in EXPECTED_SERVICES {
        assert!(names.iter().any(|n| n == expected), "v1 reflection lacks {expected}: {names:?}");
    }

    // grpcurl speaks v1alpha; it must see the same services and resolve a symbol.
    use tonic_reflection::pb::v1alpha as ra;
    let mut alpha = ra::server_reflection_client::ServerReflectionClient::new(channel);
    let asks = vec![
        ra::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(ra::server_reflection_request::MessageRequest::ListServices(String::new())),
        },
        ra::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(ra::server_reflection_request::MessageRequest::FileContainingSymbol(
                "weft.v1.WorkflowService".into(),
            )),
        },
    ];
    let mut answers = alpha.server_reflection_info(tokio_stream::iter(asks)).await.unwrap().into_inner();
    let listed = answers.message().await.unwrap().unwrap();
    let Some(ra::server_reflection_response::MessageResponse::ListServicesResponse(list)) = listed.message_response
    else {
        panic!("unexpected v1alpha answer");
    };
    assert!(list.service.iter().any(|s| s.name == "weft.v1.WorkflowService"));
    let file = answers.message().await.unwrap().unwrap();
    let Some(ra::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) = file.message_response
    else {
        panic!("unexpected v1alpha answer to FileContainingSymbol");
    };
    let descriptor = prost_types::FileDescriptorProto::decode(files.file_descriptor_proto[0].as_slice()).unwrap();
    assert_eq!(descriptor.name(), "weft/v1/workflow_service.proto");
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_each_service() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let channel = tonic::transport::Endpoint::from_shared(server.url()).unwrap().connect().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "weft.v1.WorkflowService", "weft.v1.RunService"] {
        let answer =
            health.check(tonic_health::pb::HealthCheckRequest { service: service.into() }).await.unwrap().into_inner();
        assert_eq!(answer.status(), tonic_health::pb::health_check_response::ServingStatus::Serving, "{service:?}");
    }
    let unknown = health.check(tonic_health::pb::HealthCheckRequest { service: "nope.Service".into() }).await;
    assert_eq!(unknown.unwrap_err().code(), Code::NotFound);
}

#[tokio::test]
async fn raw_grpc_web_request_over_http1_answers_with_data_and_trailers() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), with_origins(&["http://app.example"])).await;
    let client = server.client().await;
    let created = client
        .workflows()
        .create_workflow(pb::CreateWorkflowRequest {
            workflow: Some(chain_workflow("web", 1)),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();

    let body = grpc_frame(&pb::GetWorkflowRequest { id: created.id.clone() }.encode_to_vec());
    let response = request(
        server.addr,
        "POST",
        "/weft.v1.WorkflowService/GetWorkflow",
        &[("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1"), ("origin", "http://app.example")],
        &body,
    )
    .await
    .unwrap();
    assert_eq!(response.status, 200);
    assert!(response.header("content-type").unwrap().starts_with("application/grpc-web"));
    assert_eq!(response.header("access-control-allow-origin"), Some("http://app.example"));
    let frames = grpc_web_frames(&response.body);
    assert_eq!(frames.len(), 2, "one data frame, one trailer frame");
    let answer = pb::GetWorkflowResponse::decode(frames[0].1.as_slice()).unwrap();
    assert_eq!(answer.workflow.unwrap().id, created.id);
    assert_eq!(frames[1].0, 0x80);
    assert!(String::from_utf8_lossy(&frames[1].1).contains("grpc-status:0"));

    // An unknown id answers NOT_FOUND (5) the gRPC-web way too.
    let missing = grpc_frame(&pb::GetWorkflowRequest { id: "wf_missing".into() }.encode_to_vec());
    let response = request(
        server.addr,
        "POST",
        "/weft.v1.WorkflowService/GetWorkflow",
        &[("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1")],
        &missing,
    )
    .await
    .unwrap();
    let status = response
        .header("grpc-status")
        .map(str::to_string)
        .or_else(|| {
            grpc_web_frames(&response.body).into_iter().find(|(flag, _)| *flag == 0x80).map(|(_, trailer)| {
                let text = String::from_utf8_lossy(&trailer).to_string();
                text.lines().find_map(|l| l.strip_prefix("grpc-status:").map(|s| s.trim().to_string())).unwrap()
            })
        })
        .unwrap();
    assert_eq!(status, "5");
}

#[tokio::test]
async fn browser_preflight_from_a_configured_origin_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), with_origins(&["http://localhost:5173"])).await;
    let response = request(
        server.addr,
        "OPTIONS",
        "/weft.v1.WorkflowService/ListWorkflows",
        &[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type,x-grpc-web,x-user-agent"),
        ],
        b"",
    )
    .await
    .unwrap();
    assert!(response.status == 200 || response.status == 204, "{response:?}");
    assert_eq!(response.header("access-control-allow-origin"), Some("http://localhost:5173"));
    let allowed = response.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    assert!(allowed.contains("x-grpc-web") && allowed.contains("content-type"), "{allowed}");
}

#[tokio::test]
async fn a_rest_only_rpc_answers_unimplemented_over_grpc() {
    // DeliverCallback's signature covers the raw body bytes, so only its
    // REST binding serves it; gRPC callers hear UNIMPLEMENTED, not a
    // half-checked callback.
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let request = pb::DeliverCallbackRequest { token: "t".into(), ..Default::default() };
    let refused = client.triggers().deliver_callback(request).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unimplemented);
}
