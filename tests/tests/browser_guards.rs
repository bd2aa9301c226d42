//! What keeps a web page in an operator's browser from driving a server on
//! 127.0.0.1 (issue #17), checked on the wire as a browser would send it:
//!
//! - CORS answers only the configured origins (`[http] cors_origins`);
//! - a REST body must be declared `application/json`: the "simple" types a
//!   page may POST without a preflight are 415 and store nothing;
//! - a server on loopback refuses a Host that is not a loopback name or
//!   one of `[http] allowed_hosts` (DNS rebinding): 421 over REST,
//!   PERMISSION_DENIED over gRPC and gRPC-web, and nothing stored;
//! - a page on another origin changes nothing even by a bodiless POST a
//!   browser sends unasked: 403 unless its origin is configured.
//!
//! The same guards are exercised from headless Chromium by
//! sdk-gen/ts/test-browser/guards.test.ts (scripts/test-sdks).

use prost::Message;
use serde_json::{Value, json};
use tonic::Code;
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;
use weft_sdk::pb;
use weft_sdk::pb::workflow_service_client::WorkflowServiceClient;
use weft_server::Config;
use weft_server::config::HttpSettings;
use weft_tests::http1::{self, Http1Response, grpc_frame, grpc_web_frames, request};
use weft_tests::{TestServer, chain_workflow};

/// Request headers, as `http1::request` takes them.
type Headers<'a> = &'a [(&'a str, &'a str)];

const CONSOLE: &str = "http://console.example:8080";
const EVIL: &str = "http://evil.example";

fn workflow_json(name: &str) -> Vec<u8> {
    json!({"name": name, "steps": [{"id": "a", "type": "agent", "agent": "w", "task": "t"}]}).to_string().into_bytes()
}

fn body_json(response: &Http1Response) -> Value {
    serde_json::from_slice(&response.body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&response.body)))
}

/// Every workflow the server holds, read over gRPC (which no guard touches).
async fn workflow_names(server: &TestServer) -> Vec<String> {
    let client = server.client().await;
    let listed = client
        .workflows()
        .list_workflows(pb::ListWorkflowsRequest { page_size: 100, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    listed.workflows.into_iter().map(|w| w.name).collect()
}

async fn start(http: HttpSettings) -> (tempfile::TempDir, TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), Config { http, ..Config::default() }).await;
    (dir, server)
}

async fn preflight(server: &TestServer, path: &str, origin: &str, headers: &str) -> Http1Response {
    request(
        server.addr,
        "OPTIONS",
        path,
        &[("origin", origin), ("access-control-request-method", "POST"), ("access-control-request-headers", headers)],
        b"",
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let (_dir, server) = start(HttpSettings {
        cors_origins: vec![CONSOLE.into(), "https://Other.example:443".into()],
        ..Default::default()
    })
    .await;

    let allowed = preflight(&server, "/v1/workflows", CONSOLE, "content-type,x-api-key,authorization").await;
    assert!(allowed.status == 200 || allowed.status == 204, "{allowed:?}");
    assert_eq!(allowed.header("access-control-allow-origin"), Some(CONSOLE));
    let headers = allowed.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    for name in ["content-type", "x-api-key", "authorization"] {
        assert!(headers.contains(name), "{name} is allowed: {headers}");
    }
    // Written with a default port and capitals in the config, matched as
    // browsers send it.
    let canonical = preflight(&server, "/v1/workflows", "https://other.example", "content-type").await;
    assert_eq!(canonical.header("access-control-allow-origin"), Some("https://other.example"));

    for (path, headers) in [
        ("/v1/workflows", "content-type"),
        ("/weft.v1.WorkflowService/CreateWorkflow", "content-type,x-grpc-web,x-user-agent"),
    ] {
        for origin in [EVIL, "http://console.example:8081", "https://console.example:8080", "null"] {
            let refused = preflight(&server, path, origin, headers).await;
            assert_eq!(refused.header("access-control-allow-origin"), None, "{origin} on {path}: {refused:?}");
        }
    }
    // An answer to a request the browser sent anyway is hidden from the page.
    let read = request(server.addr, "GET", "/v1/workflows", &[("origin", EVIL)], b"").await.unwrap();
    assert_eq!(read.status, 200);
    assert_eq!(read.header("access-control-allow-origin"), None);
    let read = request(server.addr, "GET", "/v1/workflows", &[("origin", CONSOLE)], b"").await.unwrap();
    assert_eq!(read.header("access-control-allow-origin"), Some(CONSOLE));
}

#[tokio::test]
async fn cors_allows_no_origin_by_default() {
    let (_dir, server) = start(HttpSettings::default()).await;
    let refused = preflight(&server, "/v1/workflows", "http://localhost:3000", "content-type").await;
    assert_eq!(refused.header("access-control-allow-origin"), None, "{refused:?}");
}

#[tokio::test]
async fn bodies_a_page_may_post_unasked_are_415_and_store_nothing() {
    let (_dir, server) = start(HttpSettings::default()).await;
    let body = workflow_json("simple-request");
    let cases: [(Headers, &[u8]); 5] = [
        // (From a page on another origin the origin check refuses first.)
        (&[("content-type", "text/plain;charset=UTF-8")], &body),
        (&[("content-type", "application/x-www-form-urlencoded")], &body),
        (&[("content-type", "multipart/form-data; boundary=x")], &body),
        // An empty form still declares a type that is not JSON.
        (&[("content-type", "application/x-www-form-urlencoded")], b""),
        // A body must state its type.
        (&[], &body),
    ];
    for (headers, sent) in cases {
        let response = request(server.addr, "POST", "/v1/workflows", headers, sent).await.unwrap();
        assert_eq!(response.status, 415, "{headers:?}: {response:?}");
        assert_eq!(response.header("accept"), Some("application/json"));
        let error = body_json(&response);
        assert_eq!(error["error_code"], "UNSUPPORTED_MEDIA_TYPE", "{error}");
        assert_eq!(error["code"], Code::InvalidArgument as i32);
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("application/json"), "{message}");
        if let Some((_, sent_type)) = headers.iter().find(|(name, _)| *name == "content-type") {
            assert!(message.contains(sent_type), "the message names '{sent_type}': {message}");
        }
    }
    // The same on every route that takes a body, and on a run start.
    let created = weft_tests::workflows::create_pb(&server.client().await, chain_workflow("target", 1)).await;
    let start_path = format!("/v1/workflows/{}/runs", created.id);
    let response =
        request(server.addr, "POST", &start_path, &[("content-type", "text/plain")], b"{\"input\":{}}").await.unwrap();
    assert_eq!(response.status, 415);
    assert_eq!(workflow_names(&server).await, ["target"], "nothing but the seeded workflow was stored");
    let runs = http1::json(server.addr, "GET", &format!("/v1/workflows/{}/runs", created.id), None).await;
    assert_eq!(runs.1.as_array().map(Vec::len), Some(0), "no run started: {}", runs.1);

    // JSON, with or without a charset, is taken; a bare POST with no body
    // and no type is not refused by this check.
    for content_type in ["application/json", "application/json; charset=utf-8"] {
        let response = request(
            server.addr,
            "POST",
            "/v1/workflows",
            &[("content-type", content_type)],
            &workflow_json(content_type),
        )
        .await
        .unwrap();
        assert_eq!(response.status, 201, "{content_type}: {response:?}");
    }
    let bare = request(server.addr, "POST", "/v1/workflows/runs/wfrun_missing/cancel", &[], b"").await.unwrap();
    assert_eq!(bare.status, 404, "{bare:?}");
    // Reads take no body, so their type is not checked.
    let read = request(server.addr, "GET", "/v1/workflows", &[("content-type", "text/plain")], b"").await.unwrap();
    assert_eq!(read.status, 200);
}

/// A gRPC-web CreateWorkflow naming `host`.
async fn grpc_web_create(server: &TestServer, host: &str) -> Http1Response {
    let message =
        pb::CreateWorkflowRequest { workflow: Some(chain_workflow("grpc-web", 1)), request_id: String::new() };
    let body = grpc_frame(&message.encode_to_vec());
    let headers = [("host", host), ("content-type", "application/grpc-web+proto"), ("x-grpc-web", "1")];
    request(server.addr, "POST", "/weft.v1.WorkflowService/CreateWorkflow", &headers, &body).await.unwrap()
}

/// The gRPC status of a gRPC-web answer: headers (trailers-only) or the
/// trailer frame.
fn grpc_web_status(response: &Http1Response) -> (String, String) {
    if let Some(status) = response.header("grpc-status") {
        return (status.to_string(), response.header("grpc-message").unwrap_or_default().to_string());
    }
    let trailer = grpc_web_frames(&response.body).into_iter().find(|(flag, _)| *flag == 0x80).unwrap().1;
    let text = String::from_utf8_lossy(&trailer).to_string();
    let field =
        |name: &str| text.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string())).unwrap_or_default();
    (field("grpc-status:"), field("grpc-message:"))
}

#[tokio::test]
async fn a_host_that_is_not_loopback_is_421_and_stores_nothing() {
    let (_dir, server) = start(HttpSettings::default()).await;
    let port = server.addr.port();
    let rebound = format!("rebind.test:{port}");

    let response = request(
        server.addr,
        "POST",
        "/v1/workflows",
        &[("host", &rebound), ("content-type", "application/json")],
        &workflow_json("rebound"),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 421, "{response:?}");
    let error = body_json(&response);
    assert_eq!(error["error_code"], "MISDIRECTED_REQUEST", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&rebound) && message.contains("allowed_hosts"), "{message}");

    // Reads, preflights and the OpenAPI document too: the page learns nothing.
    for (method, path) in [("GET", "/v1/workflows"), ("OPTIONS", "/v1/workflows"), ("GET", "/openapi.json")] {
        let headers =
            [("host", rebound.as_str()), ("origin", "http://rebind.test"), ("access-control-request-method", "POST")];
        let response = request(server.addr, method, path, &headers, b"").await.unwrap();
        assert_eq!(response.status, 421, "{method} {path}");
        assert_eq!(response.header("access-control-allow-origin"), None);
    }

    // gRPC-web answers a status its clients read.
    let web = grpc_web_create(&server, &rebound).await;
    assert_eq!(web.status, 200);
    assert!(web.header("content-type").is_some_and(|t| t.starts_with("application/grpc-web")), "{web:?}");
    let (status, message) = grpc_web_status(&web);
    assert_eq!(status, (Code::PermissionDenied as i32).to_string(), "{message}");

    // HTTP/2 gRPC naming another :authority.
    let channel = Endpoint::from_shared(server.url())
        .unwrap()
        .origin(format!("http://{rebound}").parse().unwrap())
        .connect()
        .await
        .unwrap();
    let refused = WorkflowServiceClient::new(channel.clone())
        .create_workflow(pb::CreateWorkflowRequest {
            workflow: Some(chain_workflow("h2", 1)),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    assert_eq!(refused.get_error_details().error_info().unwrap().reason, "MISDIRECTED_REQUEST");
    assert!(refused.message().contains("rebind.test"), "{}", refused.message());

    assert!(workflow_names(&server).await.is_empty(), "nothing was stored");

    // Loopback names pass on any spelling; health answers from loopback.
    for host in
        [format!("localhost:{port}"), format!("app.localhost:{port}"), format!("[::1]:{port}"), "127.0.0.1".into()]
    {
        let response = request(server.addr, "GET", "/v1/workflows", &[("host", &host)], b"").await.unwrap();
        assert_eq!(response.status, 200, "{host}");
    }
    let health = HealthClient::new(Endpoint::from_shared(server.url()).unwrap().connect().await.unwrap())
        .check(HealthCheckRequest { service: String::new() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);
}

#[tokio::test]
async fn allowed_hosts_admit_a_configured_name() {
    let (_dir, server) =
        start(HttpSettings { allowed_hosts: vec!["Weft.Internal".into()], ..Default::default() }).await;
    let port = server.addr.port();
    let named = format!("weft.internal:{port}");
    let response = request(
        server.addr,
        "POST",
        "/v1/workflows",
        &[("host", &named), ("content-type", "application/json")],
        &workflow_json("by-name"),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 201, "{response:?}");
    let web = grpc_web_create(&server, &named).await;
    assert_eq!(grpc_web_status(&web).0, "0", "{web:?}");

    let other = request(server.addr, "GET", "/v1/workflows", &[("host", "other.internal")], b"").await.unwrap();
    assert_eq!(other.status, 421);
    let mut names = workflow_names(&server).await;
    names.sort();
    assert_eq!(names, ["by-name", "grpc-web"]);
}

#[tokio::test]
async fn pages_on_other_origins_change_nothing_even_without_a_body() {
    let (_dir, server) = start(HttpSettings { cors_origins: vec![CONSOLE.into()], ..Default::default() }).await;
    let client = server.client().await;
    let workflow = weft_tests::workflows::create_pb(&client, chain_workflow("waits-for-a-worker", 1)).await;
    let run = weft_tests::runs::start(&client, &workflow.id, json!({"company": "Acme"})).await;
    let cancel = format!("/v1/workflows/runs/{}/cancel", run.id);
    let own = format!("http://{}", server.addr);

    // A bodiless POST is a request a page may send unasked ("no-cors").
    let attempts: [&[(&str, &str)]; 3] = [
        &[("origin", EVIL), ("sec-fetch-site", "cross-site")],
        &[("origin", "http://127.0.0.1:1"), ("sec-fetch-site", "same-site")],
        &[("origin", EVIL)],
    ];
    for headers in attempts {
        let response = request(server.addr, "POST", &cancel, headers, b"").await.unwrap();
        assert_eq!(response.status, 403, "{headers:?}: {response:?}");
        let error = body_json(&response);
        assert_eq!(error["error_code"], "CROSS_ORIGIN_REQUEST", "{error}");
        assert!(error["message"].as_str().unwrap().contains("cors_origins"), "{error}");
    }
    let deleted = request(server.addr, "DELETE", &format!("/v1/workflows/{}", workflow.id), attempts[0], b"").await;
    assert_eq!(deleted.unwrap().status, 403);
    let now = weft_tests::runs::get_run(&client, &run.id).await;
    assert_ne!(now.status, pb::RunStatus::Cancelled as i32, "the run was not cancelled");
    assert_eq!(workflow_names(&server).await, ["waits-for-a-worker"]);

    // The console's own origin, a same-origin page and a non-browser client
    // (no Origin) may.
    let same_origin = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    let missing = "/v1/workflows/runs/wfrun_missing/cancel";
    let response = request(server.addr, "POST", missing, &same_origin, b"").await.unwrap();
    assert_eq!(response.status, 404, "same-origin passes the check: {response:?}");
    let response = request(server.addr, "POST", missing, &[], b"").await.unwrap();
    assert_eq!(response.status, 404, "no Origin passes the check");
    let from_console = [("origin", CONSOLE), ("sec-fetch-site", "cross-site")];
    let response = request(server.addr, "POST", &cancel, &from_console, b"").await.unwrap();
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("access-control-allow-origin"), Some(CONSOLE));
    let now = weft_tests::runs::get_run(&client, &run.id).await;
    assert_eq!(now.status, pb::RunStatus::Cancelled as i32);
}
