//! The three SDK workers the worker-path bench drives, each serving agent
//! `echo` (output = input, at once) with the SDK's own worker runtime: the
//! Rust SDK's `Worker` inside the bench process, and the Python and
//! TypeScript SDKs' workers as child processes running the scripts in
//! `bench/worker-path/`, with the interpreters and packages that
//! `scripts/test-sdks` uses (installed by `sdk-gen/install-deps`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use tokio::sync::watch;
use weft_sdk::worker::{Outcome, Worker};

use crate::BoxError;
use crate::server_process::repo_root;

/// Which SDK's worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sdk {
    Rust,
    Python,
    Ts,
}

impl Sdk {
    /// Every SDK, in table order.
    pub const ALL: [Sdk; 3] = [Sdk::Rust, Sdk::Python, Sdk::Ts];

    /// Its name on the command line and in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rust => "rust",
            Self::Python => "python",
            Self::Ts => "ts",
        }
    }

    /// Checks that the SDK's test setup is installed, and compiles the
    /// TypeScript SDK as `scripts/test-sdks` does, so its worker runs the
    /// current sources. Nothing is downloaded.
    pub fn prepare(self) -> Result<(), BoxError> {
        let sdk = repo_root().join("sdk-gen");
        let needed = match self {
            Self::Rust => return Ok(()),
            Self::Python => sdk.join("python/.venv/bin/python"),
            Self::Ts => sdk.join("ts/node_modules/.bin/tsc"),
        };
        if !needed.exists() {
            return Err(format!("{} is missing: run sdk-gen/install-deps first", needed.display()).into());
        }
        if self == Self::Ts {
            let status = std::process::Command::new(&needed)
                .args(["-p", "tsconfig.json"])
                .current_dir(sdk.join("ts"))
                .status()?;
            if !status.success() {
                return Err(format!("tsc failed ({status})").into());
            }
        }
        Ok(())
    }
}

/// A worker serving `echo`, until [`SdkWorker::stop`].
pub enum SdkWorker {
    /// The Rust SDK's runtime on this process's tokio runtime.
    InProcess { stop: watch::Sender<bool>, task: tokio::task::JoinHandle<Result<(), weft_sdk::Error>> },
    /// A Python or Node process.
    Child(Child),
}

impl SdkWorker {
    /// Starts `sdk`'s worker with `concurrency` slots against the server at
    /// `url`, and waits until the server lists it.
    pub async fn start(sdk: Sdk, url: &str, concurrency: usize) -> Result<Self, BoxError> {
        let mut worker = match sdk {
            Sdk::Rust => {
                let weft = weft_sdk::Weft::connect(url.to_owned()).await?;
                let worker = Worker::new(&weft)
                    .name("bench-echo-rust")
                    .agent("echo", |task| {
                        let output = task.input().clone();
                        async move { Ok(Outcome::new(output)) }
                    })
                    .concurrency(concurrency);
                let (stop, mut stopped) = watch::channel(false);
                let task = tokio::spawn(worker.run(async move {
                    let _ = stopped.wait_for(|s| *s).await;
                }));
                Self::InProcess { stop, task }
            }
            Sdk::Python | Sdk::Ts => Self::Child(spawn_script(sdk, url, concurrency)?),
        };
        if let Err(error) = worker.wait_until_listed(url).await {
            worker.stop().await;
            return Err(error);
        }
        Ok(worker)
    }

    async fn wait_until_listed(&mut self, url: &str) -> Result<(), BoxError> {
        let weft = weft_sdk::Weft::connect(url.to_owned()).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.check_alive()?;
            let request = weft_sdk::pb::ListWorkersRequest { agent: "echo".into(), ..Default::default() };
            if !weft.workers().list_workers(request).await?.into_inner().workers.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the worker did not register within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// An error if the worker has stopped.
    pub fn check_alive(&mut self) -> Result<(), BoxError> {
        match self {
            Self::InProcess { task, .. } if task.is_finished() => Err("the Rust worker stopped".into()),
            Self::InProcess { .. } => Ok(()),
            Self::Child(child) => match child.try_wait()? {
                None => Ok(()),
                Some(status) => Err(format!("the worker process exited ({status})").into()),
            },
        }
    }

    /// Asks the worker to shut down gracefully (SIGTERM for a process), and
    /// kills a process that has not within 10 s.
    pub async fn stop(self) {
        match self {
            Self::InProcess { stop, task } => {
                let _ = stop.send(true);
                let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
            }
            Self::Child(mut child) => {
                if let Some(pid) = child.id() {
                    crate::terminate(pid);
                }
                if tokio::time::timeout(Duration::from_secs(10), child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
            }
        }
    }
}

/// Starts `bench/worker-path/echo_worker.{py,mjs}`; its output goes to the
/// bench's stderr, so a failing worker is seen.
fn spawn_script(sdk: Sdk, url: &str, concurrency: usize) -> Result<Child, BoxError> {
    let root = repo_root();
    let scripts = root.join("bench/worker-path");
    let (program, script): (PathBuf, PathBuf) = match sdk {
        Sdk::Python => (root.join("sdk-gen/python/.venv/bin/python"), scripts.join("echo_worker.py")),
        _ => ("node".into(), scripts.join("echo_worker.mjs")),
    };
    let child = Command::new(&program)
        .arg(&script)
        .arg(url)
        .arg(concurrency.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
    Ok(child)
}
