//! Shared by the `cli_*` tests (and `console_dir.rs`): a child `weft serve`
//! on a temporary SQLite file, the `weft` client commands run against it,
//! and an in-process worker (the Rust SDK) serving the agents the test
//! workflows use.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test code: each test file uses part of the helpers, and a helper fails the test by unwrapping"
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

/// A child `weft serve`; dropping it kills the process.
pub struct Server {
    child: std::process::Child,
    /// `http://127.0.0.1:port`.
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `weft serve` on a fresh database and waits until it serves.
pub fn start_server() -> Server {
    start_server_with(&[])
}

/// `start_server` with extra environment variables (settings).
pub fn start_server_with(env: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("cli.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("WEFT_DATABASE_URL", format!("sqlite://{}", database.display()))
        .env("WEFT_LOG", "info")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weft");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = lines.by_ref().map_while(Result::ok).find(|line| line.contains("weft is serving")).expect("serving");
    let addr = serving
        .split_whitespace()
        .find_map(|part| part.strip_prefix("address="))
        .expect("the serving line names its address")
        .to_string();
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    Server { child, url: format!("http://{addr}"), _dir: dir }
}

/// What a `weft` command did.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// The stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}\nstderr: {}", self.stdout, self.stderr))
    }
}

/// `weft ARGS` against `server`, stdout a pipe (so JSON by default).
pub fn weft(server: &Server, args: &[&str]) -> Ran {
    weft_at(&server.url, args)
}

/// `weft ARGS` against the server at `url`.
fn weft_at(url: &str, args: &[&str]) -> Ran {
    let Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_weft"))
        .args(args)
        .env("WEFT_URL", url)
        .env_remove("WEFT_API_KEY")
        .output()
        .expect("run weft");
    Ran {
        code: status.code().expect("weft exited, not killed"),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// [`weft`] from async code.
pub async fn weft_async(server: &Server, args: &[&str]) -> Ran {
    let url = server.url.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        weft_at(&url, &args)
    })
    .await
    .unwrap()
}

/// Writes `text` to `name` in a new temporary directory; the directory
/// lives as long as the returned guard.
pub fn file(name: &str, text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let path = path.display().to_string();
    (dir, path)
}
