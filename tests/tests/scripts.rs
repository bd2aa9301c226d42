//! Script steps end to end: off unless enabled; enabled, a script reads
//! its input as JSON on stdin and its stdout (JSON, else text) is the
//! output; it sees a cleared environment; a script over its time limit is
//! killed with its whole process group, as is one whose run is cancelled;
//! one over its memory limit fails saying so; a non-zero exit fails with
//! the end of stderr.

use std::path::Path;

use serde_json::{Value, json};
use weft_sdk::pb;
use weft_server::Config;
use weft_tests::eventually;
use weft_tests::runs::{self, get_run, json_of, step, wait_finished};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, http1};

fn enabled() -> Config {
    let mut config = Config::default();
    config.script.enabled = true;
    config.script.memory_limit_mb = 256;
    config
}

async fn start(server: &TestServer, steps: Value, input: Value) -> String {
    let definition = json!({"name": "script", "steps": steps});
    let workflow_id = create_json(server, definition).await;
    runs::start(&server.client().await, &workflow_id, input).await.id
}

async fn run_script(server: &TestServer, language: &str, script: &str, input: Value, timeout: &str) -> pb::StepRun {
    let steps = json!([{"id": "s", "type": "script", "language": language, "script": script,
                        "inputMap": {"data": "$.input"}, "timeout": timeout}]);
    let run_id = start(server, steps, input).await;
    let run = wait_finished(&server.client().await, &run_id, 30).await;
    step(&run, "s").clone()
}

#[tokio::test]
async fn scripts_are_refused_unless_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let s = run_script(&server, "shell", "echo hi", json!({}), "10s").await;
    assert_eq!(s.status, pb::StepStatus::Failed as i32);
    assert!(s.error.starts_with("script steps are disabled on this server"), "{}", s.error);
}

#[tokio::test]
async fn a_python_script_reads_its_input_and_returns_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), enabled()).await;
    let script = "import json, sys\nd = json.load(sys.stdin)['data']\nprint(json.dumps({'sum': d['a'] + d['b']}))\n";
    let s = run_script(&server, "python", script, json!({"a": 2, "b": 40}), "20s").await;
    assert_eq!(s.status, pb::StepStatus::Completed as i32, "{}", s.error);
    assert_eq!(json_of(&s.output), json!({"sum": 42}));
}

#[tokio::test]
async fn a_script_sees_a_cleared_environment_in_a_directory_of_its_own() {
    // SAFETY: set before the server starts and read only by child processes.
    unsafe { std::env::set_var("WEFT_TEST_LEAK", "server-secret") };
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), enabled()).await;
    let script = "echo \"home=[${HOME}] leak=[${WEFT_TEST_LEAK}] path=[$PATH] files=[$(ls | tr '\\n' ' ')]\"";
    let s = run_script(&server, "shell", script, json!({}), "10s").await;
    assert_eq!(s.status, pb::StepStatus::Completed as i32, "{}", s.error);
    assert_eq!(json_of(&s.output), json!("home=[] leak=[] path=[/usr/local/bin:/usr/bin:/bin] files=[script.sh ]"));
}

#[tokio::test]
async fn a_script_over_its_time_limit_is_killed_with_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), enabled()).await;
    let pid_file = dir.path().join("child.pid");
    let script = format!("sleep 300 &\necho $! > {}\nsleep 300\n", pid_file.display());
    let s = run_script(&server, "shell", &script, json!({}), "1s").await;
    assert_eq!(s.status, pb::StepStatus::Failed as i32);
    assert_eq!(s.error, "the script was killed after running longer than its timeout of 1s");
    assert_gone(&pid_file).await;
}

#[tokio::test]
async fn cancelling_the_run_kills_its_script() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), enabled()).await;
    let client = server.client().await;
    let pid_file = dir.path().join("script.pid");
    let script = format!("echo $$ > {}\nsleep 300\n", pid_file.display());
    let steps = json!([{"id": "s", "type": "script", "language": "shell", "script": script, "timeout": "5m"}]);
    let run_id = start(&server, steps, json!({})).await;
    let written = &pid_file;
    eventually("the script writes its pid", 30, || async move {
        // A whole line: `echo` may have created the file and not written yet.
        std::fs::read_to_string(written).map_err(|e| e.to_string()).and_then(|pid| match pid.ends_with('\n') {
            true => Ok(()),
            false => Err(pid),
        })
    })
    .await;
    client.runs().cancel_run(pb::CancelRunRequest { run_id: run_id.clone(), ..Default::default() }).await.unwrap();
    assert_eq!(get_run(&client, &run_id).await.status, pb::RunStatus::Cancelled as i32);
    // The script sleeps 300 s under a 5 min timeout: only the cancel ends it
    // before the guard in assert_gone runs out.
    assert_gone(&pid_file).await;
}

#[tokio::test]
async fn a_script_over_its_memory_limit_fails_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), enabled()).await;
    let script = "block = bytearray(1024 * 1024 * 1024)\nprint('allocated')\n";
    let s = run_script(&server, "python", script, json!({}), "20s").await;
    assert_eq!(s.status, pb::StepStatus::Failed as i32, "{:?}", s.output);
    assert!(
        s.error.starts_with("the script exited with status 1 (it ran out of memory: the limit is 256 MiB)"),
        "{}",
        s.error
    );
    assert!(s.error.contains("MemoryError"), "{}", s.error);
}

#[tokio::test]
async fn a_failing_script_reports_its_exit_status_and_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), enabled()).await;
    let s = run_script(&server, "shell", "echo 'lead not found' >&2; exit 3", json!({}), "10s").await;
    assert_eq!(s.status, pb::StepStatus::Failed as i32);
    assert_eq!(s.error, "the script exited with status 3: lead not found");
}

#[tokio::test]
async fn a_script_in_a_language_off_the_list_is_refused_at_create_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), enabled()).await;
    let definition =
        json!({"name": "ruby", "steps": [{"id": "s", "type": "script", "language": "ruby", "script": "puts 1"}]});
    let (status, body) = http1::json(server.addr, "POST", "/v1/workflows", Some(definition)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("language 'ruby'"), "{body}");
    let (_, listed) = http1::json(server.addr, "GET", "/v1/workflows", None).await;
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn a_script_whose_interpreter_the_server_does_not_allow_is_refused_at_create_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = enabled();
    config.script.interpreters = vec!["sh".into()];
    let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
    let definition = json!({"name": "py", "steps": [
        {"id": "ok", "type": "script", "language": "shell", "script": "echo 1"},
        {"id": "py", "type": "script", "language": "python", "script": "print(1)"}
    ]});
    let (status, body) = http1::json(server.addr, "POST", "/v1/workflows", Some(definition)).await;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("Step 'py' is in language 'python', whose interpreter 'python3'"), "{body}");
    assert!(!message.contains("'ok'"), "{body}");
    let (_, listed) = http1::json(server.addr, "GET", "/v1/workflows", None).await;
    assert_eq!(listed, json!([]));
}

/// Waits until the process whose pid is in `pid_file` is gone (or a
/// zombie), failing after 30 s (a guard against a hang, not a bound).
async fn assert_gone(pid_file: &Path) {
    let pid = std::fs::read_to_string(pid_file).unwrap().trim().to_owned();
    assert!(!pid.is_empty(), "no pid in {}", pid_file.display());
    let stat_path = format!("/proc/{pid}/stat");
    let stat_path = &stat_path;
    eventually(&format!("process {pid} ends"), 30, || async move {
        let stat = std::fs::read_to_string(stat_path).unwrap_or_default();
        let state = stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()).unwrap_or("");
        if stat.is_empty() || state == "Z" || state == "X" { Ok(()) } else { Err(stat) }
    })
    .await;
}
