//! Deployable webhook triggers (004), end to end over REST and gRPC: a
//! graph's webhook trigger block gets its credentials when saved (readable
//! through GET, stable across versions; outbound webhook steps get none);
//! deploy → arm → one inbound call starts one run with the body as input;
//! every refusal (second call, expired window, bad or missing secret,
//! undeployed workflow, unknown webhook, bad body) has its own code and
//! starts nothing; an HMAC signature is accepted; the window survives a
//! restart; and on Postgres two replicas racing on one window start exactly
//! one run. Runs on the suite's store.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::api::convert::value_to_pb;
use weft_server::api::convert_runs::value_from_pb;
use weft_tests::TestServer;
use weft_tests::http1::{self, Http1Response};
use weft_tests::runs::wait_finished;
use weft_tests::shape::assert_shape;

/// A graph whose webhook trigger block feeds its response block.
fn trigger_graph() -> Value {
    json!({
        "blocks": [
            {"id": "hook", "type": "webhook", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "reply", "type": "response", "config": {}, "position": {"x": 300, "y": 0}}
        ],
        "edges": [{"source": "hook", "target": "reply"}]
    })
}

/// Creates a workflow the 004 way (POST, then PUT its graph); its id.
async fn graph_workflow(server: &TestServer, graph: Value) -> String {
    graph_workflow_at(server.addr, graph).await
}

async fn graph_workflow_at(addr: SocketAddr, graph: Value) -> String {
    // Workflow names are unique per tenant, and tests make several of these.
    static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!("Hooked {}", MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    let (status, created) = http1::json(addr, "POST", "/api/workflows", Some(json!({"name": name}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, saved) = http1::json(addr, "PUT", &format!("/api/workflows/{id}/graph"), Some(graph)).await;
    assert_eq!(status, 200, "{saved}");
    id
}

/// The trigger block's (webhook_id, webhook_secret), as GET shows them.
async fn credentials(server: &TestServer, id: &str) -> (String, String) {
    credentials_at(server.addr, id).await
}

async fn credentials_at(addr: SocketAddr, id: &str) -> (String, String) {
    let (status, got) = http1::json(addr, "GET", &format!("/api/workflows/{id}"), None).await;
    assert_eq!(status, 200, "{got}");
    let block = got["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "webhook").expect("a webhook block");
    let text = |key: &str| block["config"][key].as_str().unwrap_or_else(|| panic!("no {key} in {block}")).to_owned();
    (text("webhook_id"), text("webhook_secret"))
}

async fn post(server: &TestServer, path: &str) -> (u16, Value) {
    http1::json(server.addr, "POST", path, None).await
}

/// The inbound call with `headers` and `body`.
async fn fire(server: &TestServer, webhook_id: &str, headers: &[(&str, &str)], body: &[u8]) -> Http1Response {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    http1::request(server.addr, "POST", &format!("/hooks/{webhook_id}"), &all, body).await.expect("HTTP exchange")
}

fn answer(response: &Http1Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or(Value::Null)
}

/// Status and error_code of a refused call.
fn refusal(response: &Http1Response) -> (u16, String) {
    let body = answer(response);
    (response.status, body["error_code"].as_str().unwrap_or_default().to_owned())
}

async fn runs_of(client: &Weft, workflow_id: &str) -> Vec<pb::Run> {
    let request = pb::ListRunsRequest { workflow_id: workflow_id.into(), page_size: 100, ..Default::default() };
    client.runs().list_runs(request).await.unwrap().into_inner().runs
}

fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn a_saved_trigger_block_gets_credentials_readable_by_get_and_kept_across_versions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = graph_workflow(&server, trigger_graph()).await;
    let (webhook_id, secret) = credentials(&server, &id).await;
    assert!(webhook_id.starts_with("wh_") && webhook_id.len() == 29, "{webhook_id}");
    assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64, "{secret}");

    // gRPC GET shows the same pair on the block.
    let request = pb::GetWorkflowRequest { id: id.clone() };
    let got = client.workflows().get_workflow(request).await.unwrap().into_inner();
    let text = format!("{got:?}");
    assert!(text.contains(&webhook_id) && text.contains(&secret), "gRPC GET shows the credentials: {text}");

    // A re-save that omits them (or writes others), and a metadata update,
    // keep the pair.
    let mut forged = trigger_graph();
    forged["blocks"][0]["config"] = json!({"webhook_id": "wh_mine", "webhook_secret": "guessable"});
    for graph in [trigger_graph(), forged] {
        let (status, saved) = http1::json(server.addr, "PUT", &format!("/api/workflows/{id}/graph"), Some(graph)).await;
        assert_eq!(status, 200, "{saved}");
        assert_eq!(credentials(&server, &id).await, (webhook_id.clone(), secret.clone()));
    }
    let (status, _) =
        http1::json(server.addr, "PATCH", &format!("/api/workflows/{id}"), Some(json!({"name": "Renamed"}))).await;
    assert_eq!(status, 200);
    assert_eq!(credentials(&server, &id).await, (webhook_id.clone(), secret.clone()));

    // Another workflow's trigger has its own pair.
    let other = graph_workflow(&server, trigger_graph()).await;
    assert_ne!(credentials(&server, &other).await.0, webhook_id);

    // An outbound webhook step (an upstream block and a url) gets none.
    let outbound = json!({
        "blocks": [
            {"id": "begin", "type": "starter", "config": {}},
            {"id": "notify", "type": "webhook", "config": {"url": "https://hooks.example.com/x", "method": "POST"}}
        ],
        "edges": [{"source": "begin", "target": "notify"}]
    });
    let plain = graph_workflow(&server, outbound).await;
    let (_, got) = http1::json(server.addr, "GET", &format!("/api/workflows/{plain}"), None).await;
    assert!(!got.to_string().contains("webhook_id"), "{got}");

    // A trigger's config holds only its credentials.
    let mut bad = trigger_graph();
    bad["blocks"][0]["config"] = json!({"method": "POST"});
    let (status, refused) = http1::json(server.addr, "PUT", &format!("/api/workflows/{id}/graph"), Some(bad)).await;
    assert_eq!((status, refused["error_code"].as_str()), (400, Some("VALIDATION_ERROR")), "{refused}");
}

#[tokio::test]
async fn deploy_arm_and_one_call_start_one_run_and_a_second_call_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = graph_workflow(&server, trigger_graph()).await;
    let (webhook_id, secret) = credentials(&server, &id).await;

    // 004's shapes: deploy and undeploy answer ok, arm {ok, armed_until}.
    // Its examples send no body and no content type.
    let bare = http1::request(server.addr, "POST", &format!("/api/workflows/{id}/deploy"), &[], b"").await.unwrap();
    assert_eq!(bare.status, 200, "{}", String::from_utf8_lossy(&bare.body));
    let (status, deployed) = post(&server, &format!("/api/workflows/{id}/deploy")).await;
    assert_eq!(status, 200, "{deployed}");
    assert_eq!(deployed["ok"], true, "{deployed}");
    let (status, armed) = post(&server, &format!("/api/workflows/{id}/arm")).await;
    assert_eq!(status, 200, "{armed}");
    assert_shape(&armed, &json!({"ok": true, "armed_until": "2026-01-01T00:00:00Z", "...": true}), "arm");
    let until = chrono_secs(armed["armed_until"].as_str().unwrap());
    assert!((until - now_secs() - 600).abs() <= 5, "a ten-minute window: {armed}");

    let body = br#"{"text": "hello", "n": 3}"#;
    let first = fire(&server, &webhook_id, &[("x-weft-webhook-secret", &secret)], body).await;
    assert_eq!(first.status, 202, "{}", String::from_utf8_lossy(&first.body));
    let run_id = answer(&first)["run_id"].as_str().expect("{run_id}").to_owned();
    let run = wait_finished(&client, &run_id, 30).await;
    assert_eq!(run.status(), pb::RunStatus::Completed);
    assert_eq!(run.trigger, "webhook");
    let output = run.output.as_ref().map(value_from_pb).unwrap_or_default();
    assert!(output.to_string().contains("hello"), "the body is the input, forwarded to the response: {output}");

    // The window took its one call.
    let second = fire(&server, &webhook_id, &[("x-weft-webhook-secret", &secret)], body).await;
    assert_eq!(refusal(&second), (409, "WEBHOOK_NOT_ARMED".into()));
    assert_shape(&answer(&second), &json!({"error": "e", "error_code": "C"}), "004's structured error");
    assert_eq!(runs_of(&client, &id).await.len(), 1, "the second call started nothing");

    // The status tells the last fire; runs filter by trigger.
    let request = pb::GetTriggerStatusRequest { workflow_id: id.clone() };
    let status = client.triggers().get_trigger_status(request).await.unwrap().into_inner().trigger.unwrap();
    assert!(status.deployed && !status.armed && status.armed_until.is_none());
    assert_eq!((status.webhook_id.as_str(), status.last_run_id.as_str()), (webhook_id.as_str(), run_id.as_str()));
    assert!(status.last_fire_time.is_some() && status.webhook_url.ends_with(&format!("/v1/hooks/{webhook_id}")));
    let (code, rest_status) = http1::json(server.addr, "GET", &format!("/v1/workflows/{id}/trigger"), None).await;
    assert_eq!((code, &rest_status["lastRunId"]), (200, &json!(run_id)), "{rest_status}");

    // Re-armed, it takes the next call; undeployed, it takes none.
    post(&server, &format!("/api/workflows/{id}/arm")).await;
    let headers = [("content-type", "application/json"), ("x-weft-webhook-secret", secret.as_str())];
    let path = format!("/v1/hooks/{webhook_id}");
    let again = http1::request(server.addr, "POST", &path, &headers, b"{}").await.unwrap();
    assert_eq!(again.status, 202);
    assert!(answer(&again)["runId"].as_str().is_some(), "/v1 writes protobuf's JSON names");
    let (status, undeployed) = post(&server, &format!("/api/workflows/{id}/undeploy")).await;
    assert_eq!((status, &undeployed["ok"]), (200, &json!(true)), "{undeployed}");
    let (status, refused) = post(&server, &format!("/api/workflows/{id}/arm")).await;
    assert_eq!(status, 409, "{refused}");
    assert_shape(&refused, &json!({"error": "e"}), "arm refused, 004's plain error");
    assert_eq!(runs_of(&client, &id).await.len(), 2);
}

/// Unix seconds of an RFC 3339 UTC time `YYYY-MM-DDTHH:MM:SS[.f]Z`.
fn chrono_secs(text: &str) -> i64 {
    let (date, time) = text.split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let t: Vec<i64> = time.trim_end_matches('Z').split(':').map(|p| p.parse::<f64>().unwrap() as i64).collect();
    // Days from civil (Howard Hinnant).
    let (y, m) = if d[1] <= 2 { (d[0] - 1, d[1] + 9) } else { (d[0], d[1] - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

#[tokio::test]
async fn every_refusal_has_its_code_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = graph_workflow(&server, trigger_graph()).await;
    let (webhook_id, secret) = credentials(&server, &id).await;
    let with_secret = [("x-weft-webhook-secret", secret.as_str())];

    // Unknown webhook; a webhook whose workflow was never deployed is not
    // known yet either; deployed but never armed; deployed, then undeployed.
    assert_eq!(refusal(&fire(&server, "wh_nothing", &with_secret, b"{}").await), (404, "WEBHOOK_NOT_FOUND".into()));
    assert_eq!(refusal(&fire(&server, &webhook_id, &with_secret, b"{}").await), (404, "WEBHOOK_NOT_FOUND".into()));
    post(&server, &format!("/api/workflows/{id}/deploy")).await;
    assert_eq!(refusal(&fire(&server, &webhook_id, &with_secret, b"{}").await), (409, "WEBHOOK_NOT_ARMED".into()));
    post(&server, &format!("/api/workflows/{id}/arm")).await;
    post(&server, &format!("/api/workflows/{id}/undeploy")).await;
    assert_eq!(refusal(&fire(&server, &webhook_id, &with_secret, b"{}").await), (409, "WORKFLOW_NOT_DEPLOYED".into()));
    post(&server, &format!("/api/workflows/{id}/deploy")).await;
    assert_eq!(
        refusal(&fire(&server, &webhook_id, &with_secret, b"{}").await),
        (409, "WEBHOOK_NOT_ARMED".into()),
        "undeploying disarmed it"
    );

    // Armed: bad credentials and bad bodies are refused, and the window
    // stays open for the good call after them.
    post(&server, &format!("/api/workflows/{id}/arm")).await;
    let wrong = [("x-weft-webhook-secret", "whsec_wrong")];
    assert_eq!(refusal(&fire(&server, &webhook_id, &wrong, b"{}").await), (401, "WEBHOOK_SECRET_INVALID".into()));
    assert_eq!(refusal(&fire(&server, &webhook_id, &[], b"{}").await), (401, "WEBHOOK_AUTH_REQUIRED".into()));
    let stale = now_secs() - 3600;
    let stale_sig = sign(&secret, stale, b"{}");
    let stale_headers = [("x-weft-signature", stale_sig.as_str()), ("x-weft-timestamp", &stale.to_string())];
    assert_eq!(
        refusal(&fire(&server, &webhook_id, &stale_headers, b"{}").await),
        (401, "WEBHOOK_TIMESTAMP_STALE".into())
    );
    assert_eq!(
        refusal(&fire(&server, &webhook_id, &with_secret, b"{not json").await),
        (400, "WEBHOOK_BODY_INVALID".into())
    );
    let huge = format!("{{\"a\": \"{}\"}}", "x".repeat(1024 * 1024 + 10));
    assert_eq!(
        refusal(&fire(&server, &webhook_id, &with_secret, huge.as_bytes()).await),
        (413, "BODY_TOO_LARGE".into())
    );
    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    assert_eq!(refusal(&fire(&server, &webhook_id, &with_secret, deep.as_bytes()).await).0, 400);
    let long_id = format!("wh_{}", "a".repeat(100));
    assert_eq!(refusal(&fire(&server, &long_id, &with_secret, b"{}").await).0, 400);
    assert!(runs_of(&client, &id).await.is_empty(), "no refusal started a run");
    let good = fire(&server, &webhook_id, &with_secret, b"").await;
    assert_eq!(good.status, 202, "the window was still open: {}", String::from_utf8_lossy(&good.body));

    // A short window runs out: 410, and still nothing starts.
    let (status, armed) =
        http1::json(server.addr, "POST", &format!("/v1/workflows/{id}:arm"), Some(json!({"windowSeconds": 1}))).await;
    assert_eq!(status, 200, "{armed}");
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(refusal(&fire(&server, &webhook_id, &with_secret, b"{}").await), (410, "WEBHOOK_WINDOW_EXPIRED".into()));
    assert_eq!(runs_of(&client, &id).await.len(), 1);
}

#[tokio::test]
async fn a_body_the_input_schema_refuses_leaves_the_window_armed() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let mut definition = trigger_graph();
    definition["name"] = json!("Typed");
    definition["inputSchema"] =
        json!({"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}});
    let id = weft_tests::workflows::create_json(&server, definition).await;
    let (webhook_id, secret) = credentials(&server, &id).await;
    post(&server, &format!("/api/workflows/{id}/deploy")).await;
    post(&server, &format!("/api/workflows/{id}/arm")).await;
    let headers = [("x-weft-webhook-secret", secret.as_str())];
    let refused = fire(&server, &webhook_id, &headers, br#"{"name": "no email"}"#).await;
    assert_eq!(refusal(&refused), (422, "INPUT_SCHEMA_VIOLATION".into()));
    assert!(runs_of(&client, &id).await.is_empty());
    let accepted = fire(&server, &webhook_id, &headers, br#"{"email": "a@example.com"}"#).await;
    assert_eq!(accepted.status, 202, "{}", String::from_utf8_lossy(&accepted.body));
}

#[tokio::test]
async fn an_hmac_signed_call_is_accepted_and_its_repeat_answers_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let id = graph_workflow(&server, trigger_graph()).await;
    let (webhook_id, secret) = credentials(&server, &id).await;
    post(&server, &format!("/api/workflows/{id}/deploy")).await;
    post(&server, &format!("/api/workflows/{id}/arm")).await;

    let body = br#"{"order": 42}"#;
    let t = now_secs();
    let forged = sign("whsec_not_it", t, body);
    let forged_headers = [("x-weft-signature", forged.as_str()), ("x-weft-timestamp", &t.to_string())];
    assert_eq!(
        refusal(&fire(&server, &webhook_id, &forged_headers, body).await),
        (401, "WEBHOOK_SIGNATURE_INVALID".into())
    );
    let signature = sign(&secret, t, body);
    let t_text = t.to_string();
    let headers = [("x-weft-signature", signature.as_str()), ("x-weft-timestamp", t_text.as_str())];
    // The signature covers the bytes: the same one over other bytes fails.
    assert_eq!(
        refusal(&fire(&server, &webhook_id, &headers, br#"{"order": 43}"#).await),
        (401, "WEBHOOK_SIGNATURE_INVALID".into())
    );
    let fired = fire(&server, &webhook_id, &headers, body).await;
    assert_eq!(fired.status, 202, "{}", String::from_utf8_lossy(&fired.body));
    let run_id = answer(&fired)["run_id"].as_str().unwrap().to_owned();
    let run = wait_finished(&client, &run_id, 30).await;
    assert_eq!(run.input.as_ref().map(value_from_pb), Some(json!({"order": 42})), "the body is the input");

    // A repeat of the delivery that fired answers its run, starting nothing.
    let repeat = fire(&server, &webhook_id, &headers, body).await;
    assert_eq!((repeat.status, answer(&repeat)["run_id"].as_str()), (202, Some(run_id.as_str())));
    assert_eq!(runs_of(&client, &id).await.len(), 1);
}

#[tokio::test]
async fn the_armed_window_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), Config::default()).await;
    let id = graph_workflow(&server, trigger_graph()).await;
    let (webhook_id, secret) = credentials(&server, &id).await;
    post(&server, &format!("/api/workflows/{id}/deploy")).await;
    post(&server, &format!("/api/workflows/{id}/arm")).await;
    server.stop().await;

    let server = TestServer::start_on(database, Config::default()).await;
    let fired = fire(&server, &webhook_id, &[("x-weft-webhook-secret", &secret)], b"{}").await;
    assert_eq!(fired.status, 202, "{}", String::from_utf8_lossy(&fired.body));
}

#[tokio::test]
async fn a_workflow_without_a_trigger_block_gets_its_secret_once_on_deploy_and_rotation_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let graph = json!({
        "blocks": [{"id": "begin", "type": "starter"}, {"id": "reply", "type": "response"}],
        "edges": [{"source": "begin", "target": "reply"}]
    });
    let id = graph_workflow(&server, graph).await;
    let deploy = |rotate| pb::DeployWorkflowRequest { workflow_id: id.clone(), rotate_secret: rotate };
    let first = client.triggers().deploy_workflow(deploy(false)).await.unwrap().into_inner();
    let webhook_id = first.trigger.unwrap().webhook_id;
    assert!(webhook_id.starts_with("wh_") && first.webhook_secret.starts_with("whsec_"));
    let again = client.triggers().deploy_workflow(deploy(false)).await.unwrap().into_inner();
    assert_eq!(again.webhook_secret, "", "the secret is shown once");
    let rotated = client.triggers().deploy_workflow(deploy(true)).await.unwrap().into_inner();
    assert_eq!(rotated.trigger.unwrap().webhook_id, webhook_id);
    assert_ne!(rotated.webhook_secret, first.webhook_secret);

    let arm = pb::ArmWebhookRequest { workflow_id: id.clone(), window_seconds: 0 };
    client.triggers().arm_webhook(arm).await.unwrap();
    let old = fire(&server, &webhook_id, &[("x-weft-webhook-secret", &first.webhook_secret)], b"{}").await;
    assert_eq!(refusal(&old), (401, "WEBHOOK_SECRET_INVALID".into()));
    // Over gRPC, with the secret and a decoded payload.
    let call = pb::FireWebhookRequest {
        webhook_id: webhook_id.clone(),
        payload: Some(value_to_pb(&json!({"via": "grpc"}))),
        secret: rotated.webhook_secret.clone(),
        ..Default::default()
    };
    let fired = client.triggers().fire_webhook(call).await.unwrap().into_inner();
    assert!(fired.run_id.starts_with("wfrun_") || !fired.run_id.is_empty());

    // A rotation on a trigger block writes a new version with the new secret.
    let hooked = graph_workflow(&server, trigger_graph()).await;
    let (hook_id, old_secret) = credentials(&server, &hooked).await;
    let request = pb::DeployWorkflowRequest { workflow_id: hooked.clone(), rotate_secret: true };
    let answer = client.triggers().deploy_workflow(request).await.unwrap().into_inner();
    assert_eq!(credentials(&server, &hooked).await, (hook_id.clone(), answer.webhook_secret.clone()));
    assert_ne!(answer.webhook_secret, old_secret);
    // Rolling back to the version before the rotation keeps the new secret.
    let rollback = pb::RollbackWorkflowRequest { id: hooked.clone(), version: 2, change_summary: String::new() };
    client.workflows().rollback_workflow(rollback).await.unwrap();
    assert_eq!(credentials(&server, &hooked).await, (hook_id, answer.webhook_secret.clone()));
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    result.map(drop).expect_err("refused").code()
}

#[tokio::test]
async fn each_trigger_rpc_refuses_bad_input_and_deliver_callback_stays_unimplemented() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let triggers = client.triggers();
    let long = "wf_".to_owned() + &"x".repeat(200);

    let deploy = |id: &str| pb::DeployWorkflowRequest { workflow_id: id.into(), rotate_secret: false };
    assert_eq!(code(triggers.clone().deploy_workflow(deploy("")).await), Code::InvalidArgument);
    assert_eq!(code(triggers.clone().deploy_workflow(deploy(&long)).await), Code::InvalidArgument);
    assert_eq!(code(triggers.clone().deploy_workflow(deploy("wf_missing")).await), Code::NotFound);
    let undeploy = |id: &str| pb::UndeployWorkflowRequest { workflow_id: id.into() };
    assert_eq!(code(triggers.clone().undeploy_workflow(undeploy("")).await), Code::InvalidArgument);
    assert_eq!(code(triggers.clone().undeploy_workflow(undeploy("wf_missing")).await), Code::NotFound);
    let arm = |id: &str| pb::ArmWebhookRequest { workflow_id: id.into(), window_seconds: 5 };
    assert_eq!(code(triggers.clone().arm_webhook(arm("")).await), Code::InvalidArgument);
    assert_eq!(code(triggers.clone().arm_webhook(arm("wf_missing")).await), Code::NotFound);
    let status = |id: &str| pb::GetTriggerStatusRequest { workflow_id: id.into() };
    assert_eq!(code(triggers.clone().get_trigger_status(status(&long)).await), Code::InvalidArgument);
    assert_eq!(code(triggers.clone().get_trigger_status(status("wf_missing")).await), Code::NotFound);

    // Arming an undeployed workflow is FAILED_PRECONDITION.
    let id = graph_workflow(&server, trigger_graph()).await;
    assert_eq!(code(triggers.clone().arm_webhook(arm(&id)).await), Code::FailedPrecondition);

    let fire = |webhook_id: &str, secret: &str| pb::FireWebhookRequest {
        webhook_id: webhook_id.into(),
        secret: secret.into(),
        ..Default::default()
    };
    assert_eq!(code(triggers.clone().fire_webhook(fire("", "s")).await), Code::InvalidArgument);
    assert_eq!(code(triggers.clone().fire_webhook(fire("wh_unknown", "s")).await), Code::NotFound);
    let mut both = fire("wh_unknown", "s");
    both.payload = Some(value_to_pb(&json!({})));
    both.raw_body = b"{}".to_vec();
    assert_eq!(code(triggers.clone().fire_webhook(both).await), Code::InvalidArgument);
    assert_eq!(code(triggers.clone().fire_webhook(fire("wh_unknown", &"s".repeat(600))).await), Code::InvalidArgument);

    let callback = pb::DeliverCallbackRequest { token: "t".into(), payload: None };
    assert_eq!(code(triggers.clone().deliver_callback(callback).await), Code::Unimplemented);
    // REST: another tenant's or an unknown workflow is 404 with 004's plain body.
    let (status, body) = post(&server, "/api/workflows/wf_missing/deploy").await;
    assert_eq!(status, 404, "{body}");
    assert_shape(&body, &json!({"error": "e"}), "deploy refused");
}

/// Two replicas on one Postgres schema, each taking calls for the same
/// armed webhook at once: exactly one run starts.
#[tokio::test]
async fn two_replicas_racing_on_one_armed_webhook_start_exactly_one_run() {
    let Some(base) = weft_tests::store::postgres_or_skip("two_replicas_racing_on_one_armed_webhook").await else {
        return;
    };
    let url = weft_tests::store::fresh_schema_url(&base).await;
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Config { listen: addr, database_url: url.clone(), ..Config::default() };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(weft_server::run(listener, config, async {
            let _ = stopped.await;
        }));
        let client = Weft::connect(format!("http://{addr}")).await.unwrap();
        weft_tests::eventually("the replica serves", 60, || {
            let client = client.clone();
            async move { client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await }
        })
        .await;
        replicas.push((addr, client, stop, task));
    }
    let (a, b) = (replicas[0].0, replicas[1].0);
    let id = graph_workflow_at(a, trigger_graph()).await;
    let (webhook_id, secret) = credentials_at(a, &id).await;
    assert_eq!(http1::json(a, "POST", &format!("/api/workflows/{id}/deploy"), None).await.0, 200);

    for round in 0..3 {
        assert_eq!(http1::json(b, "POST", &format!("/api/workflows/{id}/arm"), None).await.0, 200);
        let calls = (0..8).map(|i| {
            let (addr, webhook_id, secret) = (if i % 2 == 0 { a } else { b }, webhook_id.clone(), secret.clone());
            tokio::spawn(async move {
                let headers = [("content-type", "application/json"), ("x-weft-webhook-secret", secret.as_str())];
                let body = format!("{{\"call\": {i}}}");
                let path = format!("/hooks/{webhook_id}");
                http1::request(addr, "POST", &path, &headers, body.as_bytes()).await.unwrap().status
            })
        });
        let mut statuses = Vec::new();
        for call in calls.collect::<Vec<_>>() {
            statuses.push(call.await.unwrap());
        }
        statuses.sort();
        assert_eq!(statuses, [202, 409, 409, 409, 409, 409, 409, 409], "round {round}");
    }
    assert_eq!(runs_of(&replicas[0].1, &id).await.len(), 3, "one run per arm");
    for (_, _, stop, task) in replicas {
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }
}

/// With keys required, the inbound call needs none (its secret is its
/// credential), while deploy and arm need a write key of the workflow's
/// tenant, and another tenant's workflow is NOT_FOUND.
#[tokio::test]
async fn the_inbound_call_needs_no_key_while_deploy_and_arm_need_the_tenants_write_key() {
    use weft_server::model::KeyScope;
    use weft_tests::auth::{make_key, rest, start_requiring_keys};
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;
    let (writer, reader) =
        (make_key(&server, "acme", KeyScope::Write).await, make_key(&server, "acme", KeyScope::Read).await);
    let stranger = make_key(&server, "globex", KeyScope::Admin).await;

    let (status, created) =
        rest(&server, "POST", "/api/workflows", Some(&writer), Some(&json!({"name": "Keyed"}))).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, _) =
        rest(&server, "PUT", &format!("/api/workflows/{id}/graph"), Some(&writer), Some(&trigger_graph())).await;
    assert_eq!(status, 200);
    let (_, got) = rest(&server, "GET", &format!("/api/workflows/{id}"), Some(&reader), None).await;
    let block = &got["blocks"][0]["config"];
    let (webhook_id, secret) = (block["webhook_id"].as_str().unwrap(), block["webhook_secret"].as_str().unwrap());

    let deploy = format!("/api/workflows/{id}/deploy");
    assert_eq!(rest(&server, "POST", &deploy, None, Some(&json!({}))).await.0, 401);
    assert_eq!(rest(&server, "POST", &deploy, Some(&reader), Some(&json!({}))).await.0, 403);
    assert_eq!(rest(&server, "POST", &deploy, Some(&stranger), Some(&json!({}))).await.0, 404);
    assert_eq!(rest(&server, "POST", &deploy, Some(&writer), Some(&json!({}))).await.0, 200);
    let arm = format!("/api/workflows/{id}/arm");
    assert_eq!(rest(&server, "POST", &arm, Some(&stranger), Some(&json!({}))).await.0, 404);
    assert_eq!(rest(&server, "POST", &arm, Some(&writer), Some(&json!({}))).await.0, 200);
    let (status, trigger) = rest(&server, "GET", &format!("/v1/workflows/{id}/trigger"), Some(&reader), None).await;
    assert_eq!((status, &trigger["armed"]), (200, &json!(true)), "{trigger}");

    let fired = fire(&server, webhook_id, &[("x-weft-webhook-secret", secret)], b"{}").await;
    assert_eq!(fired.status, 202, "{}", String::from_utf8_lossy(&fired.body));
}
