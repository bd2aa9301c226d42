//! A `weft serve` child process, for benches that measure the server apart
//! from its clients and workers: finds (or builds) the binary, gives it a
//! free loopback port and a store of its own (a SQLite file in a temp dir,
//! or a fresh Postgres schema that [`ServerProcess::stop`] drops), waits
//! until it answers gRPC, and stops it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::process::{Child, Command};

use crate::BoxError;

/// Where the server keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// A SQLite file in a temp dir (the server's default store).
    Sqlite,
    /// A fresh schema in the Postgres database at this URL.
    Postgres(String),
}

impl Store {
    /// Its name in tables.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// The root of this checkout (the bench crate's parent).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".")).to_path_buf()
}

/// The `weft` binary to run: `WEFT_BENCH_SERVER` if set (to compare two
/// builds), else this checkout's, built now with the bench profile (release
/// plus line tables, for perf) into the target dir this bench runs from, so
/// the figures are never those of a stale binary.
pub fn server_binary() -> Result<PathBuf, BoxError> {
    if let Some(path) = std::env::var_os("WEFT_BENCH_SERVER") {
        return Ok(path.into());
    }
    // Set by cargo for the programs it runs; plain `cargo` otherwise.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // With weft-bench in the same build, dependencies get the features they
    // get in this bench's build: built alone, weft-server unifies them
    // differently, and each build would then recompile rustls and the server
    // the other one made (five minutes each time on 2 cores).
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--profile", "bench", "-p", "weft-server", "-p", "weft-bench", "--bin", "weft", "--locked"]);
    // Cargo gives this bench its package's variables (CARGO_MANIFEST_DIR, …);
    // a build that sees them takes ring's `env!` as changed and rebuilds
    // rustls and the server, and so does the next plain build.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let per_package =
            ["CARGO_MANIFEST_", "CARGO_PKG_", "CARGO_CRATE_", "CARGO_BIN_", "CARGO_PRIMARY_", "CARGO_TARGET_TMPDIR"];
        if per_package.iter().any(|prefix| name.starts_with(prefix)) {
            build.env_remove(name.as_ref());
        }
    }
    let status = build.arg("--quiet").current_dir(repo_root()).status()?;
    if !status.success() {
        return Err(format!("building the weft binary failed ({status})").into());
    }
    // This bench is <target>/release/deps/<name>-<hash>; the binary lands in <target>/release.
    let exe = std::env::current_exe()?;
    let dir = exe.parent().and_then(Path::parent).ok_or("cannot place the target dir")?;
    Ok(dir.join("weft"))
}

/// A running `weft serve`.
pub struct ServerProcess {
    child: Child,
    pid: u32,
    url: String,
    /// The temp dir holding the SQLite file (or nothing) and the server's log.
    dir: tempfile::TempDir,
    /// (database URL, schema) of the Postgres schema made for this server.
    schema: Option<(String, String)>,
}

impl ServerProcess {
    /// Starts `binary` on a free loopback port with a store of its own and
    /// waits until it answers gRPC. `env` is added to the server's
    /// environment (configuration such as limits).
    pub async fn start(binary: &Path, store: &Store, env: &[(&str, &str)]) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let (database_url, schema) = match store {
            Store::Sqlite => (format!("sqlite://{}", dir.path().join("weft.db").display()), None),
            Store::Postgres(base) => {
                let schema = create_schema(base).await?;
                (schema_url(base, &schema), Some((base.clone(), schema)))
            }
        };
        // The port is free when asked; nothing else on this machine races for it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let spawned = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &database_url])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) => {
                drop_schema(schema.as_ref()).await;
                return Err(format!("cannot start {}: {error}", binary.display()).into());
            }
        };
        let pid = child.id().ok_or("the server exited at once")?;
        let mut server = Self { child, pid, url: format!("http://127.0.0.1:{port}"), dir, schema };
        if let Err(error) = server.wait_until_serving().await {
            let log = server.log_tail();
            server.stop().await;
            return Err(format!("{error}\n--- server log ---\n{log}").into());
        }
        Ok(server)
    }

    /// Waits until a gRPC call goes through (migrations run before that).
    async fn wait_until_serving(&mut self) -> Result<(), BoxError> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(format!("the server exited ({status})").into());
            }
            if let Ok(weft) = weft_sdk::Weft::connect(self.url.clone()).await {
                let request = weft_sdk::pb::ListWorkersRequest::default();
                if weft.workers().list_workers(request).await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("the server did not answer within 60 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's process id, for [`crate::proc_stats::sample`].
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// An error if the server has exited (with its log's end).
    pub fn check_alive(&mut self) -> Result<(), BoxError> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("the server exited ({status})\n{}", self.log_tail()).into()),
        }
    }

    /// The last lines the server logged.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Stops the server as an operator would (SIGTERM, then SIGKILL after
    /// 10 s) and drops its Postgres schema.
    pub async fn stop(mut self) {
        crate::terminate(self.pid);
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
        drop_schema(self.schema.as_ref()).await;
    }
}

/// `base` with every connection's `search_path` set to `schema`, as the
/// end-to-end tests give each server its own schema (tests/src/store.rs).
fn schema_url(base: &str, schema: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

/// Creates a schema no one else uses: `weft_bench_wp_<pid>_<ms>`.
async fn create_schema(base: &str) -> Result<String, BoxError> {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    let schema = format!("weft_bench_wp_{}_{ms}", std::process::id());
    let mut conn = PgConnection::connect(base).await.map_err(|e| format!("cannot reach Postgres at {base}: {e}"))?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await?;
    let _ = conn.close().await;
    Ok(schema)
}

/// Drops the schema this bench made, and only it (the database is shared).
async fn drop_schema(schema: Option<&(String, String)>) {
    let Some((base, schema)) = schema else { return };
    let dropped = async {
        let mut conn = PgConnection::connect(base).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))).execute(&mut conn).await?;
        conn.close().await
    };
    if let Err(error) = dropped.await {
        eprintln!("could not drop schema {schema}: {error}; drop it by hand");
    }
}
