//! Replicas served in this process on one Postgres schema, for the tests
//! of several replicas: start one with the settings the test needs, talk
//! to it through its client, stop it.

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use weft_sdk::{Weft, pb};
use weft_server::config::ClusterSettings;
use weft_server::{Config, ServeError};

/// A replica serving in this process, and how to stop it.
pub struct Replica {
    /// A client connected to it.
    pub client: Weft,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), ServeError>>,
}

/// Starts a replica on the database `url`, with short partition leases
/// (600 ms) and LISTEN/NOTIFY, after `tune` changed what the test needs;
/// answers once it serves.
pub async fn start(url: &str, tune: impl FnOnce(&mut Config)) -> Replica {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut config = Config {
        listen: addr,
        database_url: url.to_owned(),
        cluster: ClusterSettings { partition_lease_ms: 600, notify: true },
        ..Config::default()
    };
    tune(&mut config);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(weft_server::run(listener, config, async {
        let _ = stopped.await;
    }));
    let client = Weft::connect(format!("http://{addr}")).await.unwrap();
    client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.expect("the replica serves");
    Replica { client, stop, task }
}

impl Replica {
    /// Stops it and waits for it to drain; panics if it failed.
    pub async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

/// Partitions held per live owner of the schema at `url`, by owner name.
pub async fn partitions_per_owner(url: &str) -> Vec<i64> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT owner, COUNT(*) FROM partitions WHERE owner IS NOT NULL GROUP BY owner ORDER BY owner")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let _ = conn.close().await;
    rows.into_iter().map(|(_, n)| n).collect()
}

/// Waits (up to 30 s) until two replicas hold 32 of the 64 partitions each.
pub async fn until_split_evenly(url: &str) {
    crate::eventually("the partitions split evenly", 30, || async move {
        let split = partitions_per_owner(url).await;
        if split == [32, 32] { Ok(()) } else { Err(split) }
    })
    .await;
}
