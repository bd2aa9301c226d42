//! API keys from the command line and the startup rules, through the
//! `weft` binary: `weft keys create | list | revoke` on a database file, a
//! server that refuses to listen beyond loopback while no key exists (and
//! says how to make one), and one that, once a key exists, serves there
//! and refuses calls without it.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a helper fails the test by unwrapping, and clippy's allow-unwrap-in-tests covers only #[test] functions"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn weft(args: &[&str], database: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .env("WEFT_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("WEFT_LOG", "info")
        .output()
        .expect("run weft")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A REST GET with an optional key; the HTTP status.
fn get(addr: &str, path: &str, key: Option<&str>) -> u16 {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line")
}

#[test]
fn keys_are_created_listed_and_revoked_from_the_command_line_and_the_secret_is_shown_once() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("keys.db");

    let created = weft(&["keys", "create", "--tenant", "acme", "--scope", "write", "--name", "ci"], &database);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let stdout = text(&created.stdout);
    let secret = stdout.lines().next().unwrap().trim().to_owned();
    assert!(secret.starts_with("wk_"), "{stdout}");
    let id = stdout.split_whitespace().find(|word| word.starts_with("key_")).unwrap().to_owned();

    let listed = text(&weft(&["keys", "list", "--tenant", "acme"], &database).stdout);
    assert!(
        listed.contains(&id) && listed.contains("write") && listed.contains("live") && listed.contains("ci"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "a listing never shows a secret");
    let raw_db = std::fs::read(&database).unwrap();
    let secret_part = secret.rsplit('_').next().unwrap();
    assert!(!raw_db.windows(secret_part.len()).any(|w| w == secret_part.as_bytes()), "the secret is not stored");

    let other = text(&weft(&["keys", "list", "--tenant", "other"], &database).stdout);
    assert!(!other.contains(&id), "tenants list their own keys: {other}");

    let wrong_tenant = weft(&["keys", "revoke", &id, "--tenant", "other"], &database);
    assert!(!wrong_tenant.status.success());
    assert!(text(&wrong_tenant.stderr).contains("not found"), "{}", text(&wrong_tenant.stderr));

    let revoked = weft(&["keys", "revoke", &id, "--tenant", "acme"], &database);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let listed = text(&weft(&["keys", "list", "--tenant", "acme"], &database).stdout);
    assert!(listed.contains("revoked"), "{listed}");

    let bad_scope = weft(&["keys", "create", "--scope", "root"], &database);
    assert!(!bad_scope.status.success());
    assert!(text(&bad_scope.stderr).contains("not a scope"), "{}", text(&bad_scope.stderr));
    let bad_tenant = weft(&["keys", "create", "--tenant", "Not Valid", "--scope", "read"], &database);
    assert!(!bad_tenant.status.success());
    assert!(text(&bad_tenant.stderr).contains("tenant"), "{}", text(&bad_tenant.stderr));
}

#[test]
fn beyond_loopback_the_server_needs_a_key_to_exist_and_then_every_call_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("public.db");

    let refused = weft(&["serve", "--listen", "0.0.0.0:0"], &database);
    assert!(!refused.status.success(), "a public listener with no keys must not start");
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("weft keys create --tenant default --scope admin"), "{stderr}");

    let created = weft(&["keys", "create", "--scope", "admin"], &database);
    let key = text(&created.stdout).lines().next().unwrap().trim().to_owned();

    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("WEFT_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("WEFT_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = lines.by_ref().map_while(Result::ok).find(|line| line.contains("weft is serving")).expect("serving");
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    let port = serving.split("address=0.0.0.0:").nth(1).unwrap().split_whitespace().next().unwrap();
    let addr = format!("127.0.0.1:{port}");

    assert_eq!(get(&addr, "/v1/workflows", None), 401, "no anonymous calls once a key exists");
    assert_eq!(get(&addr, "/v1/workflows", Some("wk_bogus")), 401);
    assert_eq!(get(&addr, "/v1/workflows", Some(&key)), 200);
    assert_eq!(get(&addr, "/openapi.json", None), 200, "the OpenAPI document stays open");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn on_loopback_with_no_keys_calls_are_anonymous_with_a_warning_unless_keys_are_required() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, anonymous) in [(&[][..], true), (&["--require-auth"][..], false)] {
        let database = dir.path().join(format!("loopback-{anonymous}.db"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(flags)
            .env("WEFT_DATABASE_URL", format!("sqlite://{}", database.display()))
            .env("WEFT_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weft");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut before_serving = Vec::new();
        for line in lines.by_ref().map_while(Result::ok) {
            let done = line.contains("weft is serving");
            before_serving.push(line);
            if done {
                break;
            }
        }
        let serving = before_serving.last().unwrap().clone();
        std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
        let addr = serving.split("address=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
        let warnings = before_serving.iter().filter(|l| l.contains("no API key exists")).count();
        assert_eq!(warnings, 1, "one warning either way: {before_serving:?}");
        let status = get(&addr, "/v1/workflows", None);
        assert_eq!(status, if anonymous { 200 } else { 401 }, "flags {flags:?}");
        let _ = child.kill();
        let _ = child.wait();
    }
}
