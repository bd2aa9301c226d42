//! The `weft` binary itself: it starts on the configured database (env
//! layer), migrates, serves, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn weft_serve_migrates_serves_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("from-env.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("WEFT_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("WEFT_LOG", "info")
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();

    let started = Instant::now();
    let serving = lines.by_ref().map_while(Result::ok).find(|line| line.contains("weft is serving"));
    assert!(serving.is_some(), "the server never reported serving");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(database.exists(), "the database named by WEFT_DATABASE_URL was created and migrated");

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}; log: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("weft stopped")), "{rest:?}");
}

#[test]
fn weft_refuses_a_malformed_listen_address_with_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve"])
        .env("WEFT_LISTEN", "not-an-address")
        .output()
        .expect("run weft");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("WEFT_LISTEN"), "{stderr}");
}
