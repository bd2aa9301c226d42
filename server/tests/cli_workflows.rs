//! `weft workflows …` and the client's error paths, end to end against a
//! child `weft serve`: apply YAML (created, then unchanged), list/get as
//! JSON and YAML, a bad definition naming its step, a server refusal with
//! its ErrorInfo reason, client-side bad input, and shell completions.

#![allow(clippy::unwrap_used, reason = "test code")]

mod cli_support;

use cli_support::{file, start_server, weft};

const DEFINITION: &str = "\
name: cli-greeter
description: One agent step.
steps:
  - id: greet
    type: agent
    agent: greeter
    task: Say hello
";

#[test]
fn apply_yaml_creates_then_leaves_unchanged_and_lists_as_rest_json() {
    let server = start_server();
    let (_dir, path) = file("greeter.yaml", DEFINITION);

    let applied = weft(&server, &["workflows", "apply", "-f", &path]);
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let json = applied.json();
    assert_eq!(json["outcome"], "created");
    assert_eq!(json["workflow"]["version"], 1);
    assert_eq!(json["workflow"]["steps"][0]["id"], "greet");
    let id = json["workflow"]["id"].as_str().unwrap().to_string();

    let again = weft(&server, &["workflows", "apply", "-f", &path]);
    assert_eq!(again.json()["outcome"], "unchanged");

    // A changed definition is a new version.
    let changed = DEFINITION.replace("Say hello", "Say hello twice");
    let (_dir2, path2) = file("greeter2.yml", &changed);
    let updated = weft(&server, &["workflows", "apply", "-f", &path2, "-o", "json"]);
    assert_eq!(updated.json()["outcome"], "updated");
    assert_eq!(updated.json()["workflow"]["version"], 2);

    // list: the REST route's body, an array of workflows (camelCase, short enums).
    let list = weft(&server, &["workflows", "list", "-o", "json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let items = list.json();
    let found = items.as_array().unwrap().iter().find(|w| w["id"] == id.as_str()).expect("listed");
    assert_eq!(found["status"], "active");
    assert!(found.get("updatedAt").is_some(), "{found}");

    // get by name, as YAML.
    let got = weft(&server, &["workflows", "get", "cli-greeter", "-o", "yaml"]);
    assert_eq!(got.code, 0, "{}", got.stderr);
    let yaml: serde_json::Value = serde_norway::from_str(&got.stdout).unwrap();
    assert_eq!(yaml["id"], id.as_str());
    assert_eq!(yaml["version"], 2);

    let versions = weft(&server, &["workflows", "versions", "cli-greeter"]);
    assert_eq!(versions.json()["versions"].as_array().map(Vec::len), Some(2), "{}", versions.stdout);

    let diff = weft(&server, &["workflows", "diff", "cli-greeter", "1", "2", "-o", "table"]);
    assert_eq!(diff.code, 0, "{}", diff.stderr);
    assert!(diff.stdout.contains("~ /steps/0/task"), "{}", diff.stdout);

    let rollback = weft(&server, &["workflows", "rollback", "cli-greeter", "1"]);
    assert_eq!(rollback.code, 0, "{}", rollback.stderr);
    assert_eq!(rollback.json()["version"], 3);
    assert_eq!(rollback.json()["steps"][0]["task"], "Say hello");

    let deleted = weft(&server, &["workflows", "delete", "cli-greeter"]);
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    let gone = weft(&server, &["workflows", "get", &id]);
    assert_ne!(gone.code, 0);
}

#[test]
fn a_bad_definition_exits_1_naming_the_step() {
    let server = start_server();
    let bad = "\
name: cli-bad
steps:
  - id: fetch
    type: agent
    agent: a
    task: t
  - id: notify
    type: agent
    agent: b
    task: t
    dependsOn: [missing-step]
";
    let (_dir, path) = file("bad.yaml", bad);
    let validated = weft(&server, &["workflows", "validate", "-f", &path]);
    assert_eq!(validated.code, 1, "{}", validated.stderr);
    assert!(validated.stderr.contains("step 'notify'"), "{}", validated.stderr);
    assert!(validated.stderr.contains("missing-step"), "{}", validated.stderr);
    assert_eq!(validated.json()["valid"], false);

    let applied = weft(&server, &["workflows", "apply", "-f", &path]);
    assert_eq!(applied.code, 1);
    assert!(applied.stderr.contains("notify"), "{}", applied.stderr);
    assert!(applied.stderr.contains("VALIDATION_ERROR"), "{}", applied.stderr);

    let (_dir, good) = file("good.yaml", DEFINITION);
    let ok = weft(&server, &["workflows", "validate", "-f", &good]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

#[test]
fn server_refusals_print_the_message_and_reason_and_exit_non_zero() {
    let server = start_server();
    for args in [&["workflows", "get", "no-such-workflow"][..], &["runs", "start", "no-such-workflow"][..]] {
        let ran = weft(&server, args);
        assert_eq!(ran.code, 1, "{args:?}");
        assert!(ran.stderr.contains("WORKFLOW_NOT_FOUND"), "{args:?}: {}", ran.stderr);
        assert!(ran.stdout.is_empty(), "{}", ran.stdout);
    }
    let ran = weft(&server, &["runs", "get", "wfrun_00000000000000000000000000"]);
    assert_eq!(ran.code, 1);
    assert!(ran.stderr.contains("NOT_FOUND"), "{}", ran.stderr);
}

#[test]
fn bad_input_on_this_side_is_a_clear_message_and_exit_2() {
    let server = start_server();
    let missing = weft(&server, &["workflows", "apply", "-f", "/nonexistent/def.yaml"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("cannot read /nonexistent/def.yaml"), "{}", missing.stderr);

    let (_dir, broken) = file("broken.json", "{\"name\": ");
    let ran = weft(&server, &["workflows", "validate", "-f", &broken]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("not valid JSON"), "{}", ran.stderr);

    let (_dir, unknown) = file("unknown.yaml", "name: x\nstepz: []\n");
    let ran = weft(&server, &["workflows", "apply", "-f", &unknown]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("stepz"), "{}", ran.stderr);

    let (_dir, huge) = file("huge.json", &" ".repeat(4 * 1024 * 1024 + 1));
    let ran = weft(&server, &["workflows", "apply", "-f", &huge]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("4 MiB"), "{}", ran.stderr);

    let ran = weft(&server, &["runs", "start", "x", "--input", "{not json"]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("--input"), "{}", ran.stderr);

    let ran = weft(&server, &["runs", "list", "--status", "sleeping"]);
    assert_eq!(ran.code, 2);
    assert!(ran.stderr.contains("unknown status 'sleeping'"), "{}", ran.stderr);
}

#[test]
fn an_unreachable_server_is_reported_not_panicked() {
    let ran = std::process::Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["workflows", "list", "--server", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(stderr.contains("cannot reach the server"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn completions_print_a_script_naming_the_commands() {
    let ran = std::process::Command::new(env!("CARGO_BIN_EXE_weft")).args(["completions", "bash"]).output().unwrap();
    assert!(ran.status.success());
    let script = String::from_utf8_lossy(&ran.stdout);
    assert!(script.contains("workflows") && script.contains("runs") && script.contains("approvals"), "{script}");
    for shell in ["zsh", "fish"] {
        let ran = std::process::Command::new(env!("CARGO_BIN_EXE_weft")).args(["completions", shell]).output().unwrap();
        assert!(ran.status.success() && String::from_utf8_lossy(&ran.stdout).contains("workflows"), "{shell}");
    }
}
