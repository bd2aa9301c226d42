//! Test support for the end-to-end suite: a real `weft` server, started
//! in-process through [`weft_server::run`] on `127.0.0.1:0` with its own
//! database (a SQLite file, or a Postgres schema when `WEFT_TEST_STORE=postgres`;
//! see [`store`]), reached over real sockets.

pub mod auth;
mod eventually;
pub mod examples;
pub mod http1;
pub mod receiver;
pub mod replicas;
pub mod runs;
pub mod scenario;
pub mod shape;
pub mod store;
pub mod workers;
pub mod workflows;

pub use eventually::eventually;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use weft_sdk::Weft;
use weft_server::Config;

/// A running server and how to stop it.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Names its data: the SQLite file, or the key of its Postgres schema
    /// (see [`store`]). Starting another server on the same path reopens
    /// the same data.
    pub database: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), weft_server::ServeError>>>,
}

impl TestServer {
    /// Starts a server on a fresh database inside `dir`.
    pub async fn start(dir: &Path) -> Self {
        Self::start_on(dir.join("weft.db"), Config::default()).await
    }

    /// Starts a server on `database` with `config` (its listen address and
    /// database URL are replaced; the URL follows the suite's store).
    pub async fn start_on(database: PathBuf, mut config: Config) -> Self {
        config.database_url = store::TestStore::from_env().url_for(&database).await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
        let addr = listener.local_addr().expect("local address");
        config.listen = addr;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(weft_server::run(listener, config, async {
            let _ = stopped.await;
        }));
        wait_until_serving(addr, &task).await;
        Self { addr, database, stop: Some(stop), task: Some(task) }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A connected SDK client.
    pub async fn client(&self) -> Weft {
        // The listener is bound before `start` returns, so the first
        // connection succeeds; migrations finish before requests are served.
        Weft::connect(self.url()).await.expect("connect to the test server")
    }

    /// Stops the server gracefully and waits until it has closed the store.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server stopped cleanly");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Waits until the server at `addr` answers a request: migrations and
/// recovery are done, so a test may open the same database itself. Returns
/// early when the server task ended (a test of a refused start reads why).
async fn wait_until_serving(addr: SocketAddr, task: &JoinHandle<Result<(), weft_server::ServeError>>) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline && !task.is_finished() {
        let probe = http1::request(addr, "GET", "/openapi.json", &[], b"");
        if let Ok(Ok(response)) = tokio::time::timeout(std::time::Duration::from_secs(2), probe).await
            && response.status == 200
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The default configuration with `[http] cors_origins` set to `origins`.
pub fn with_origins(origins: &[&str]) -> Config {
    let http = weft_server::config::HttpSettings {
        cors_origins: origins.iter().map(|o| o.to_string()).collect(),
        ..Default::default()
    };
    Config { http, ..Config::default() }
}

/// A minimal valid definition with `n` agent steps chained one after another.
pub fn chain_workflow(name: &str, n: usize) -> weft_sdk::pb::Workflow {
    let steps = (0..n)
        .map(|i| weft_sdk::pb::Step {
            id: format!("s{i}"),
            r#type: "agent".into(),
            agent: "worker".into(),
            task: format!("Step {i} for {{{{ input.company }}}}"),
            depends_on: if i == 0 { vec![] } else { vec![format!("s{}", i - 1)] },
            ..Default::default()
        })
        .collect();
    weft_sdk::pb::Workflow { name: name.into(), steps, ..Default::default() }
}

/// The complete lead pipeline of the workflow documents, as JSON (the
/// engine's own fixture, so unit and end-to-end tests share one pipeline).
pub fn lead_pipeline_json() -> Value {
    weft_server::engine::fixtures::lead_pipeline()
}
