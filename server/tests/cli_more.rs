//! The smaller command groups end to end: an approval step's approval is
//! listed, approved from the command line and the run completes; a denied
//! one fails its run; schedules are created, listed, paused and deleted;
//! built-in templates are listed and installed as workflows.

#![allow(clippy::unwrap_used, reason = "test code")]

mod cli_support;

use cli_support::{Ran, Server, file, start_server, weft};

const GATED: &str = "\
name: cli-gated
steps:
  - id: approve
    type: approval
    action: ship_it
    message: Ship it?
  - id: done
    type: transform
    dependsOn: [approve]
    output: {shipped: $.approve.output.decision}
";

fn start_gated(server: &Server) -> String {
    let ran = weft(server, &["runs", "start", "cli-gated"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    ran.json()["id"].as_str().unwrap().to_string()
}

/// The pending approval of `run`, waiting until the run reaches it.
fn pending_approval(server: &Server, run: &str) -> String {
    for _ in 0..100 {
        let listed: Ran = weft(server, &["approvals", "list", "--run", run, "-o", "json"]);
        assert_eq!(listed.code, 0, "{}", listed.stderr);
        if let Some(first) = listed.json()["approvals"].as_array().and_then(|a| a.first().cloned()) {
            assert_eq!(first["status"], "pending");
            assert_eq!(first["message"], "Ship it?");
            return first["id"].as_str().unwrap().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no approval appeared for {run}");
}

#[test]
fn approvals_are_listed_and_decided_from_the_command_line() {
    let server = start_server();
    let (_dir, path) = file("gated.yaml", GATED);
    assert_eq!(weft(&server, &["workflows", "apply", "-f", &path]).code, 0);

    let run = start_gated(&server);
    let approval = pending_approval(&server, &run);
    let approved = weft(&server, &["approvals", "approve", &approval, "--comment", "looks good"]);
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    assert_eq!(approved.json()["status"], "approved");
    assert_eq!(approved.json()["comment"], "looks good");
    let watched = weft(&server, &["runs", "watch", &run]);
    assert_eq!(watched.code, 0, "{}", watched.stdout);
    assert!(watched.stdout.contains("✓ done"), "{}", watched.stdout);

    // Deciding it again is the server's refusal.
    let again = weft(&server, &["approvals", "deny", &approval]);
    assert_eq!(again.code, 1, "{}", again.stdout);
    assert!(again.stderr.contains("error: "), "{}", again.stderr);

    let run = start_gated(&server);
    let approval = pending_approval(&server, &run);
    let denied = weft(&server, &["approvals", "deny", &approval]);
    assert_eq!(denied.code, 0, "{}", denied.stderr);
    let watched = weft(&server, &["runs", "watch", &run]);
    assert_eq!(watched.code, 1, "a denied approval fails the run: {}", watched.stdout);
    assert!(watched.stdout.contains("APPROVAL_DENIED"), "{}", watched.stdout);

    let unknown = weft(&server, &["approvals", "approve", "appr_nope"]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("NOT_FOUND"), "{}", unknown.stderr);
}

#[test]
fn schedules_and_templates_round_trip() {
    let server = start_server();
    let (_dir, path) = file("gated.yaml", GATED);
    assert_eq!(weft(&server, &["workflows", "apply", "-f", &path]).code, 0);

    let created =
        weft(&server, &["schedules", "create", "cli-gated", "--cron", "0 9 * * 1-5", "--timezone", "Europe/Paris"]);
    assert_eq!(created.code, 0, "{}", created.stderr);
    let schedule = created.json();
    let id = schedule["id"].as_str().unwrap().to_string();
    assert_eq!(schedule["cronExpression"], "0 9 * * 1-5");
    let listed = weft(&server, &["schedules", "list", "cli-gated", "-o", "json"]);
    assert!(listed.json()["schedules"].as_array().unwrap().iter().any(|s| s["id"] == id.as_str()), "{}", listed.stdout);
    let got = weft(&server, &["schedules", "get", &id]);
    assert!(!got.json()["nextFireTimes"].as_array().unwrap().is_empty(), "{}", got.stdout);
    let paused = weft(&server, &["schedules", "pause", &id]);
    assert_eq!(paused.json()["enabled"], false, "{}", paused.stdout);
    assert_eq!(weft(&server, &["schedules", "delete", &id]).code, 0);
    let bad = weft(&server, &["schedules", "create", "cli-gated", "--cron", "not cron"]);
    assert_eq!(bad.code, 1);
    assert!(!bad.stderr.is_empty());

    let templates = weft(&server, &["templates", "list", "-o", "json"]);
    assert_eq!(templates.code, 0, "{}", templates.stderr);
    let all = templates.json()["templates"].as_array().unwrap().clone();
    assert!(all.iter().any(|t| t["id"] == "map-reduce-summary"), "{}", templates.stdout);
    let installed = weft(&server, &["templates", "install", "map-reduce-summary", "--name", "cli-installed"]);
    assert_eq!(installed.code, 0, "{}", installed.stderr);
    let got = weft(&server, &["workflows", "get", "cli-installed"]);
    assert_eq!(got.code, 0, "{}", got.stderr);
    assert_eq!(got.json()["steps"][0]["type"], "map");
}
