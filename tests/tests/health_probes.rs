//! `GET /healthz` and `GET /readyz` over real sockets: no key needed even
//! where keys are required, JSON bodies, and 405 naming GET for any other
//! method. (Readiness turning 503 is a unit test in gateway/probes.rs.)

use weft_tests::auth::start_requiring_keys;
use weft_tests::http1;

#[tokio::test]
async fn probes_answer_without_a_key_and_refuse_other_methods() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;

    let (status, live) = http1::json(server.addr, "GET", "/healthz", None).await;
    assert_eq!((status, live["status"].as_str()), (200, Some("ok")), "{live}");
    let (status, ready) = http1::json(server.addr, "GET", "/readyz", None).await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        ready,
        serde_json::json!({"ready": true, "draining": false, "storeReachable": true, "writerRunning": true})
    );

    // The same server refuses an API call without a key: the probes are
    // open on purpose, nothing else is.
    let (status, refused) = http1::json(server.addr, "GET", "/v1/workflows", None).await;
    assert_eq!(status, 401, "{refused}");

    for path in ["/healthz", "/readyz"] {
        let answer = http1::request(server.addr, "POST", path, &[], b"").await.unwrap();
        assert_eq!(answer.status, 405, "POST {path}");
        assert!(answer.headers.iter().any(|(n, v)| n == "allow" && v.contains("GET")), "{:?}", answer.headers);
    }
}
