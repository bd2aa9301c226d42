//! NotificationService's management calls over gRPC and REST: a
//! subscription is created (its secret shown once), read, listed in pages
//! and deleted; and every bound refuses its bad input with
//! INVALID_ARGUMENT (REST 400) naming the field, the subscription limit
//! with FAILED_PRECONDITION, unknown ids with NOT_FOUND, while nothing is
//! stored. Runs on the suite's store.

use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_tests::TestServer;
use weft_tests::auth::{rest, snapshot};

const MAX_SUBSCRIPTIONS: u32 = 3;

async fn server(dir: &std::path::Path) -> TestServer {
    let mut config = Config::default();
    config.notifications.max_subscriptions = MAX_SUBSCRIPTIONS;
    TestServer::start_on(dir.join("weft.db"), config).await
}

fn request(url: &str, events: &[&str]) -> pb::CreateSubscriptionRequest {
    pb::CreateSubscriptionRequest {
        url: url.into(),
        event_types: events.iter().map(|e| e.to_string()).collect(),
        workflow_id: String::new(),
        description: String::new(),
    }
}

/// The field the refusal names, from its BadRequest details.
fn field(status: &tonic::Status) -> String {
    let details = status.get_error_details();
    let bad = details.bad_request().unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    bad.field_violations[0].field.clone()
}

async fn refused_create(client: &Weft, asked: pb::CreateSubscriptionRequest) -> tonic::Status {
    client.notifications().create_subscription(asked).await.expect_err("refused")
}

#[tokio::test]
async fn a_subscription_is_created_once_with_its_secret_then_read_listed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let mut asked = request("https://hooks.example.com/weft", &["run.completed", "workflow.step.cost_exceeded"]);
    asked.workflow_id = "wf_abc".into();
    asked.description = "CRM sync".into();
    let made = client.notifications().create_subscription(asked).await.unwrap().into_inner();
    let created = made.subscription.unwrap();
    assert!(created.subscription_id.starts_with("ntf_"));
    assert!(made.secret.starts_with("whsec_") && made.secret.len() == 6 + 64, "{}", made.secret);
    assert_eq!(created.event_types, ["run.completed", "workflow.step.cost_exceeded"]);
    assert_eq!((created.workflow_id.as_str(), created.description.as_str()), ("wf_abc", "CRM sync"));

    let id = created.subscription_id.clone();
    let got = pb::GetSubscriptionRequest { subscription_id: id.clone() };
    assert_eq!(client.notifications().get_subscription(got).await.unwrap().into_inner().subscription.unwrap(), created);

    // REST: 201 on create, the secret never again.
    let body = json!({"url": "https://hooks.example.com/other", "eventTypes": ["run.failed"]});
    let (status, answer) = rest(&server, "POST", "/v1/notifications/subscriptions", None, Some(&body)).await;
    assert_eq!(status, 201, "{answer}");
    let second = answer["subscription"]["subscriptionId"].as_str().unwrap().to_owned();
    assert!(answer["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(answer["secret"], made.secret.as_str(), "each subscription has its own secret");
    let (status, got) = rest(&server, "GET", &format!("/v1/notifications/subscriptions/{id}"), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(got["url"], "https://hooks.example.com/weft", "{got}");
    assert!(!got.to_string().contains(&made.secret), "the secret is shown once");

    // Pages, oldest first.
    let page = |size, token: String| pb::ListSubscriptionsRequest { page_size: size, page_token: token };
    let first = client.notifications().list_subscriptions(page(1, String::new())).await.unwrap().into_inner();
    assert_eq!(first.subscriptions.len(), 1);
    assert_eq!(first.subscriptions[0].subscription_id, id);
    let next = client.notifications().list_subscriptions(page(1, first.next_page_token)).await.unwrap().into_inner();
    assert_eq!(next.subscriptions[0].subscription_id, second);
    assert!(next.next_page_token.is_empty());
    let (status, listed) = rest(&server, "GET", "/v1/notifications/subscriptions", None, None).await;
    assert_eq!((status, listed["subscriptions"].as_array().unwrap().len()), (200, 2));

    let (status, _) = rest(&server, "DELETE", &format!("/v1/notifications/subscriptions/{second}"), None, None).await;
    assert_eq!(status, 200);
    let deleted = pb::DeleteSubscriptionRequest { subscription_id: id.clone() };
    assert!(client.notifications().delete_subscription(deleted.clone()).await.unwrap().into_inner().success);
    let again = client.notifications().delete_subscription(deleted).await.unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    let (status, gone) = rest(&server, "GET", &format!("/v1/notifications/subscriptions/{id}"), None, None).await;
    assert_eq!(status, 404, "{gone}");
    server.stop().await;
}

#[tokio::test]
async fn every_bound_of_create_is_refused_naming_its_field_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let ok = "https://hooks.example.com/x";
    let before = snapshot(&server).await;
    let long_url = format!("https://hooks.example.com/{}", "a".repeat(2048));
    let cases: Vec<(pb::CreateSubscriptionRequest, &str, &str)> = vec![
        (request("", &["run.completed"]), "url", "required"),
        (request(&long_url, &["run.completed"]), "url", "2048-byte limit"),
        (request("ftp://hooks.example.com/x", &["run.completed"]), "url", "not an http or https URL"),
        (request("not a url", &["run.completed"]), "url", "not a valid URL"),
        (request("http://10.0.0.7/hook", &["run.completed"]), "url", "10.0.0.7"),
        (request("http://127.0.0.1:9/hook", &["run.completed"]), "url", "127.0.0.1"),
        (request(ok, &[]), "event_types", "at least one"),
        (request(ok, &["run.completed"; 6]), "event_types", "at most 5"),
        (request(ok, &["run.done"]), "event_types[0]", "not an event type"),
        (request(ok, &["step.cost_exceeded"]), "event_types[0]", "workflow.step.cost_exceeded"),
        (request(ok, &["run.failed", "run.failed"]), "event_types[1]", "named twice"),
        (
            pb::CreateSubscriptionRequest {
                workflow_id: format!("wf_{}", "w".repeat(126)),
                ..request(ok, &["run.failed"])
            },
            "workflow_id",
            "128",
        ),
        (
            pb::CreateSubscriptionRequest { description: "d".repeat(201), ..request(ok, &["run.failed"]) },
            "description",
            "200",
        ),
    ];
    for (asked, wanted, says) in cases {
        let status = refused_create(&client, asked).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{wanted}: {status:?}");
        assert_eq!(field(&status), wanted, "{status:?}");
        assert!(status.message().contains(says), "{wanted}: '{}' lacks '{says}'", status.message());
    }
    // The same over REST: a 400 naming the field.
    let body = json!({"url": ok, "eventTypes": ["nope"]});
    let (status, answer) = rest(&server, "POST", "/v1/notifications/subscriptions", None, Some(&body)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("event_types[0]"), "{answer}");
    assert_eq!(snapshot(&server).await, before, "a refused create stored something");

    // The limit per tenant.
    for n in 0..MAX_SUBSCRIPTIONS {
        client.notifications().create_subscription(request(&format!("{ok}/{n}"), &["run.failed"])).await.unwrap();
    }
    let full = snapshot(&server).await;
    let status = refused_create(&client, request(ok, &["run.failed"])).await;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("max_subscriptions"), "{}", status.message());
    assert_eq!(status.get_error_details().error_info().unwrap().reason, "SUBSCRIPTION_LIMIT_REACHED");
    assert_eq!(snapshot(&server).await, full);
    server.stop().await;
}

#[tokio::test]
async fn get_delete_and_listings_refuse_bad_ids_filters_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path()).await;
    let client = server.client().await;
    let long = "n".repeat(65);
    for (id, code, names) in [
        ("", Code::InvalidArgument, true),
        (long.as_str(), Code::InvalidArgument, true),
        ("ntf_unknown", Code::NotFound, false),
    ] {
        let get = pb::GetSubscriptionRequest { subscription_id: id.into() };
        let status = client.notifications().get_subscription(get).await.unwrap_err();
        assert_eq!(status.code(), code, "get '{id}': {status:?}");
        if names {
            assert_eq!(field(&status), "subscription_id");
        }
        let delete = pb::DeleteSubscriptionRequest { subscription_id: id.into() };
        assert_eq!(client.notifications().delete_subscription(delete).await.unwrap_err().code(), code, "delete '{id}'");
    }
    let (status, answer) = rest(&server, "DELETE", "/v1/notifications/subscriptions/ntf_unknown", None, None).await;
    assert_eq!(status, 404, "{answer}");

    let bad_token = pb::ListSubscriptionsRequest { page_size: 1, page_token: "garbage!".into() };
    let status = client.notifications().list_subscriptions(bad_token).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "page_token"));

    let deliveries = |asked: pb::ListDeliveriesRequest| {
        let client = client.clone();
        async move { client.notifications().list_deliveries(asked).await }
    };
    let status = deliveries(pb::ListDeliveriesRequest { status: 99, ..Default::default() }).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "status"));
    let token = pb::ListDeliveriesRequest { page_token: "x".into(), ..Default::default() };
    assert_eq!(field(&deliveries(token).await.unwrap_err()), "page_token");
    let unknown = pb::ListDeliveriesRequest { subscription_id: "ntf_unknown".into(), ..Default::default() };
    assert_eq!(deliveries(unknown).await.unwrap_err().code(), Code::NotFound);
    let too_long = pb::ListDeliveriesRequest { subscription_id: long.clone(), ..Default::default() };
    assert_eq!(field(&deliveries(too_long).await.unwrap_err()), "subscription_id");
    // A token made under one filter is refused under another.
    let made = client
        .notifications()
        .create_subscription(request("https://hooks.example.com/x", &["run.failed"]))
        .await
        .unwrap()
        .into_inner();
    let mine = made.subscription.unwrap().subscription_id;
    let other_filter =
        pb::ListDeliveriesRequest { subscription_id: mine, page_token: weft_server_token(), ..Default::default() };
    assert_eq!(field(&deliveries(other_filter).await.unwrap_err()), "page_token");
    let (status, answer): (u16, Value) =
        rest(&server, "GET", "/v1/notifications/deliveries?status=sent", None, None).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = rest(&server, "GET", "/v1/notifications/deliveries?status=failed", None, None).await;
    assert_eq!((status, answer["deliveries"].as_array().map_or(0, Vec::len)), (200, 0), "{answer}");
    server.stop().await;
}

/// A well-formed token of the unfiltered delivery listing.
fn weft_server_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("1|5|ntd_x|deliveries||0")
}
