//! `WEFT_CONSOLE_DIR`: the `weft` binary serves the console bundle from a
//! directory instead of its embedded copy, and nothing outside that
//! directory (or hidden inside it) can be reached through `/ui/`.

mod cli_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One GET over HTTP/1.1 (Connection: close); status and body.
fn get(url: &str, path: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let status = raw.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[test]
fn a_console_directory_is_served_and_nothing_outside_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let bundle = root.path().join("bundle");
    std::fs::create_dir_all(bundle.join("assets")).expect("mkdir");
    std::fs::write(bundle.join("index.html"), "<p>page from the directory</p>").expect("write");
    std::fs::write(bundle.join("assets/app-1.js"), "console.log('from disk')").expect("write");
    std::fs::write(bundle.join(".env"), "HIDDEN=1").expect("write");
    std::fs::write(root.path().join("secret.txt"), "outside the bundle").expect("write");
    let bundle_dir = bundle.to_str().expect("utf-8 path");
    let server = cli_support::start_server_with(&[("WEFT_CONSOLE_DIR", bundle_dir)]);

    assert_eq!(get(&server.url, "/ui/"), (200, "<p>page from the directory</p>".to_string()));
    assert_eq!(get(&server.url, "/ui/assets/app-1.js"), (200, "console.log('from disk')".to_string()));
    // Edited on disk: the next request serves the new bytes.
    std::fs::write(bundle.join("assets/app-1.js"), "console.log('rebuilt')").expect("write");
    assert_eq!(get(&server.url, "/ui/assets/app-1.js").1, "console.log('rebuilt')");

    for escape in [
        "/ui/..%2fsecret.txt",
        "/ui/%2e%2e/secret.txt",
        "/ui/assets/..%2f..%2fsecret.txt",
        "/ui/.env",
        "/ui/%2fetc%2fpasswd",
    ] {
        let (status, body) = get(&server.url, escape);
        assert!(
            !body.contains("outside the bundle") && !body.contains("HIDDEN") && !body.contains("root:"),
            "{escape}: {body}"
        );
        assert!(status == 200 || status == 404, "{escape}: {status}");
    }
    assert_eq!(get(&server.url, "/ui/assets/missing.js").0, 404);
}
