//! The auth walk: every method of every `weft.v1` service, over gRPC and
//! over every REST binding, called with no key, a malformed key, a revoked
//! key, a `read` key on calls that change things, a `worker` key outside
//! the worker protocol, and tenant A's admin key on tenant B's ids. Each
//! call must be refused with the documented code, and a snapshot of every
//! stored row must be the same after the walk as before it.
//!
//! The method list comes from the descriptor pool, so a new RPC is walked
//! without editing this file; the cross-tenant requests are a table that
//! must name every method taking an id (the test says which is missing).

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use prost_reflect::DynamicMessage;
use serde_json::{Value, json};
use tonic::Code;
use tonic::codegen::Service;
use tonic::transport::{Channel, Endpoint};
use tonic_types::StatusExt;
use weft_sdk::{Weft, pb};
use weft_server::api::auth::OperationTable;
use weft_server::api::descriptors;
use weft_server::gateway::routes::{RouteTable, Segment};
use weft_server::model::{KeyScope, Operation};
use weft_tests::auth::{make_key, rest, snapshot, start_requiring_keys};
use weft_tests::http1::grpc_frame;
use weft_tests::{TestServer, eventually, runs, workers};

/// Services whose RPCs answer UNIMPLEMENTED until their issue lands: past
/// the key check they cannot say NOT_FOUND yet.
const UNBUILT: &[&str] = &[];

struct Keys {
    admin_a: String,
    read_a: String,
    worker_a: String,
    revoked_a: String,
}

/// Tenant B's things, which tenant A must not reach.
struct TenantB {
    workflow: String,
    run: String,
    approval: String,
    worker: String,
    task: String,
    lease: u64,
    key: String,
    subscription: String,
    template: String,
    schedule: String,
}

async fn client(server: &TestServer, key: &str) -> Weft {
    server.client().await.with_api_key(key).expect("a key is header text")
}

/// Tenant B with a workflow, a run whose agent task a worker holds, and a
/// pending approval; tenant A with keys of every scope, one revoked.
async fn world(server: &TestServer) -> (Keys, TenantB) {
    let admin_a = make_key(server, "tenant-a", KeyScope::Admin).await;
    let read_a = make_key(server, "tenant-a", KeyScope::Read).await;
    let worker_a = make_key(server, "tenant-a", KeyScope::Worker).await;
    let admin_b = make_key(server, "tenant-b", KeyScope::Admin).await;
    let worker_b = make_key(server, "tenant-b", KeyScope::Worker).await;

    let a = client(server, &admin_a).await;
    let made = a
        .keys()
        .create_key(pb::CreateKeyRequest { scope: pb::KeyScope::Write.into(), name: "to revoke".into() })
        .await
        .expect("CreateKey")
        .into_inner();
    let revoked_id = made.key.expect("key").key_id;
    a.keys().revoke_key(pb::RevokeKeyRequest { key_id: revoked_id }).await.expect("RevokeKey");

    let b = client(server, &admin_b).await;
    let agent = weft_tests::workflows::create_pb(&b, weft_tests::chain_workflow("b-agent", 1)).await;
    let run = runs::start(&b, &agent.id, json!({"company": "b"})).await;
    let gate = pb::Workflow {
        name: "b-gate".into(),
        steps: vec![pb::Step {
            id: "gate".into(),
            r#type: "approval".into(),
            action: "send".into(),
            message: "Send?".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let gate = weft_tests::workflows::create_pb(&b, gate).await;
    runs::start(&b, &gate.id, json!({})).await;
    let approval = eventually("tenant B's approval opens", 10, || async {
        let listed = b.approvals().list_approvals(pb::ListApprovalsRequest::default()).await?.into_inner();
        listed.approvals.first().map(|approval| approval.id.clone()).ok_or_else(|| tonic::Status::not_found("none yet"))
    })
    .await;
    let worker = client(server, &worker_b).await;
    workers::register(&worker, "wkr-b", &["worker"]).await;
    let task = workers::poll_one(&worker, "wkr-b").await;
    let keys = b.keys().list_keys(pb::ListKeysRequest {}).await.expect("ListKeys").into_inner().keys;
    let template = pb::CreateTemplateRequest {
        template: Some(pb::Template { name: "b-template".into(), ..Default::default() }),
        workflow_id: agent.id.clone(),
        workflow_version: 1,
    };
    let template = b.templates().create_template(template).await.expect("CreateTemplate").into_inner();
    let template = template.template.expect("a template").id;
    // Last, so no event of B's runs is notified while the walk runs.
    let subscription = pb::CreateSubscriptionRequest {
        url: "https://hooks.example.com/b".into(),
        event_types: vec!["run.completed".into()],
        ..Default::default()
    };
    let subscription = b.notifications().create_subscription(subscription).await.expect("CreateSubscription");
    let subscription = subscription.into_inner().subscription.expect("a subscription").subscription_id;
    // Paused, so it starts no run while the walk compares snapshots.
    let schedule = pb::Schedule { cron_expression: "0 0 1 1 *".into(), enabled: Some(false), ..Default::default() };
    let schedule = pb::CreateScheduleRequest { workflow_id: agent.id.clone(), schedule: Some(schedule) };
    let schedule = b.schedules().create_schedule(schedule).await.expect("CreateSchedule").into_inner().schedule_id;
    let tenant_b = TenantB {
        workflow: agent.id,
        run: run.id,
        approval,
        worker: "wkr-b".into(),
        task: task.task_id.clone(),
        lease: task.lease_token,
        key: keys[0].key_id.clone(),
        subscription,
        template,
        schedule,
    };
    (Keys { admin_a, read_a, worker_a, revoked_a: made.secret }, tenant_b)
}

/// The request of each method that takes an id, aimed at tenant B's
/// things, as protobuf JSON (proto names).
fn cross_tenant_requests(b: &TenantB) -> BTreeMap<&'static str, Value> {
    let (wf, run, task, lease) = (&b.workflow, &b.run, &b.task, b.lease.to_string());
    BTreeMap::from([
        ("/weft.v1.WorkflowService/GetWorkflow", json!({"id": wf})),
        (
            "/weft.v1.WorkflowService/UpdateWorkflow",
            json!({"workflow": {"id": wf, "description": "x"}, "update_mask": "description"}),
        ),
        ("/weft.v1.WorkflowService/DeleteWorkflow", json!({"id": wf})),
        ("/weft.v1.WorkflowService/SetWorkflowStatus", json!({"id": wf, "status": "WORKFLOW_STATUS_PAUSED"})),
        ("/weft.v1.WorkflowService/ListWorkflowVersions", json!({"id": wf})),
        ("/weft.v1.WorkflowService/GetWorkflowVersion", json!({"id": wf, "version": 1})),
        ("/weft.v1.WorkflowService/DiffWorkflowVersions", json!({"id": wf, "v1": 1, "v2": 1})),
        ("/weft.v1.WorkflowService/RollbackWorkflow", json!({"id": wf, "version": 1})),
        ("/weft.v1.RunService/StartRun", json!({"workflow_id": wf, "input": {}})),
        ("/weft.v1.RunService/EstimateRun", json!({"workflow_id": wf, "input": {}})),
        ("/weft.v1.RunService/ExecuteWorkflow", json!({"workflow_id": wf, "input": {}})),
        ("/weft.v1.RunService/ExecuteWorkflowStream", json!({"workflow_id": wf, "input": {}})),
        ("/weft.v1.RunService/GetRun", json!({"run_id": run})),
        ("/weft.v1.RunService/CancelRun", json!({"run_id": run})),
        ("/weft.v1.RunService/DeleteRun", json!({"run_id": run})),
        ("/weft.v1.RunService/PauseRun", json!({"run_id": run})),
        ("/weft.v1.RunService/ResumeRun", json!({"run_id": run, "event": "go"})),
        ("/weft.v1.RunService/RetryRunFrom", json!({"run_id": run, "step_id": "s0"})),
        ("/weft.v1.RunService/StreamRunEvents", json!({"run_id": run})),
        ("/weft.v1.RunService/ListRunEvents", json!({"run_id": run})),
        ("/weft.v1.ApprovalService/GetApproval", json!({"approval_id": b.approval})),
        (
            "/weft.v1.ApprovalService/DecideApproval",
            json!({"approval_id": b.approval, "decision": "APPROVAL_DECISION_APPROVE"}),
        ),
        ("/weft.v1.WorkerService/PollTask", json!({"worker_id": b.worker, "wait_seconds": 0})),
        ("/weft.v1.WorkerService/Heartbeat", json!({"task_id": task, "lease_token": lease})),
        ("/weft.v1.WorkerService/CompleteTask", json!({"task_id": task, "lease_token": lease, "output": {}})),
        ("/weft.v1.WorkerService/FailTask", json!({"task_id": task, "lease_token": lease, "error": "x"})),
        ("/weft.v1.WorkerService/CheckToolUse", json!({"task_id": task, "lease_token": lease, "tool": "t"})),
        ("/weft.v1.KeyService/RevokeKey", json!({"key_id": b.key})),
        ("/weft.v1.SecretService/DeleteSecret", json!({"name": "TENANT_B_SECRET"})),
        ("/weft.v1.NotificationService/GetSubscription", json!({"subscription_id": b.subscription})),
        ("/weft.v1.NotificationService/DeleteSubscription", json!({"subscription_id": b.subscription})),
        ("/weft.v1.TriggerService/DeployWorkflow", json!({"workflow_id": b.workflow})),
        ("/weft.v1.TriggerService/UndeployWorkflow", json!({"workflow_id": b.workflow})),
        ("/weft.v1.TriggerService/ArmWebhook", json!({"workflow_id": b.workflow})),
        ("/weft.v1.TriggerService/GetTriggerStatus", json!({"workflow_id": b.workflow})),
        ("/weft.v1.TemplateService/GetTemplate", json!({"template_id": b.template})),
        ("/weft.v1.TemplateService/InstallTemplate", json!({"template_id": b.template, "name": "stolen"})),
        ("/weft.v1.TemplateService/DeleteTemplate", json!({"template_id": b.template})),
        ("/weft.v1.ScheduleService/GetSchedule", json!({"schedule_id": b.schedule})),
        (
            "/weft.v1.ScheduleService/UpdateSchedule",
            json!({"schedule": {"id": b.schedule, "cron_expression": "* * * * *"}, "update_mask": "cronExpression"}),
        ),
        ("/weft.v1.ScheduleService/DeleteSchedule", json!({"schedule_id": b.schedule})),
        ("/weft.v1.ScheduleService/PauseSchedule", json!({"schedule_id": b.schedule})),
        ("/weft.v1.ScheduleService/ResumeSchedule", json!({"schedule_id": b.schedule})),
    ])
}

/// Methods whose request names no stored thing: they act in the caller's
/// own tenant, so tenant isolation is the listing tests' business.
fn takes_no_id(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or(path);
    method.starts_with("List")
        || method.starts_with("Create")
        || method.starts_with("Put")
        || method == "ValidateWorkflow"
        || method == "RegisterWorker"
        // Its hello registers in the caller's tenant, as RegisterWorker
        // does; worker_stream.rs shows a stream gets only its tenant's tasks.
        || method == "ConnectWorker"
        // Finds its workflow by name in the caller's tenant: another
        // tenant's workflow of that name is never seen (a new one is made).
        || method == "ApplyWorkflow"
}

/// Calls `path` over HTTP/2 gRPC with `message` and the given
/// `authorization` value; the status it ends with.
async fn grpc(channel: &Channel, path: &str, authorization: Option<&str>, message: &[u8]) -> tonic::Status {
    let mut request = http::Request::post(path)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(Full::new(Bytes::from(grpc_frame(message)))))
        .expect("a request");
    if let Some(value) = authorization {
        request.headers_mut().insert("authorization", http::HeaderValue::from_str(value).expect("header text"));
    }
    let mut channel = channel.clone();
    std::future::poll_fn(|cx| channel.poll_ready(cx)).await.expect("channel ready");
    let response = tokio::time::timeout(Duration::from_secs(15), channel.call(request))
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer within 15 s"))
        .expect("HTTP/2 exchange");
    let (parts, mut body) = response.into_parts();
    if let Some(status) = tonic::Status::from_header_map(&parts.headers) {
        return status;
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(15), body.frame()).await.expect("answer within 15 s") {
            Some(Ok(frame)) => {
                if let Ok(trailers) = frame.into_trailers()
                    && let Some(status) = tonic::Status::from_header_map(&trailers)
                {
                    return status;
                }
            }
            Some(Err(e)) => panic!("{path}: the answer's body failed: {e}"),
            None => panic!("{path}: the answer ended without a status"),
        }
    }
}

fn reason(status: &tonic::Status) -> String {
    status.get_error_details().error_info().map(|info| info.reason.clone()).unwrap_or_default()
}

/// The protobuf bytes of `json` as the request of the method at `path`.
fn encode_request(path: &str, json: &Value) -> Vec<u8> {
    let (service, method) = path.trim_start_matches('/').split_once('/').expect("a gRPC path");
    let service = descriptors::pool().get_service_by_name(service).expect("a service");
    let method = service.methods().find(|m| m.name() == method).expect("a method");
    let options = prost_reflect::DeserializeOptions::new();
    let message = DynamicMessage::deserialize_with_options(method.input(), json.clone(), &options)
        .unwrap_or_else(|e| panic!("{path}: the walk's request does not decode: {e}"));
    prost::Message::encode_to_vec(&message)
}

/// What a key of `scope` calling an `operation` must get, when refused.
fn refused_for(scope: &str, operation: Operation) -> bool {
    match scope {
        "read" => !matches!(operation, Operation::Read | Operation::WorkRead),
        "worker" => !matches!(operation, Operation::Work | Operation::WorkRead),
        _ => false,
    }
}

#[tokio::test]
async fn every_rpc_refuses_missing_bad_revoked_and_out_of_scope_keys_and_other_tenants_ids() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;
    let (keys, b) = world(&server).await;
    let before = snapshot(&server).await;
    let channel = Endpoint::from_shared(server.url()).unwrap().connect().await.unwrap();
    let bearer = |key: &str| format!("Bearer {key}");

    let mut methods: Vec<(String, Operation)> =
        OperationTable::get().entries().map(|(path, op)| (path.to_owned(), op)).collect();
    methods.sort_by(|x, y| x.0.cmp(&y.0));
    assert!(methods.len() >= 50, "the walk reaches every method: {}", methods.len());
    let mut checked = 0;
    for (path, operation) in &methods {
        for (case, authorization, reason_wanted) in [
            ("no key", None, "API_KEY_REQUIRED"),
            ("malformed key", Some("Bearer wk_not-a-key".to_owned()), "API_KEY_MALFORMED"),
            ("other scheme", Some("Basic dXNlcjpwYXNz".to_owned()), "API_KEY_MALFORMED"),
            ("revoked key", Some(bearer(&keys.revoked_a)), "API_KEY_INVALID"),
        ] {
            let status = grpc(&channel, path, authorization.as_deref(), &[]).await;
            assert_eq!(status.code(), Code::Unauthenticated, "{path} with {case}: {status:?}");
            assert_eq!(reason(&status), reason_wanted, "{path} with {case}");
            checked += 1;
        }
        for (scope, key) in [("read", &keys.read_a), ("worker", &keys.worker_a)] {
            let status = grpc(&channel, path, Some(&bearer(key)), &[]).await;
            if refused_for(scope, *operation) {
                assert_eq!(status.code(), Code::PermissionDenied, "{path} with a {scope} key: {status:?}");
                assert_eq!(reason(&status), "SCOPE_INSUFFICIENT");
            } else {
                assert!(
                    !matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated),
                    "{path} is open to a {scope} key: {status:?}"
                );
            }
            checked += 1;
        }
    }

    // Tenant A's admin key (every scope) on tenant B's ids.
    let requests = cross_tenant_requests(&b);
    for (path, _) in methods.iter().filter(|(path, _)| !takes_no_id(path)) {
        let service = path.trim_start_matches('/').split('/').next().unwrap();
        if UNBUILT.contains(&service) {
            let status = grpc(&channel, path, Some(&bearer(&keys.admin_a)), &[]).await;
            assert_eq!(status.code(), Code::Unimplemented, "{path}");
            continue;
        }
        let request = requests.get(path.as_str()).unwrap_or_else(|| panic!("the cross-tenant table lacks {path}"));
        let status = grpc(&channel, path, Some(&bearer(&keys.admin_a)), &encode_request(path, request)).await;
        assert_eq!(status.code(), Code::NotFound, "{path} with tenant A's key on tenant B's ids: {status:?}");
        checked += 1;
    }
    let a = client(&server, &keys.admin_a).await;
    let listed = a.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap().into_inner();
    assert!(listed.workflows.is_empty(), "tenant A lists none of tenant B's workflows");

    assert_eq!(snapshot(&server).await, before, "a refused call changed the store");
    eprintln!("{checked} refused gRPC calls checked");
    server.stop().await;
}

/// The path of `route` with its variables bound to tenant B's things.
fn rest_path(segments: &[Segment], verb: Option<&str>, b: &TenantB) -> String {
    let mut path = String::new();
    for segment in segments {
        path.push('/');
        match segment {
            Segment::Literal(text) => path.push_str(text),
            Segment::Variable(field) => path.push_str(match field.as_str() {
                "id" | "workflow.id" | "workflow_id" => &b.workflow,
                "run_id" => &b.run,
                "approval_id" => &b.approval,
                "task_id" => &b.task,
                "worker_id" => &b.worker,
                "key_id" => &b.key,
                "subscription_id" => &b.subscription,
                "template_id" => &b.template,
                "schedule_id" | "schedule.id" => &b.schedule,
                "version" | "v1" | "v2" => "1",
                _ => "unknown-id",
            }),
        }
    }
    if let Some(verb) = verb {
        path.push(':');
        path.push_str(verb);
    }
    path
}

#[tokio::test]
async fn every_rest_binding_refuses_missing_bad_revoked_and_out_of_scope_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;
    let (keys, b) = world(&server).await;
    let before = snapshot(&server).await;
    let table = RouteTable::from_pool(descriptors::pool()).expect("the REST bindings");
    let mut checked = 0;
    for route in table.routes() {
        let Some(operation) = OperationTable::get().operation(&route.grpc_path) else {
            continue; // signed by its own secret, not by a key
        };
        let path = rest_path(&route.segments, route.verb.as_deref(), &b);
        let method = route.http_method.as_str();
        let body = (method != "GET" && method != "DELETE").then(|| json!({}));
        let call = |key: Option<String>| {
            let (server, path, body) = (&server, path.clone(), body.clone());
            async move { rest(server, method, &path, key.as_deref(), body.as_ref()).await }
        };
        for (case, key) in [
            ("no key", None),
            ("malformed key", Some("wk_not-a-key".to_owned())),
            ("revoked key", Some(keys.revoked_a.clone())),
        ] {
            let (status, answer) = call(key).await;
            assert_eq!(status, 401, "{method} {path} with {case}: {answer}");
            assert!(answer["error_code"].as_str().is_some_and(|code| code.starts_with("API_KEY_")), "{answer}");
            checked += 1;
        }
        for (scope, key) in [("read", &keys.read_a), ("worker", &keys.worker_a)] {
            let (status, answer) = call(Some(key.clone())).await;
            if refused_for(scope, operation) {
                assert_eq!(status, 403, "{method} {path} with a {scope} key: {answer}");
            } else {
                assert!(status != 401 && status != 403, "{method} {path} is open to a {scope} key: {answer}");
            }
            checked += 1;
        }
        if !takes_no_id(&route.grpc_path) && route.segments.iter().any(|s| matches!(s, Segment::Variable(_))) {
            let service = route.grpc_path.trim_start_matches('/').split('/').next().unwrap();
            if route.family.profile().in_band_stream_errors(route.method.name()) {
                // 004's streaming execute answers 200 and reports the
                // workflow it cannot see as an in-band error event.
                let auth = format!("Bearer {}", keys.admin_a);
                let headers = [("authorization", auth.as_str()), ("content-type", "application/json")];
                let response = weft_tests::http1::request(server.addr, method, &path, &headers, b"{}").await.unwrap();
                let text = String::from_utf8_lossy(&response.body);
                assert_eq!(response.status, 200, "{method} {path} with tenant A's key: {text}");
                assert!(text.starts_with("event: error\n") && text.contains("not found"), "{path}: {text}");
                checked += 1;
                continue;
            }
            let (status, answer) = call(Some(keys.admin_a.clone())).await;
            let wanted = if UNBUILT.contains(&service) { 501 } else { 404 };
            // A body of `{}` may leave a required field unset; a 400 is
            // then the honest answer, but never a 2xx or another tenant's data.
            assert!(status == wanted || status == 400, "{method} {path} with tenant A's key: {status} {answer}");
            checked += 1;
        }
    }
    // REST also takes the key as x-api-key.
    let response = weft_tests::http1::request(server.addr, "GET", "/v1/workflows", &[("x-api-key", &keys.read_a)], b"")
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(snapshot(&server).await, before, "a refused call changed the store");
    eprintln!("{checked} refused REST calls checked");
    server.stop().await;
}
