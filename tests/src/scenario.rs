//! The preamble most tests of agent steps share: a temporary directory, a
//! server on a fresh database in it, a client, one workflow created, a
//! worker registered and a run started. The test then polls and answers as
//! the worker.

use std::path::PathBuf;

use serde_json::Value;
use tempfile::TempDir;
use weft_sdk::Weft;
use weft_server::Config;

use crate::TestServer;
use crate::runs::start;
use crate::workers::register;
use crate::workflows::create_json;

/// A server with one workflow. Fields drop in order: the client and the
/// server go before the directory that holds their database.
pub struct Scenario {
    /// Connected to `server`.
    pub client: Weft,
    /// Started on `database()` with the scenario's config.
    pub server: TestServer,
    /// The workflow created from the scenario's definition.
    pub workflow_id: String,
    /// Holds the database for as long as the scenario lives.
    pub dir: TempDir,
}

impl Scenario {
    /// A server started with `config` on a fresh database in a new
    /// temporary directory, and `definition` created over REST.
    pub async fn new(config: Config, definition: Value) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
        let client = server.client().await;
        let workflow_id = create_json(&server, definition).await;
        Self { client, server, workflow_id, dir }
    }

    /// [`Scenario::new`] with the default config.
    pub async fn with(definition: Value) -> Self {
        Self::new(Config::default(), definition).await
    }

    /// [`Scenario::new`], then worker `worker_id` registered for `agents`
    /// and a run of the workflow started with `input`; answers the run's id.
    pub async fn agent_run(
        config: Config,
        definition: Value,
        worker_id: &str,
        agents: &[&str],
        input: Value,
    ) -> (Self, String) {
        let scenario = Self::new(config, definition).await;
        register(&scenario.client, worker_id, agents).await;
        let run_id = scenario.start(input).await;
        (scenario, run_id)
    }

    /// Starts a run of the workflow with `input`; answers its id.
    pub async fn start(&self, input: Value) -> String {
        start(&self.client, &self.workflow_id, input).await.id
    }

    /// The database the server was started on; a server started again on it
    /// (see [`TestServer::start_on`]) reopens the same data.
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("weft.db")
    }
}
