//! `weft serve` on a Postgres nobody answers at: it exits non-zero within
//! seconds, naming the address and the cause, instead of reporting a pool
//! timeout after ten. Needs no running Postgres.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a helper fails the test by unwrapping, and clippy's allow-unwrap-in-tests covers only #[test] functions"
)]

use std::process::Command;
use std::time::{Duration, Instant};

/// A port nothing listens on: bound, then released, so the kernel refuses
/// connections to it at once.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn serve_on_an_unreachable_postgres_exits_quickly_naming_address_and_cause() {
    let port = closed_port();
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--database-url", &format!("postgres://weft:s3cret@127.0.0.1:{port}/test")])
        .env("RUST_BACKTRACE", "0")
        .current_dir(dir.path())
        .output()
        .expect("run weft");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "weft serve succeeded on a closed port: {stderr}");
    // The probe's own bound is 2 s and a refusal comes back at once; the
    // slack is for a loaded test machine.
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}: {stderr}");
    assert!(stderr.contains(&format!("cannot connect to Postgres at 127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
    assert!(!stderr.contains("pool timed out"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "the password leaked: {stderr}");
}

#[test]
fn keys_create_on_an_unreachable_postgres_names_the_cause_too() {
    let port = closed_port();
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["keys", "create", "--scope", "admin"])
        .args(["--database-url", &format!("postgres://postgres@127.0.0.1:{port}/test")])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run weft");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")) && stderr.contains("connection refused"), "{stderr}");
}

#[test]
fn serve_on_a_silent_postgres_gives_up_after_the_probe_timeout() {
    // Accepted by the kernel's backlog, never answered: the start-up
    // message goes unanswered, as with a host that drops packets.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = silent.local_addr().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--database-url", &format!("postgres://postgres@{address}/test")])
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run weft");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5), "took {elapsed:?}: {stderr}");
    assert!(stderr.contains(&format!("cannot connect to Postgres at {address}: no answer within 2 s")), "{stderr}");
    drop(silent);
}
