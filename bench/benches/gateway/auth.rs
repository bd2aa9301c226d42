//! What API keys cost a call: `GetRun` over gRPC and REST from one client,
//! against two servers on the same machine that differ only in auth: one
//! anonymous (loopback, no key exists: the middleware still runs and finds
//! no key is needed), one requiring keys (each call's key is parsed,
//! looked up in the cache and its SHA-256 compared). Rounds alternate
//! between the two so drift hits both alike; the p50 difference is the
//! cost of checking a key. Then `KeyRing::verify` alone, in a loop.

use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use weft_sdk::pb;
use weft_server::engine::keys::KeyRing;
use weft_server::model::KeyScope;
use weft_server::store::OpenStore;

use super::drive;

/// Alternating rounds of each side.
const ROUNDS: usize = 3;

/// A served database with one finished transform run; the key, when keys
/// are required.
async fn serve(
    dir: &std::path::Path,
    name: &str,
    keyed: bool,
) -> (std::net::SocketAddr, weft_sdk::Weft, String, Option<String>) {
    let url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
    let key = if keyed {
        let store = OpenStore::open(&url).await.expect("sqlite").expect("open");
        let made = KeyRing::new(store.shared(), false).create("bench", KeyScope::Admin, "bench", 0).await.expect("key");
        store.close().await;
        Some(made.token)
    } else {
        None
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let mut config = weft_server::Config { database_url: url, log: "warn".into(), ..weft_server::Config::default() };
    config.auth.required = keyed;
    tokio::spawn(weft_server::run(listener, config, std::future::pending()));
    let mut weft = weft_sdk::Weft::connect(format!("http://{addr}")).await.expect("connect");
    if let Some(key) = &key {
        weft = weft.with_api_key(key).expect("key text");
    }
    let step = pb::Step {
        id: "t".into(),
        r#type: "transform".into(),
        output: [("n".to_string(), "$.input".to_string())].into(),
        ..Default::default()
    };
    let workflow = pb::Workflow { name: "auth-bench".into(), steps: vec![step], ..Default::default() };
    let created = weft
        .workflows()
        .create_workflow(pb::CreateWorkflowRequest { workflow: Some(workflow), request_id: String::new() })
        .await
        .expect("create");
    let run = weft
        .runs()
        .start_run(pb::StartRunRequest { workflow_id: created.into_inner().id, ..Default::default() })
        .await
        .expect("start")
        .into_inner()
        .run_id;
    (addr, weft, run, key)
}

/// p50 of one-client GetRun over gRPC and REST, µs.
async fn round(addr: std::net::SocketAddr, weft: &weft_sdk::Weft, run: &str, key: Option<&str>) -> (f64, f64) {
    let (client, run_id) = (weft.clone(), run.to_owned());
    let grpc = drive(1, move || {
        let mut runs = client.runs();
        let run_id = run_id.clone();
        async move {
            runs.get_run(pb::GetRunRequest { run_id }).await.expect("gRPC GetRun");
        }
    })
    .await
    .p50_us();
    let http: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: http::Uri = format!("http://{addr}/v1/workflows/runs/{run}").parse().expect("uri");
    let auth = key.map(|key| format!("Bearer {key}"));
    let rest = drive(1, move || {
        let (http, uri, auth) = (http.clone(), uri.clone(), auth.clone());
        async move {
            let mut request = http::Request::get(uri);
            if let Some(auth) = auth {
                request = request.header("authorization", auth);
            }
            let response = http.request(request.body(Empty::new()).expect("request")).await.expect("REST GET");
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.expect("REST body");
        }
    })
    .await
    .p50_us();
    (grpc, rest)
}

/// Runs the comparison and prints it.
pub async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (off_addr, off, off_run, _) = serve(dir.path(), "off", false).await;
    let (on_addr, on, on_run, key) = serve(dir.path(), "on", true).await;
    println!(
        "\nAPI keys: p50 of one-client GetRun, auth off (anonymous) vs on (key per call), {ROUNDS} alternating rounds"
    );
    let (mut grpc_delta, mut rest_delta) = (Vec::new(), Vec::new());
    for i in 0..ROUNDS {
        let (grpc_off, rest_off) = round(off_addr, &off, &off_run, None).await;
        let (grpc_on, rest_on) = round(on_addr, &on, &on_run, key.as_deref()).await;
        println!(
            "round {}: gRPC off {grpc_off:>6.0} µs  on {grpc_on:>6.0} µs   REST off {rest_off:>6.0} µs  on {rest_on:>6.0} µs",
            i + 1
        );
        grpc_delta.push(grpc_on - grpc_off);
        rest_delta.push(rest_on - rest_off);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "key check cost at p50: gRPC {:+.1} µs, REST {:+.1} µs (mean of rounds)",
        mean(&grpc_delta),
        mean(&rest_delta)
    );

    // The check alone: a cached lookup, a base64 decode and one SHA-256.
    let url = format!("sqlite://{}", dir.path().join("on.db").display());
    let store = OpenStore::open(&url).await.expect("sqlite").expect("open");
    let ring = KeyRing::new(store.shared(), false);
    let key = key.expect("a key");
    ring.verify(Some(&key)).await.expect("verifies");
    let n = 200_000;
    let began = Instant::now();
    for _ in 0..n {
        ring.verify(Some(&key)).await.expect("verifies");
    }
    let per = began.elapsed().as_nanos() as f64 / f64::from(n);
    println!("KeyRing::verify with a cached key: {per:.0} ns per call");
}
