//! The web console's files at `/ui/` over real sockets: redirects from `/`
//! and `/ui`, the entry page for any console path, hashed assets cached for
//! good, gzip when accepted (the same bytes once inflated), ETag
//! revalidation, a 404 for a missing asset, 405 for other methods, the
//! security headers, and no key needed even where the API requires one.
//! (What the console does in a browser is console/test/*.test.ts.)

use std::io::Read;
use std::net::SocketAddr;

use weft_tests::auth::start_requiring_keys;
use weft_tests::http1::{self, Http1Response};

async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Http1Response {
    http1::request(addr, "GET", path, headers, b"").await.unwrap()
}

#[tokio::test]
async fn the_console_is_served_at_ui_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;
    let addr = server.addr;

    for path in ["/", "/ui"] {
        let answer = get(addr, path, &[]).await;
        assert_eq!((answer.status, answer.header("location")), (308, Some("/ui/")), "GET {path}");
    }

    let index = get(addr, "/ui/", &[]).await;
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(index.header("cache-control"), Some("no-cache"));
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    let csp = index.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = String::from_utf8(index.body.clone()).unwrap();
    assert!(html.contains(r#"<div id="root">"#), "{html}");

    // A page of the console's router gets the same entry page.
    let deep = get(addr, "/ui/runs/wfrun_0123456789", &[]).await;
    assert_eq!((deep.status, &deep.body), (200, &index.body));

    // The API itself still wants a key on the same server.
    let (status, _) = http1::json(server.addr, "GET", "/v1/workflows", None).await;
    assert_eq!(status, 401);

    // Revalidation: the ETag answers 304 with no body.
    let etag = index.header("etag").unwrap();
    let again = get(addr, "/ui/", &[("if-none-match", etag)]).await;
    assert_eq!((again.status, again.body.len()), (304, 0));

    // The entry script: cached for good, gzipped on request, same bytes.
    let script = html.split(r#"src="/ui/"#).nth(1).and_then(|s| s.split('"').next()).expect("the page loads a script");
    assert!(script.starts_with("assets/") && script.ends_with(".js"), "{script}");
    let path = format!("/ui/{script}");
    let plain = get(addr, &path, &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(plain.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(plain.header("content-encoding"), None);
    let zipped = get(addr, &path, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(zipped.body.len() < plain.body.len() / 2, "{} vs {}", zipped.body.len(), plain.body.len());
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&zipped.body[..]).read_to_end(&mut inflated).unwrap();
    assert_eq!(inflated, plain.body);

    // A missing asset is a 404 in the API's error shape, not the entry page.
    let missing = get(addr, "/ui/assets/nothing-here.js", &[]).await;
    assert_eq!(missing.status, 404);
    let body: serde_json::Value = serde_json::from_slice(&missing.body).unwrap();
    assert_eq!(body["error_code"], "NOT_FOUND", "{body}");

    // Escapes never leave the bundle: the encoded dots are decoded into a
    // path that is refused, which gets the entry page.
    let escape = get(addr, "/ui/..%2f..%2fCargo.toml", &[]).await;
    assert_eq!((escape.status, &escape.body), (200, &index.body));

    for method in ["POST", "PUT", "DELETE"] {
        let answer = http1::request(server.addr, method, "/ui/", &[], b"").await.unwrap();
        assert_eq!(answer.status, 405, "{method} /ui/");
        assert_eq!(answer.header("allow"), Some("GET, HEAD"));
    }
    let long = format!("/ui/{}", "a".repeat(2000));
    assert_eq!(get(addr, &long, &[]).await.status, 414);
}
