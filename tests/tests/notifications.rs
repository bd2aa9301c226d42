//! Notification webhooks end to end, against a local receiver that checks
//! every signature independently: the five events are delivered signed
//! with the subscription's own secret to the subscriptions that want them
//! (type and workflow filters), a refusing receiver is retried with
//! backoff and the delivery log shows each attempt, a 4xx and spent
//! attempts give up, undelivered notifications are delivered after a
//! restart (events recorded while no dispatcher ran, and a retry due
//! after the stop), and one tenant's subscriptions never see another's
//! runs. Runs on the suite's store (SQLite, or Postgres with
//! `WEFT_TEST_STORE=postgres`).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::model::KeyScope;
use weft_tests::auth::{make_key, rest};
use weft_tests::receiver::{Answer, Received, Receiver, verify_delivery};
use weft_tests::runs::{start, wait_finished, wait_for};
use weft_tests::workers::{heartbeat, poll_one, register, usd};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, eventually};

/// Loopback receivers allowed, five fast attempts.
fn config() -> Config {
    let mut config = Config::default();
    config.outbound.allow_networks = vec!["127.0.0.0/8".into()];
    config.notifications.max_attempts = 5;
    config.notifications.initial_backoff_ms = 100;
    config.notifications.max_backoff_ms = 400;
    config.notifications.poll_interval_ms = 20;
    config
}

async fn server_with(dir: &Path, config: Config) -> TestServer {
    TestServer::start_on(dir.join("weft.db"), config).await
}

/// A workflow of one transform: it completes as soon as it starts.
fn completes(name: &str) -> Value {
    json!({"name": name, "steps": [{"id": "shape", "type": "transform", "output": {"company": "$.input.company"}}]})
}

/// A workflow whose only step calls an address the SSRF rules refuse: it
/// fails at once, without a retry.
fn fails(name: &str) -> Value {
    json!({"name": name, "steps": [{"id": "call", "type": "webhook", "url": "http://169.254.169.254/latest"}]})
}

async fn subscribe(
    client: &Weft,
    url: &str,
    events: &[&str],
    workflow_id: &str,
) -> (pb::NotificationSubscription, String) {
    let request = pb::CreateSubscriptionRequest {
        url: url.into(),
        event_types: events.iter().map(|e| e.to_string()).collect(),
        workflow_id: workflow_id.into(),
        description: "test".into(),
    };
    let made = client.notifications().create_subscription(request).await.expect("CreateSubscription").into_inner();
    (made.subscription.expect("a subscription"), made.secret)
}

async fn deliveries(client: &Weft, subscription_id: &str) -> Vec<pb::NotificationDelivery> {
    let request = pb::ListDeliveriesRequest { subscription_id: subscription_id.into(), ..Default::default() };
    client.notifications().list_deliveries(request).await.expect("ListDeliveries").into_inner().deliveries
}

/// Waits until every delivery of the subscription has ended (delivered or
/// failed) and there are `n` of them.
async fn ended_deliveries(client: &Weft, subscription_id: &str, n: usize) -> Vec<pb::NotificationDelivery> {
    eventually("the deliveries end", 20, || async move {
        let listed = deliveries(client, subscription_id).await;
        let pending = listed.iter().any(|d| d.status == pb::DeliveryStatus::Pending as i32);
        if listed.len() == n && !pending { Ok(listed) } else { Err(format!("{listed:?}")) }
    })
    .await
}

/// Checks `request` is a signed delivery for `secret` and answers its body.
fn signed_body(request: &Received, secret: &str) -> Value {
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let signed_at = verify_delivery(secret, request.header("weft-signature").expect("Weft-Signature"), &request.body)
        .expect("the delivery verifies with the subscription's secret");
    let x_signature = request.header("x-weft-signature").unwrap().strip_prefix("sha256=").unwrap();
    let as_v1 = format!("t={},v1={x_signature}", request.header("x-weft-timestamp").unwrap());
    assert_eq!(verify_delivery(secret, &as_v1, &request.body), Ok(signed_at), "the proto header form agrees");
    assert!(verify_delivery("test-webhook-secret-0123456789", &as_v1, &request.body).is_err());
    request.json()
}

#[tokio::test]
async fn finished_runs_are_delivered_signed_to_the_subscriptions_that_want_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), config()).await;
    let client = server.client().await;
    let receiver = Receiver::start(vec![]).await;
    let good = create_json(&server, completes("good")).await;
    let bad = create_json(&server, fails("bad")).await;
    let (ends, secret) = subscribe(&client, &receiver.url("/ends"), &["run.completed", "run.failed"], "").await;
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    let (only_bad, bad_secret) =
        subscribe(&client, &receiver.url("/bad"), &["run.completed", "run.failed"], &bad).await;
    let (approvals, _) = subscribe(&client, &receiver.url("/approvals"), &["approval.pending"], "").await;

    let completed = start(&client, &good, json!({"company": "Acme"})).await.id;
    let failed = start(&client, &bad, json!({})).await.id;
    assert_eq!(wait_finished(&client, &completed, 10).await.status, pb::RunStatus::Completed as i32);
    assert_eq!(wait_finished(&client, &failed, 10).await.status, pb::RunStatus::Failed as i32);

    let received = receiver.wait_for(3, 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 3, "two events to /ends, one to /bad, none to /approvals");
    let to = |path: &str| received.iter().filter(|r| r.path == path).cloned().collect::<Vec<_>>();
    let ends_got = to("/ends");
    assert_eq!(ends_got.len(), 2);
    let mut bodies: Vec<Value> = ends_got.iter().map(|r| signed_body(r, &secret)).collect();
    bodies.sort_by_key(|b| b["type"].as_str().unwrap().to_owned());
    let (done, broke) = (&bodies[0], &bodies[1]);
    assert_eq!(done["type"], "run.completed");
    assert_eq!(done["data"]["runId"], completed.as_str());
    assert_eq!(done["data"]["workflowId"], good.as_str());
    assert_eq!(done["data"]["status"], "completed");
    assert_eq!(done["data"]["output"], json!({"company": "Acme"}), "{done}");
    assert!(done["id"].as_str().unwrap().starts_with(&format!("{completed}.")));
    assert!(done["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(broke["type"], "run.failed");
    assert_eq!(broke["data"]["runId"], failed.as_str());
    assert!(broke["data"]["error"].as_str().is_some_and(|e| !e.is_empty()), "{broke}");

    let bad_got = to("/bad");
    assert_eq!(signed_body(&bad_got[0], &bad_secret)["data"]["runId"], failed.as_str());
    assert!(verify_delivery(&secret, bad_got[0].header("weft-signature").unwrap(), &bad_got[0].body).is_err());

    // The log: one delivered entry per event, with the request's ids.
    let log = ended_deliveries(&client, &ends.subscription_id, 2).await;
    for entry in &log {
        assert_eq!(entry.status, pb::DeliveryStatus::Delivered as i32, "{entry:?}");
        assert_eq!((entry.attempts, entry.last_status_code, entry.last_error.as_str()), (1, 200, ""));
        assert!(entry.delivered_time.is_some() && entry.next_attempt_time.is_none());
        let request = ends_got.iter().find(|r| r.header("idempotency-key") == Some(&entry.delivery_id)).unwrap();
        assert_eq!(request.header("weft-event"), Some(entry.event_type.as_str()));
        assert_eq!(request.header("weft-subscription-id"), Some(ends.subscription_id.as_str()));
        assert_eq!(request.json()["id"], entry.event_id.as_str());
    }
    assert_eq!(ended_deliveries(&client, &only_bad.subscription_id, 1).await[0].run_id, failed);
    assert!(deliveries(&client, &approvals.subscription_id).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn an_opened_approval_and_a_step_over_its_cost_ceiling_are_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), config()).await;
    let client = server.client().await;
    let receiver = Receiver::start(vec![]).await;
    let events = ["approval.pending", "workflow.step.cost_exceeded"];
    let (_, secret) = subscribe(&client, &receiver.url("/hook"), &events, "").await;

    let gate = json!({"name": "gate", "steps": [
        {"id": "gate", "type": "approval", "action": "send_email", "message": "Send?"}
    ]});
    let gate = create_json(&server, gate).await;
    let gated = start(&client, &gate, json!({})).await.id;
    wait_for(&client, &gated, &[pb::RunStatus::Paused], 10).await;
    let pending = signed_body(&receiver.wait_for(1, 20).await[0], &secret);
    assert_eq!(pending["type"], "approval.pending", "{pending}");
    assert_eq!(
        (pending["data"]["runId"].as_str(), pending["data"]["stepId"].as_str()),
        (Some(gated.as_str()), Some("gate"))
    );
    assert_eq!(pending["data"]["action"], "send_email");

    let costly = json!({"name": "costly", "policy": {"maxCostPerStep": {"amount": 50, "currency": "usd"}},
        "steps": [{"id": "enrich", "type": "agent", "agent": "enricher", "task": "Enrich"}]});
    let costly = create_json(&server, costly).await;
    register(&client, "w1", &["enricher"]).await;
    let run = start(&client, &costly, json!({})).await.id;
    let task = poll_one(&client, "w1").await;
    assert!(heartbeat(&client, &task, Some(usd(60))).await.paused);
    let received = receiver.wait_for(2, 20).await;
    let exceeded = signed_body(&received[1], &secret);
    assert_eq!(exceeded["type"], "workflow.step.cost_exceeded", "{exceeded}");
    assert_eq!(received[1].header("weft-event"), Some("workflow.step.cost_exceeded"));
    assert_eq!(
        (exceeded["data"]["runId"].as_str(), exceeded["data"]["stepId"].as_str()),
        (Some(run.as_str()), Some("enrich"))
    );
    assert_eq!(exceeded["data"]["details"]["cost"], 60, "{exceeded}");
    server.stop().await;
}

#[tokio::test]
async fn a_refusing_receiver_is_retried_with_backoff_and_the_log_counts_the_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), config()).await;
    let client = server.client().await;
    let workflow = create_json(&server, completes("retried")).await;
    let flaky = Receiver::start(vec![Answer::text(500, "down"), Answer::text(429, "slow down")]).await;
    let (retried, secret) = subscribe(&client, &flaky.url("/flaky"), &["run.completed"], "").await;
    let run = start(&client, &workflow, json!({"company": "a"})).await.id;

    let received = flaky.wait_for(3, 20).await;
    let keys: Vec<_> = received.iter().map(|r| r.header("idempotency-key").unwrap().to_owned()).collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "one key for every attempt: {keys:?}");
    let attempts: Vec<_> = received.iter().map(|r| r.header("weft-attempt").unwrap().to_owned()).collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    let bodies: Vec<Value> = received.iter().map(|r| signed_body(r, &secret)).collect();
    assert!(bodies.iter().all(|b| *b == bodies[0] && b["data"]["runId"] == run.as_str()), "the same body each time");
    let log = ended_deliveries(&client, &retried.subscription_id, 1).await;
    assert_eq!(
        (log[0].status, log[0].attempts, log[0].last_status_code),
        (pb::DeliveryStatus::Delivered as i32, 3, 200)
    );
    assert_eq!(log[0].delivery_id, keys[0]);

    // A 4xx is not retried; a receiver that never answers 2xx is given up
    // after max_attempts (5 here: waits of 100, 200, 400, 400 ms).
    let gone = Receiver::start(vec![Answer::text(410, "no such hook")]).await;
    let (refused, _) = subscribe(&client, &gone.url("/gone"), &["run.completed"], "").await;
    let broken = Receiver::start((0..10).map(|_| Answer::text(503, "broken")).collect()).await;
    let (spent, _) = subscribe(&client, &broken.url("/broken"), &["run.completed"], "").await;
    start(&client, &workflow, json!({"company": "b"})).await;
    let log = ended_deliveries(&client, &refused.subscription_id, 1).await;
    assert_eq!((log[0].status, log[0].attempts, log[0].last_status_code), (pb::DeliveryStatus::Failed as i32, 1, 410));
    assert_eq!(log[0].last_error, "the receiver answered HTTP 410: no such hook");
    assert_eq!(gone.received().len(), 1);
    let log = ended_deliveries(&client, &spent.subscription_id, 1).await;
    assert_eq!((log[0].status, log[0].attempts, log[0].last_status_code), (pb::DeliveryStatus::Failed as i32, 5, 503));
    assert!(log[0].last_error.ends_with("(gave up after 5 attempts)"), "{}", log[0].last_error);
    assert!(log[0].next_attempt_time.is_none());
    let times: Vec<_> = broken.received().iter().map(|r| r.header("x-weft-timestamp").unwrap().to_owned()).collect();
    assert_eq!(times.len(), 5, "no attempt after the last");
    // The whole sequence of waits (100 + 200 + 400 + 400 ms) took place.
    let created = log[0].create_time.as_ref().unwrap().seconds;
    assert!(times.last().unwrap().parse::<i64>().unwrap() >= created, "{times:?}");

    // Status filter and paging of the log.
    let failed = pb::ListDeliveriesRequest { status: pb::DeliveryStatus::Failed as i32, ..Default::default() };
    let failed = client.notifications().list_deliveries(failed).await.unwrap().into_inner().deliveries;
    assert_eq!(failed.len(), 2, "{failed:?}");
    let first = pb::ListDeliveriesRequest { page_size: 1, ..Default::default() };
    let first = client.notifications().list_deliveries(first).await.unwrap().into_inner();
    assert_eq!(first.deliveries.len(), 1);
    let rest = pb::ListDeliveriesRequest { page_size: 10, page_token: first.next_page_token, ..Default::default() };
    let rest = client.notifications().list_deliveries(rest).await.unwrap().into_inner();
    assert_eq!(rest.deliveries.len(), 3, "four deliveries in all, none twice");
    assert!(rest.deliveries.iter().all(|d| d.delivery_id != first.deliveries[0].delivery_id));
    server.stop().await;
}

#[tokio::test]
async fn notifications_recorded_before_a_stop_are_delivered_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(vec![Answer::text(503, "not yet")]).await;

    // 1. Events committed while this replica sends nothing: only the
    //    outbox holds them when the server stops.
    let mut quiet = config();
    quiet.notifications.dispatch = false;
    let server = server_with(dir.path(), quiet).await;
    let client = server.client().await;
    let workflow = create_json(&server, completes("durable")).await;
    let (subscription, secret) = subscribe(&client, &receiver.url("/hook"), &["run.completed"], "").await;
    let first = start(&client, &workflow, json!({"company": "one"})).await.id;
    wait_finished(&client, &first, 10).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.received().is_empty());
    assert!(deliveries(&client, &subscription.subscription_id).await.is_empty(), "not fanned out yet");
    server.stop().await;

    // 2. After a restart with a slow retry: the first attempt is refused,
    //    the retry is due after the next stop.
    let mut slow = config();
    slow.notifications.initial_backoff_ms = 3_000;
    slow.notifications.max_backoff_ms = 3_000;
    let server = server_with(dir.path(), slow).await;
    let client = server.client().await;
    let got = receiver.wait_for(1, 20).await;
    assert_eq!(signed_body(&got[0], &secret)["data"]["runId"], first.as_str());
    let log = eventually("the refused attempt is recorded", 10, || async {
        let log = deliveries(&client, &subscription.subscription_id).await;
        if log.first().is_some_and(|d| d.attempts == 1) { Ok(log) } else { Err(format!("{log:?}")) }
    })
    .await;
    assert_eq!((log[0].status, log[0].last_status_code), (pb::DeliveryStatus::Pending as i32, 503));
    assert!(log[0].next_attempt_time.is_some());
    server.stop().await;

    // 3. The retry is made by the next server.
    let server = server_with(dir.path(), config()).await;
    let client = server.client().await;
    let log = ended_deliveries(&client, &subscription.subscription_id, 1).await;
    assert_eq!((log[0].status, log[0].attempts), (pb::DeliveryStatus::Delivered as i32, 2), "{log:?}");
    let got = receiver.received();
    assert_eq!(got.len(), 2, "one refused attempt, one delivery: nothing lost, nothing repeated");
    assert_eq!(got[0].header("idempotency-key"), got[1].header("idempotency-key"));
    assert_eq!(got[1].header("weft-attempt"), Some("2"));
    server.stop().await;
}

#[tokio::test]
async fn a_tenants_subscriptions_see_only_its_own_runs_and_are_hidden_from_other_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let mut required = config();
    required.auth.required = true;
    let server = server_with(dir.path(), required).await;
    let (a_key, b_key) =
        (make_key(&server, "tenant-a", KeyScope::Admin).await, make_key(&server, "tenant-b", KeyScope::Admin).await);
    let client = |key: String| {
        let server = &server;
        async move { server.client().await.with_api_key(&key).unwrap() }
    };
    let (a, b) = (client(a_key.clone()).await, client(b_key.clone()).await);
    let a_writer = client(make_key(&server, "tenant-a", KeyScope::Write).await).await;
    let receiver = Receiver::start(vec![]).await;
    let (mine, secret) = subscribe(&a, &receiver.url("/a"), &["run.completed"], "").await;

    let create = |key: String, name: &'static str| {
        let server = &server;
        async move {
            let (status, created) = rest(server, "POST", "/v1/workflows", Some(&key), Some(&completes(name))).await;
            assert_eq!(status, 201, "{created}");
            created["id"].as_str().unwrap().to_owned()
        }
    };
    let b_workflow = create(b_key, "b").await;
    let b_run = start(&b, &b_workflow, json!({"company": "b"})).await.id;
    wait_finished(&b, &b_run, 10).await;
    let a_workflow = create(a_key, "a").await;
    let a_run = start(&a, &a_workflow, json!({"company": "a"})).await.id;
    wait_finished(&a, &a_run, 10).await;
    let got = receiver.wait_for(1, 20).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "tenant B's run is not tenant A's event");
    assert_eq!(signed_body(&got[0], &secret)["data"]["runId"], a_run.as_str());

    let id = mine.subscription_id.clone();
    let listed = b.notifications().list_subscriptions(pb::ListSubscriptionsRequest::default()).await.unwrap();
    assert!(listed.into_inner().subscriptions.is_empty());
    let get = b.notifications().get_subscription(pb::GetSubscriptionRequest { subscription_id: id.clone() }).await;
    assert_eq!(get.unwrap_err().code(), Code::NotFound);
    let delete = pb::DeleteSubscriptionRequest { subscription_id: id.clone() };
    assert_eq!(b.notifications().delete_subscription(delete).await.unwrap_err().code(), Code::NotFound);
    let log = pb::ListDeliveriesRequest { subscription_id: id.clone(), ..Default::default() };
    assert_eq!(b.notifications().list_deliveries(log).await.unwrap_err().code(), Code::NotFound);
    let all = b.notifications().list_deliveries(pb::ListDeliveriesRequest::default()).await.unwrap();
    assert!(all.into_inner().deliveries.is_empty());
    // Managing notifications takes an admin key.
    let refused = a_writer.notifications().list_subscriptions(pb::ListSubscriptionsRequest::default()).await;
    assert_eq!(refused.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(
        a.notifications()
            .get_subscription(pb::GetSubscriptionRequest { subscription_id: id })
            .await
            .unwrap()
            .into_inner()
            .subscription
            .unwrap()
            .url,
        receiver.url("/a")
    );
    server.stop().await;
}
