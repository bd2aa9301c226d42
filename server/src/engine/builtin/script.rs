//! Script steps: off unless `script.enabled`. The step's `language` picks
//! an interpreter (`shell` → `sh`, `python` → `python3`), which must be in
//! `script.interpreters`. It runs as a child process:
//! - with a cleared environment (only a minimal `PATH`), so nothing the
//!   server was given (secrets, tokens) leaks into it;
//! - in a fresh temporary directory of its own, removed afterwards;
//! - in its own process group, killed whole (SIGKILL) on timeout or when
//!   the run is cancelled;
//! - under `RLIMIT_AS` (memory) and no core dumps, set between fork and
//!   exec — that needs `setrlimit`/`setpgid`, hence `libc`;
//! - with stdout and stderr each capped.
//!
//! stdin is the step's input (its resolved `inputMap`) as JSON; stdout is
//! the output, parsed as JSON when it is, else as text. A non-zero exit
//! fails the attempt with the end of stderr.

#![allow(unsafe_code, reason = "pre_exec (setpgid, setrlimit) and kill(-pgid) of the script's process group need libc")]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::{Finish, Job, json_or_text, whole_numbers};

/// The only environment a script sees.
const MIN_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Why a run ended early.
enum Stop {
    Timeout,
    Cancelled,
}

pub(super) async fn run(job: &Job) -> Finish {
    let settings = &job.settings.script;
    let refuse = |error: String| Finish::Failed { error, retryable: false };
    if !settings.enabled {
        return refuse(
            "script steps are disabled on this server (set script.enabled = true, or WEFT_SCRIPT_ENABLED=true)".into(),
        );
    }
    let Some(interpreter) = super::interpreter_of(&job.spec.language) else {
        return refuse(format!("no interpreter runs language '{}'", job.spec.language));
    };
    let file = if interpreter == "sh" { "script.sh" } else { "script.py" };
    if !settings.interpreters.iter().any(|i| i == interpreter) {
        return refuse(format!(
            "interpreter '{interpreter}' is not allowed on this server (script.interpreters is {:?})",
            settings.interpreters
        ));
    }
    let Some(program) = find_program(interpreter) else {
        return refuse(format!("interpreter '{interpreter}' is not installed (looked in {MIN_PATH})"));
    };
    let dir = std::env::temp_dir().join(format!("weft-script-{}-{}", job.leased.task_id, job.leased.lease_token));
    let finish = run_in(job, &program, &dir, file).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    finish
}

async fn run_in(job: &Job, program: &Path, dir: &Path, file: &str) -> Finish {
    let settings = &job.settings.script;
    let trouble = |what: &str, err: std::io::Error| Finish::Failed { error: format!("{what}: {err}"), retryable: true };
    let _ = tokio::fs::remove_dir_all(dir).await;
    if let Err(err) = tokio::fs::create_dir(dir).await {
        return trouble("cannot make the script's working directory", err);
    }
    if let Err(err) = tokio::fs::write(dir.join(file), &job.spec.script).await {
        return trouble("cannot write the script", err);
    }
    let memory_bytes = settings.memory_limit_mb.saturating_mul(1024 * 1024);
    let mut command = Command::new(program);
    command
        .arg(file)
        .env_clear()
        .env("PATH", MIN_PATH)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // SAFETY: between fork and exec only async-signal-safe calls are made
    // (setpgid, setrlimit), touching no memory shared with the parent.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let memory =
                libc::rlimit { rlim_cur: memory_bytes as libc::rlim_t, rlim_max: memory_bytes as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_AS, &memory) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            Ok(())
        });
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => return trouble("cannot start the interpreter", err),
    };
    let pid = child.id().map(|p| p as libc::pid_t);
    // Kills the group however this function ends, a dropped future included.
    let _group = GroupGuard(pid);
    let input = serde_json::to_vec(&whole_numbers(job.leased.input.clone())).unwrap_or_default();
    let mut stdin = child.stdin.take();
    let feed = async move {
        if let Some(stdin) = stdin.as_mut() {
            // A script that never reads its input closes the pipe early.
            let _ = stdin.write_all(&input).await;
        }
        drop(stdin);
    };
    let cap = settings.max_output_bytes;
    let stdout = capped(child.stdout.take(), cap);
    let stderr = capped(child.stderr.take(), cap);
    let timeout = job.spec.timeout_ms.map_or(Duration::from_millis(settings.timeout_ms), Duration::from_millis);
    let mut cancelled = job.cancelled.clone();
    let work = async {
        let (_, out, err, status) = tokio::join!(feed, stdout, stderr, child.wait());
        (out, err, status)
    };
    let outcome = tokio::select! {
        done = work => Ok(done),
        _ = tokio::time::sleep(timeout) => Err(Stop::Timeout),
        _ = cancelled.wait_for(|c| *c) => Err(Stop::Cancelled),
    };
    let ((stdout, out_over), (stderr, _), status) = match outcome {
        Ok(done) => done,
        Err(stop) => {
            kill_group(pid);
            let _ = child.wait().await;
            return match stop {
                Stop::Timeout => Finish::Failed {
                    error: format!(
                        "the script was killed after running longer than its timeout of {}",
                        humantime::format_duration(timeout)
                    ),
                    retryable: true,
                },
                Stop::Cancelled => Finish::Abandoned,
            };
        }
    };
    // Whatever the script left running in its group goes too.
    kill_group(pid);
    let status = match status {
        Ok(status) => status,
        Err(err) => return trouble("cannot wait for the interpreter", err),
    };
    if out_over {
        return Finish::TooLarge(format!(
            "the script wrote more than the cap of {cap} bytes to stdout (script.max_output_bytes)"
        ));
    }
    if !status.success() {
        return Finish::Failed { error: exit_error(status, &stderr, settings.memory_limit_mb), retryable: true };
    }
    match json_or_text(&stdout, "output") {
        Ok(serde_json::Value::String(text)) => {
            Finish::Done(serde_json::Value::String(text.trim_end_matches('\n').to_owned()))
        }
        Ok(other) => Finish::Done(other),
        Err(fault) => Finish::Refused(fault),
    }
}

/// Why a script that exited badly failed, naming the memory limit when
/// that is the likely cause.
fn exit_error(status: std::process::ExitStatus, stderr: &[u8], memory_limit_mb: u64) -> String {
    use std::os::unix::process::ExitStatusExt;
    let text = String::from_utf8_lossy(stderr);
    let tail: String = text.trim().chars().rev().take(500).collect::<Vec<_>>().into_iter().rev().collect();
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => "ended abnormally".to_owned(),
    };
    let memory =
        ["MemoryError", "Cannot allocate memory", "out of memory", "memory exhausted"].iter().any(|m| text.contains(m))
            || matches!(status.signal(), Some(libc::SIGSEGV | libc::SIGABRT | libc::SIGBUS));
    let hint =
        if memory { format!(" (it ran out of memory: the limit is {memory_limit_mb} MiB)") } else { String::new() };
    if tail.is_empty() { format!("the script {how}{hint}") } else { format!("the script {how}{hint}: {tail}") }
}

/// Reads up to `cap` bytes; the flag says whether more came (the rest is
/// drained so the child never blocks on a full pipe).
async fn capped<R: AsyncRead + Unpin>(reader: Option<R>, cap: usize) -> (Vec<u8>, bool) {
    let Some(mut reader) = reader else { return (Vec::new(), false) };
    let mut kept = Vec::new();
    let mut over = false;
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return (kept, over),
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                over |= n > room;
            }
        }
    }
}

/// Kills a child's process group when dropped.
struct GroupGuard(Option<libc::pid_t>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        kill_group(self.0);
    }
}

fn kill_group(pid: Option<libc::pid_t>) {
    if let Some(pid) = pid.filter(|p| *p > 0) {
        // SAFETY: kill(2) with a negative pid signals the process group the
        // child leads (setpgid in pre_exec); no memory is involved.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name)).filter(|p| p.is_file());
    }
    MIN_PATH.split(':').map(|dir| Path::new(dir).join(name)).find(|p| p.is_file())
}
