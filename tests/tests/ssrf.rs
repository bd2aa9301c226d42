//! SSRF protection end to end: with the default configuration, outbound
//! steps refuse loopback (in its numeric and IPv6-mapped forms, and as a
//! name that resolves to it), private and metadata addresses, and
//! redirects to them; the step fails with an error naming the rule and
//! nothing is sent. Allowing 127.0.0.0/8 lets a local receiver through.
//! (Every refused address is refused before connecting: no traffic leaves
//! this machine.)

use serde_json::{Value, json};
use weft_sdk::pb;
use weft_server::Config;
use weft_tests::receiver::{Answer, Receiver};
use weft_tests::runs::{step, wait_finished};
use weft_tests::{TestServer, http1};

async fn fail_with(server: &TestServer, kind: &str, url: &str) -> String {
    // Named by what it calls: names are unique per tenant.
    let name = format!("ssrf {kind} {url}");
    let definition: Value = json!({"name": name, "steps": [{"id": "call", "type": kind, "url": url, "retries": 2}]});
    let (status, created) = http1::json(server.addr, "POST", "/v1/workflows", Some(definition)).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/v1/workflows/{}/runs", created["id"].as_str().unwrap());
    let (status, run) = http1::json(server.addr, "POST", &path, Some(json!({"input": {}}))).await;
    assert_eq!(status, 202, "{run}");
    let client = server.client().await;
    let run = wait_finished(&client, run["id"].as_str().unwrap(), 10).await;
    let call = step(&run, "call");
    assert_eq!(call.status, pb::StepStatus::Failed as i32, "{url}: {run:?}");
    assert_eq!(call.attempts, 1, "{url}: a refusal is not retried");
    call.error.clone()
}

#[tokio::test]
async fn outbound_steps_refuse_forbidden_addresses_naming_the_rule() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let receiver = Receiver::start(vec![]).await;
    let port = receiver.addr.port();
    let cases = [
        ("http_request", format!("http://127.0.0.1:{port}/"), "refused: 127.0.0.1 is a loopback address".to_owned()),
        ("webhook", format!("http://2130706433:{port}/"), "refused: 127.0.0.1 is a loopback address".to_owned()),
        ("webhook", format!("http://0x7f000001:{port}/"), "refused: 127.0.0.1 is a loopback address".to_owned()),
        ("http_request", format!("http://017700000001:{port}/"), "refused: 127.0.0.1 is a loopback address".to_owned()),
        ("http_request", format!("http://127.1:{port}/"), "refused: 127.0.0.1 is a loopback address".to_owned()),
        (
            "http_request",
            format!("http://[::ffff:127.0.0.1]:{port}/"),
            "refused: ::ffff:127.0.0.1 is an IPv6 address embedding a forbidden IPv4 address".to_owned(),
        ),
        (
            "webhook",
            format!("http://[::ffff:0:127.0.0.1]:{port}/"),
            "refused: ::ffff:0:7f00:1 is an IPv6 address embedding a forbidden IPv4 address".to_owned(),
        ),
        ("http_request", format!("http://localhost:{port}/"), "refused: localhost resolves to ".to_owned()),
        ("webhook", "http://10.0.0.1/hook".to_owned(), "refused: 10.0.0.1 is a private address (RFC 1918)".to_owned()),
        (
            "http_request",
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "refused: 169.254.169.254 is the cloud metadata address".to_owned(),
        ),
        (
            "http_request",
            "http://100.64.0.1/".to_owned(),
            "refused: 100.64.0.1 is a shared (CGNAT) address (RFC 6598)".to_owned(),
        ),
        ("http_request", "http://[fd00::1]/".to_owned(), "refused: fd00::1 is a unique local address".to_owned()),
    ];
    for (kind, url, expected) in cases {
        let error = fail_with(&server, kind, &url).await;
        assert!(error.starts_with(&expected), "{url}: {error}");
        assert!(error.contains("unless allow_networks lists it"), "{url}: {error}");
    }
    assert!(receiver.received().is_empty(), "nothing reached the local receiver");
}

#[tokio::test]
async fn a_redirect_to_the_metadata_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.outbound.allow_networks = vec!["127.0.0.0/8".into()];
    let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
    let receiver = Receiver::start(vec![
        Answer::redirect("/moved"),
        Answer::redirect("http://169.254.169.254/latest/meta-data/iam"),
    ])
    .await;
    let error = fail_with(&server, "http_request", &receiver.url("/start")).await;
    assert!(error.starts_with("refused: 169.254.169.254 is the cloud metadata address"), "{error}");
    let paths: Vec<String> = receiver.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/start", "/moved"], "a redirect within the allowed network is followed");
}
