//! Webhook steps end to end, against a local receiver that checks every
//! request's `Weft-Signature` independently: fire-and-forget completes on a
//! 2xx with the signed inputMap body, a retry after a 500 carries the same
//! Idempotency-Key, a 4xx is not retried, and a webhook that waits for its
//! callback completes with the callback's body, after tampered, stale,
//! forged and repeated callbacks were refused without changing anything —
//! among them a delivery's own signature posted back, and a callback
//! signed for another run's token.

use std::time::Duration;

use serde_json::{Value, json};
use weft_sdk::pb;
use weft_server::Config;
use weft_tests::receiver::{Answer, Receiver, callback_token, now_secs, sign_callback, verify_delivery};
use weft_tests::runs::{get_run, json_of, start, step, wait_finished};
use weft_tests::store::open_store;
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, eventually, http1};

const SECRET: &str = "test-webhook-secret-0123456789";

fn config() -> Config {
    let mut config = Config::default();
    config.outbound.allow_networks = vec!["127.0.0.0/8".into()];
    config.webhook.secret = Some(SECRET.into());
    config
}

async fn server(dir: &std::path::Path) -> TestServer {
    TestServer::start_on(dir.join("weft.db"), config()).await
}

fn notify(url: &str, extra: Value) -> Value {
    let mut step = json!({
        "id": "notify", "type": "webhook", "url": url, "method": "POST",
        "inputMap": {"lead": "$.input.lead"}, "headers": {"X-Source": "weft"}
    });
    step.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({"name": "notify-crm", "steps": [step]})
}

#[tokio::test]
async fn a_fire_and_forget_webhook_posts_the_signed_input_and_completes_on_2xx() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let receiver = Receiver::start(vec![Answer::json(200, json!({"received": true}))]).await;
    let workflow =
        create_json(&server, notify(&receiver.url("/lead-created"), json!({"waitForCallback": false}))).await;
    let run_id = start(&client, &workflow, json!({"lead": {"name": "Acme"}})).await.id;

    let run = wait_finished(&client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    let notify = step(&run, "notify");
    assert_eq!(json_of(&notify.output), json!({"statusCode": 200, "body": {"received": true}}));

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/lead-created");
    assert_eq!(request.json(), json!({"lead": {"name": "Acme"}}));
    assert_eq!(request.header("x-source"), Some("weft"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("idempotency-key"), Some(format!("{run_id}:notify").as_str()));
    assert_eq!(request.header("weft-callback-url"), None, "no callback without waitForCallback");
    let signed_at = verify_delivery(SECRET, request.header("weft-signature").unwrap(), &request.body).unwrap();
    // The same MAC in the proto's header form.
    let x_signature = request.header("x-weft-signature").unwrap().strip_prefix("sha256=").unwrap();
    let x_timestamp = request.header("x-weft-timestamp").unwrap();
    let as_v1 = format!("t={x_timestamp},v1={x_signature}");
    assert_eq!(verify_delivery(SECRET, &as_v1, &request.body), Ok(signed_at));
    assert!((now_secs() - signed_at).abs() < 60);
    assert!(verify_delivery("another-secret", request.header("weft-signature").unwrap(), &request.body).is_err());
}

#[tokio::test]
async fn every_retry_of_a_webhook_carries_the_same_idempotency_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let receiver = Receiver::start(vec![Answer::text(500, "try later"), Answer::json(200, json!({"n": 2}))]).await;
    let workflow = create_json(&server, notify(&receiver.url("/hook"), json!({"retries": 2}))).await;
    let run_id = start(&client, &workflow, json!({"lead": "acme"})).await.id;

    let run = wait_finished(&client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(step(&run, "notify").attempts, 2);
    let received = receiver.received();
    assert_eq!(received.len(), 2, "one failed delivery, one retry");
    let keys: Vec<_> = received.iter().map(|r| r.header("idempotency-key").unwrap().to_owned()).collect();
    assert_eq!(keys, [format!("{run_id}:notify"), format!("{run_id}:notify")]);
    let attempts: Vec<_> = received.iter().map(|r| r.header("weft-attempt").unwrap().to_owned()).collect();
    assert_eq!(attempts, ["1", "2"]);
    for request in &received {
        verify_delivery(SECRET, request.header("weft-signature").unwrap(), &request.body).unwrap();
        assert_eq!(request.json(), json!({"lead": "acme"}));
    }
}

#[tokio::test]
async fn a_webhook_refused_with_a_4xx_fails_without_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let receiver = Receiver::start(vec![Answer::text(422, "bad lead")]).await;
    let workflow = create_json(&server, notify(&receiver.url("/hook"), json!({"retries": 3}))).await;
    let run_id = start(&client, &workflow, json!({"lead": "acme"})).await.id;

    let run = wait_finished(&client, &run_id, 10).await;
    let notify = step(&run, "notify");
    assert_eq!(notify.status, pb::StepStatus::Failed as i32, "{run:?}");
    assert_eq!(notify.attempts, 1);
    assert_eq!(notify.error, "the webhook receiver answered HTTP 422: bad lead");
    assert_eq!(receiver.received().len(), 1);
}

/// Posts a callback to `url` (an absolute callback URL from the server).
async fn call_back(server: &TestServer, url: &str, signature: Option<String>, body: &[u8]) -> http1::Http1Response {
    let path = url.strip_prefix(&server.url()).expect("a callback URL on the server");
    let mut headers = vec![("content-type", "application/json")];
    let signature = signature.unwrap_or_default();
    if !signature.is_empty() {
        headers.push(("weft-signature", signature.as_str()));
    }
    http1::request(server.addr, "POST", path, &headers, body).await.unwrap()
}

fn error_code(response: &http1::Http1Response) -> String {
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    body["error_code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_webhook_waits_for_its_signed_callback_and_refuses_tampered_ones() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let receiver = Receiver::start(vec![Answer::text(202, "")]).await;
    let definition = json!({"name": "enrich-and-wait", "steps": [
        {"id": "notify", "type": "webhook", "url": receiver.url("/enrich"), "waitForCallback": true,
         "timeout": "60s", "inputMap": {"lead": "$.input.lead"}},
        {"id": "use", "type": "transform", "dependsOn": ["notify"], "output": {"score": "$.notify.output.score"}}
    ]});
    let workflow = create_json(&server, definition).await;
    let run_id = start(&client, &workflow, json!({"lead": "acme"})).await.id;

    let request = receiver.wait_for(1, 10).await.remove(0);
    verify_delivery(SECRET, request.header("weft-signature").unwrap(), &request.body).unwrap();
    let callback = request.header("weft-callback-url").expect("a callback URL").to_owned();
    assert!(callback.starts_with(&format!("{}/v1/callbacks/", server.url())), "{callback}");
    let waiting = wait_step_status(&client, &run_id, "notify", pb::StepStatus::Waiting).await;
    assert_eq!(waiting.status, pb::RunStatus::Running as i32);

    let body = br#"{"score": 91}"#;
    let now = now_secs();
    let token = callback_token(&callback).to_owned();
    let sign = |secret: &str, t: i64, body: &[u8]| sign_callback(secret, &token, t, body);
    // Refused, each changing nothing: no signature, a signature by another
    // key, a body other than the one signed, a signature 6 minutes old, a
    // token altered by one character, and a body that is not JSON.
    let path = callback.strip_prefix(&server.url()).unwrap();
    let get = http1::request(server.addr, "GET", path, &[], b"").await.unwrap();
    assert_eq!((get.status, error_code(&get)), (405, "METHOD_NOT_ALLOWED".to_owned()));
    let refusals = [
        (None, body.to_vec(), callback.clone(), 401, "CALLBACK_SIGNATURE_INVALID"),
        (Some(sign("not-the-secret", now, body)), body.to_vec(), callback.clone(), 401, "CALLBACK_SIGNATURE_INVALID"),
        (
            Some(sign(SECRET, now, body)),
            br#"{"score": 99}"#.to_vec(),
            callback.clone(),
            401,
            "CALLBACK_SIGNATURE_INVALID",
        ),
        (Some(sign(SECRET, now - 360, body)), body.to_vec(), callback.clone(), 401, "CALLBACK_SIGNATURE_INVALID"),
        (Some(sign(SECRET, now, body)), body.to_vec(), tamper(&callback), 404, "CALLBACK_TOKEN_UNKNOWN"),
        (Some(sign(SECRET, now, b"not json")), b"not json".to_vec(), callback.clone(), 400, "CALLBACK_BODY_INVALID"),
    ];
    for (signature, body, url, status, code) in refusals {
        let response = call_back(&server, &url, signature, &body).await;
        assert_eq!(response.status, status, "{}", String::from_utf8_lossy(&response.body));
        assert_eq!(error_code(&response), code);
    }
    let stale = call_back(&server, &callback, Some(sign(SECRET, now - 360, body)), body).await;
    assert!(String::from_utf8_lossy(&stale.body).contains("at most 300 s is accepted"));
    let run = get_run(&client, &run_id).await;
    assert_eq!(run.status, pb::RunStatus::Running as i32, "nothing changed: {run:?}");
    assert_eq!(step(&run, "notify").status, pb::StepStatus::Waiting as i32);

    let accepted = call_back(&server, &callback, Some(sign(SECRET, now_secs(), body)), body).await;
    assert_eq!(accepted.status, 200, "{}", String::from_utf8_lossy(&accepted.body));
    let run = wait_finished(&client, &run_id, 10).await;
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{run:?}");
    assert_eq!(json_of(&step(&run, "notify").output), json!({"score": 91}));
    assert_eq!(json_of(&step(&run, "use").output), json!({"score": 91}));

    // The token is single-use.
    let other = br#"{"score": 5}"#;
    let again = call_back(&server, &callback, Some(sign(SECRET, now_secs(), other)), other).await;
    assert_eq!(again.status, 409, "{}", String::from_utf8_lossy(&again.body));
    assert_eq!(error_code(&again), "CALLBACK_TOKEN_USED");
    assert_eq!(json_of(&step(&get_run(&client, &run_id).await, "notify").output), json!({"score": 91}));
    assert_eq!(receiver.received().len(), 1, "the webhook was sent once");
}

/// Posts `body` to `url` with the given headers.
async fn post_with(server: &TestServer, url: &str, headers: &[(&str, &str)], body: &[u8]) -> http1::Http1Response {
    let path = url.strip_prefix(&server.url()).expect("a callback URL on the server");
    http1::request(server.addr, "POST", path, headers, body).await.unwrap()
}

fn message(response: &http1::Http1Response) -> String {
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    body["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_delivery_signature_or_a_callback_for_another_token_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let receiver = Receiver::start(vec![Answer::text(202, ""), Answer::text(202, "")]).await;
    let workflow =
        create_json(&server, notify(&receiver.url("/hook"), json!({"waitForCallback": true, "timeout": "60s"}))).await;
    let first = start(&client, &workflow, json!({"lead": "acme"})).await.id;
    let second = start(&client, &workflow, json!({"lead": "globex"})).await.id;
    let deliveries = receiver.wait_for(2, 10).await;
    let delivery_of = |run_id: &str| {
        deliveries.iter().find(|r| r.header("weft-run-id") == Some(run_id)).expect("a delivery per run").clone()
    };
    let (to_first, to_second) = (delivery_of(&first), delivery_of(&second));
    let first_url = to_first.header("weft-callback-url").unwrap().to_owned();
    let second_url = to_second.header("weft-callback-url").unwrap().to_owned();
    wait_step_status(&client, &first, "notify", pb::StepStatus::Waiting).await;
    wait_step_status(&client, &second, "notify", pb::StepStatus::Waiting).await;

    // Replay 1: the delivery's own signature and body, posted back to its
    // callback URL, in either header form.
    let echoed = [
        vec![("content-type", "application/json"), ("weft-signature", to_first.header("weft-signature").unwrap())],
        vec![
            ("content-type", "application/json"),
            ("x-weft-signature", to_first.header("x-weft-signature").unwrap()),
            ("x-weft-timestamp", to_first.header("x-weft-timestamp").unwrap()),
        ],
    ];
    for headers in &echoed {
        let response = post_with(&server, &first_url, headers, &to_first.body).await;
        assert_eq!(response.status, 401, "{}", String::from_utf8_lossy(&response.body));
        assert_eq!(error_code(&response), "CALLBACK_SIGNATURE_INVALID");
        assert!(message(&response).contains("delivery signature"), "{}", message(&response));
    }

    // Replay 2: a callback correctly signed for the first run's token,
    // posted to the second run's callback URL.
    let body = br#"{"score": 91}"#;
    let for_first = sign_callback(SECRET, callback_token(&first_url), now_secs(), body);
    let replayed = call_back(&server, &second_url, Some(for_first.clone()), body).await;
    assert_eq!(replayed.status, 401, "{}", String::from_utf8_lossy(&replayed.body));
    assert_eq!(error_code(&replayed), "CALLBACK_SIGNATURE_INVALID");
    assert!(message(&replayed).contains("does not match this callback"), "{}", message(&replayed));

    for run_id in [&first, &second] {
        let run = get_run(&client, run_id).await;
        assert_eq!(run.status, pb::RunStatus::Running as i32, "nothing changed: {run:?}");
        assert_eq!(step(&run, "notify").status, pb::StepStatus::Waiting as i32, "{run:?}");
    }

    // Each run's own correctly signed callback still completes it.
    let accepted = call_back(&server, &first_url, Some(for_first), body).await;
    assert_eq!(accepted.status, 200, "{}", String::from_utf8_lossy(&accepted.body));
    let other = br#"{"score": 12}"#;
    let for_second = sign_callback(SECRET, callback_token(&second_url), now_secs(), other);
    let accepted = call_back(&server, &second_url, Some(for_second), other).await;
    assert_eq!(accepted.status, 200, "{}", String::from_utf8_lossy(&accepted.body));
    let run = wait_finished(&client, &first, 10).await;
    assert_eq!(json_of(&step(&run, "notify").output), json!({"score": 91}));
    let run = wait_finished(&client, &second, 10).await;
    assert_eq!(json_of(&step(&run, "notify").output), json!({"score": 12}));
}

#[tokio::test]
async fn a_webhook_whose_callback_never_comes_fails_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let receiver = Receiver::start(vec![]).await;
    let workflow =
        create_json(&server, notify(&receiver.url("/hook"), json!({"waitForCallback": true, "timeout": "1s"}))).await;
    let run_id = start(&client, &workflow, json!({"lead": "acme"})).await.id;

    let run = wait_finished(&client, &run_id, 15).await;
    let notify = step(&run, "notify");
    assert_eq!(notify.status, pb::StepStatus::Failed as i32, "{run:?}");
    assert_eq!(notify.error, "no callback arrived within 1s");
    let callback = receiver.received()[0].header("weft-callback-url").unwrap().to_owned();
    let body = br#"{"late": true}"#;
    let late =
        call_back(&server, &callback, Some(sign_callback(SECRET, callback_token(&callback), now_secs(), body)), body)
            .await;
    assert_eq!(late.status, 409, "a late callback is refused: {}", String::from_utf8_lossy(&late.body));
}

#[tokio::test]
async fn a_callback_after_a_restart_completes_the_waiting_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let receiver = Receiver::start(vec![]).await;
    let server = TestServer::start_on(database.clone(), config()).await;
    let (run_id, callback) = {
        let client = server.client().await;
        let workflow =
            create_json(&server, notify(&receiver.url("/hook"), json!({"waitForCallback": true, "timeout": "1h"})))
                .await;
        let run_id = start(&client, &workflow, json!({"lead": "acme"})).await.id;
        let request = receiver.wait_for(1, 10).await.remove(0);
        wait_step_status(&client, &run_id, "notify", pb::StepStatus::Waiting).await;
        (run_id, request.header("weft-callback-url").unwrap().to_owned())
    };
    server.stop().await;
    let server = TestServer::start_on(database, config()).await;
    let client = server.client().await;
    // The new server listens on another port; the token is what matters.
    let path = &callback[callback.find("/v1/callbacks/").unwrap()..];
    let body = br#"{"after": "restart"}"#;
    // Signed in the proto's header form this time.
    let t = now_secs();
    let signature = sign_callback(SECRET, callback_token(&callback), t, body);
    let x_signature = format!("sha256={}", signature.split("v1=").nth(1).unwrap());
    let t = t.to_string();
    let headers =
        [("content-type", "application/json"), ("x-weft-signature", x_signature.as_str()), ("x-weft-timestamp", &t)];
    let response = http1::request(server.addr, "POST", path, &headers, body).await.unwrap();
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    let answer: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(answer, json!({"accepted": true, "duplicate": false, "runId": run_id, "stepId": "notify"}));
    let run = wait_finished(&client, &run_id, 10).await;
    assert_eq!(json_of(&step(&run, "notify").output), json!({"after": "restart"}));
    assert_eq!(receiver.received().len(), 1, "not sent again after the restart");
}

#[tokio::test]
async fn a_callback_deadline_that_passes_while_the_server_is_down_fails_the_wait_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let receiver = Receiver::start(vec![]).await;
    let server = TestServer::start_on(database.clone(), config()).await;
    let run_id = {
        let client = server.client().await;
        let workflow =
            create_json(&server, notify(&receiver.url("/hook"), json!({"waitForCallback": true, "timeout": "2s"})))
                .await;
        let run_id = start(&client, &workflow, json!({"lead": "acme"})).await.id;
        wait_step_status(&client, &run_id, "notify", pb::StepStatus::Waiting).await;
        receiver.wait_for(1, 10).await;
        run_id
    };
    wait_lease_held_until_callback_deadline(&database).await;
    server.stop().await;
    let server = TestServer::start_on(database, config()).await;
    let client = server.client().await;
    // The held lease ends 5 s after the 2 s deadline; the sweeper then fails
    // the attempt, with no retries left.
    let run = wait_finished(&client, &run_id, 20).await;
    let notify = step(&run, "notify");
    assert_eq!(notify.status, pb::StepStatus::Failed as i32, "{run:?}");
    assert_eq!(notify.error, "no callback arrived for attempt 1 before its deadline");
}

#[tokio::test]
async fn a_stop_before_the_answer_is_read_still_waits_out_the_callback_deadline_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let mut config = config();
    config.outbound.request_timeout_ms = 2_000;
    // The receiver keeps the request open past the stop: the server never
    // reads its answer, yet the receiver holds a callback token.
    let receiver = Receiver::start(vec![Answer::json(200, json!({"ok": true})).after(Duration::from_secs(30))]).await;
    let server = TestServer::start_on(database.clone(), config.clone()).await;
    let run_id = {
        let client = server.client().await;
        let workflow =
            create_json(&server, notify(&receiver.url("/hook"), json!({"waitForCallback": true, "timeout": "2s"})))
                .await;
        let run_id = start(&client, &workflow, json!({"lead": "acme"})).await.id;
        receiver.wait_for(1, 10).await;
        run_id
    };
    let sent = tokio::time::Instant::now();
    server.stop().await;
    let server = TestServer::start_on(database, config).await;
    let client = server.client().await;
    // Held before sending: the request timeout (2 s), the callback timeout
    // (2 s) and the grace (5 s). The 60 s claim lease would outlast this wait.
    let run = wait_finished(&client, &run_id, 20).await;
    let notify = step(&run, "notify");
    assert_eq!(notify.status, pb::StepStatus::Failed as i32, "{run:?}");
    assert_eq!(notify.error, "no callback arrived for attempt 1 before its deadline");
    assert!(sent.elapsed() >= Duration::from_secs(4), "failed before its callback could have been due: {run:?}");
    assert_eq!(receiver.received().len(), 1, "not sent again");
}

/// Waits until the executor has stored the held lease (callback deadline
/// plus grace, well short of the 60 s claim lease). The receiver sees the
/// request before the executor reads the answer and holds the lease; a
/// stop in between leaves the claim lease, which would expire long after
/// this test's patience.
async fn wait_lease_held_until_callback_deadline(database: &std::path::Path) {
    let store = open_store(database).await.shared();
    let store = &store;
    eventually("the lease is held until the callback deadline", 30, || async move {
        let now_ms = now_secs() * 1000;
        match store.next_lease_deadline().await.unwrap() {
            Some(lease_ends) if lease_ends < now_ms + 30_000 => Ok(()),
            other => Err(other),
        }
    })
    .await;
}

#[tokio::test]
async fn a_webhook_without_a_url_is_refused_at_create_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let definition = json!({"name": "no-url", "steps": [{"id": "notify", "type": "webhook", "method": "POST"}]});
    let (status, body) = http1::json(server.addr, "POST", "/v1/workflows", Some(definition)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("needs 'url'"), "{body}");
    let (_, listed) = http1::json(server.addr, "GET", "/v1/workflows", None).await;
    assert_eq!(listed, json!([]), "nothing was stored");
}

#[tokio::test]
async fn workers_cannot_register_the_reserved_builtin_agents() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let request = pb::RegisterWorkerRequest { agents: vec!["weft:webhook".into()], ..Default::default() };
    let err = client.workers().register_worker(request).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("reserved"), "{}", err.message());
    let listed = client.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner();
    assert!(listed.workers.is_empty(), "nothing registered, and the built-in executor is not listed");
}

fn tamper(url: &str) -> String {
    let mut chars: Vec<char> = url.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

async fn wait_step_status(client: &weft_sdk::Weft, run_id: &str, id: &str, status: pb::StepStatus) -> pb::Run {
    eventually(&format!("step {id} reaches {status:?}"), 30, || async move {
        let run = get_run(client, run_id).await;
        if run.steps.iter().any(|s| s.id == id && s.status == status as i32) { Ok(run) } else { Err(run) }
    })
    .await
}
