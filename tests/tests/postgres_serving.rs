//! One `weft` process per Postgres database (schema) until several
//! replicas share work safely: a second process refuses to start instead of
//! running every open run a second time. Postgres-only; skipped (with a
//! message) outside CI when no database is given.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use weft_sdk::{Weft, pb};
use weft_server::{Config, ServeError};
use weft_tests::store::{fresh_schema_url, postgres_or_skip};

/// Starts a server on `url`; answers once it serves requests.
async fn serve(url: &str) -> (oneshot::Sender<()>, tokio::task::JoinHandle<Result<(), ServeError>>, Weft) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config { listen: addr, database_url: url.to_owned(), ..Config::default() };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(weft_server::run(listener, config, async {
        let _ = stopped.await;
    }));
    let client = Weft::connect(format!("http://{addr}")).await.unwrap();
    client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.expect("the server serves");
    (stop, task, client)
}

#[tokio::test]
async fn a_second_server_on_one_postgres_schema_refuses_to_start_until_the_first_stops() {
    let name = "a_second_server_on_one_postgres_schema_refuses_to_start_until_the_first_stops";
    let Some(base) = postgres_or_skip(name).await else { return };
    let url = fresh_schema_url(&base).await;
    let (stop, first, _client) = serve(&url).await;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config { listen: listener.local_addr().unwrap(), database_url: url.clone(), ..Config::default() };
    let second =
        tokio::time::timeout(Duration::from_secs(20), weft_server::run(listener, config, std::future::pending()))
            .await
            .expect("the second server gives up at once");
    let err = second.expect_err("a second server on the same schema must not start");
    assert!(matches!(err, ServeError::DatabaseInUse(_)), "{err}");
    assert!(err.to_string().contains("another weft process is serving"), "{err}");

    // Another schema of the same database is another deployment.
    let (other_stop, other, _other_client) = serve(&fresh_schema_url(&base).await).await;
    other_stop.send(()).unwrap();
    other.await.unwrap().unwrap();

    stop.send(()).unwrap();
    first.await.unwrap().unwrap();
    let (stop, again, _client) = serve(&url).await;
    stop.send(()).unwrap();
    again.await.unwrap().unwrap();
}
