//! NOTIFY only wakes replicas early; nothing waits on it. Two `weft`
//! processes share a schema, runs are started on one and served by a
//! worker connected only to the other, so every step crosses replicas
//! (the claim wakes on a task queued elsewhere, the completion travels
//! through the inbox, the follower's stream tails the owner's commits).
//! Once with the LISTEN connections killed again and again, once with
//! NOTIFY turned off: every run completes either way.
//!
//! The database may be shared: the tests count and kill only the LISTEN
//! connections of the processes they started, found by their own
//! `application_name`s, so both tests (and other users) can run alongside.

#![allow(
    clippy::unwrap_used,
    reason = "test code: a helper fails the test by unwrapping, and clippy's allow-unwrap-in-tests covers only #[test] functions"
)]

mod cluster_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use cluster_support::{Schema, Weft, postgres_or_skip, time_until};
use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use weft_sdk::builder::{agent, workflow};
use weft_sdk::json::to_proto_value;
use weft_sdk::pb;

const RUNS: usize = 60;

/// Two replicas with short leases and NOTIFY as given.
fn two_replicas(schema: &Schema, notify: bool) -> (Weft, Weft) {
    let notify = notify.to_string();
    // 60 overlapping runs of one workflow: no concurrent-run limit.
    let env = [
        ("WEFT_PARTITION_LEASE_MS", "2000"),
        ("WEFT_TASK_LEASE_MS", "5000"),
        ("WEFT_NOTIFY", notify.as_str()),
        ("WORKFLOW_MAX_CONCURRENT_RUNS", "0"),
    ];
    (Weft::start(&schema.url, &env), Weft::start(&schema.url, &env))
}

/// Serves `steps` agent steps through `url` only; answers how many it served.
async fn serve_through(url: String, steps: usize, limit: Duration) -> usize {
    let client = weft_sdk::Weft::connect(url).await.unwrap();
    let register = pb::RegisterWorkerRequest {
        worker_id: "listen-test".into(),
        agents: vec!["echo".into()],
        ..Default::default()
    };
    client.workers().register_worker(register).await.unwrap();
    let until = Instant::now() + limit;
    let mut served = 0;
    while served < steps && Instant::now() < until {
        let poll = pb::PollTaskRequest { worker_id: "listen-test".into(), wait_seconds: 1, ..Default::default() };
        let Some(task) = client.workers().poll_task(poll).await.expect("poll").into_inner().task else { continue };
        let complete = pb::CompleteTaskRequest {
            task_id: task.task_id,
            lease_token: task.lease_token,
            output: Some(to_proto_value(&json!({"step": task.step_id}))),
            ..Default::default()
        };
        client.workers().complete_task(complete).await.expect("a live lease completes across replicas");
        served += 1;
    }
    served
}

/// Starts RUNS two-step runs through `starter` and serves them through
/// `server` only; asserts that every run completed and that a stream on
/// `server` of a run `starter` holds saw every event in order. Answers how
/// long it all took.
async fn runs_across(schema: &Schema, starter: &Weft, server: &Weft) -> Duration {
    let began = Instant::now();
    let (runs, sequences) = cross_replica_runs(starter, server).await;
    let all_done = time_until(Duration::from_secs(30), || async { completed(schema, &runs).await == RUNS }).await;
    assert!(all_done.is_some(), "{} of {RUNS} runs completed", completed(schema, &runs).await);
    assert!(sequences.len() >= 6, "start, two steps started and done, completion: {sequences:?}");
    assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>(), "in order, without gaps");
    began.elapsed()
}

/// Starts the runs, serves them, and answers the run ids once every step
/// was served, with the sequences of the last run's stream on `server`.
async fn cross_replica_runs(starter: &Weft, server: &Weft) -> (Vec<String>, Vec<u64>) {
    let client = weft_sdk::Weft::connect(starter.url.clone()).await.unwrap();
    let definition = workflow("listen")
        .step(agent("first", "echo", "One"))
        .step(agent("second", "echo", "Two").depends_on(["first"]))
        .build();
    let create = pb::CreateWorkflowRequest { workflow: Some(definition), ..Default::default() };
    let workflow_id = client.workflows().create_workflow(create).await.unwrap().into_inner().id;
    let worker = tokio::spawn(serve_through(server.url.clone(), RUNS * 2, Duration::from_secs(90)));
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let start = pb::StartRunRequest { workflow_id: workflow_id.clone(), ..Default::default() };
        runs.push(client.runs().start_run(start).await.unwrap().into_inner().run.unwrap().id);
    }
    // A stream through the serving replica of a run the other one holds.
    let follower = weft_sdk::Weft::connect(server.url.clone()).await.unwrap();
    let request = pb::StreamRunEventsRequest { run_id: runs[RUNS - 1].clone(), ..Default::default() };
    let mut stream = follower.runs().stream_run_events(request).await.unwrap().into_inner();
    let mut sequences = Vec::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(60), stream.message()).await.map(|m| m.transpose())
    {
        sequences.push(message.event.expect("an event").sequence);
    }
    assert_eq!(worker.await.unwrap(), RUNS * 2, "every step was served through the other replica");
    (runs, sequences)
}

async fn completed(schema: &Schema, runs: &[String]) -> usize {
    let mut conn = schema.connect().await;
    let done: Vec<String> =
        sqlx::query_scalar("SELECT id FROM runs WHERE status = 'completed'").fetch_all(&mut conn).await.unwrap();
    runs.iter().filter(|id| done.contains(id)).count()
}

fn report(line: &str) {
    cluster_support::report("listen", line);
}

/// The `application_name`s of the LISTEN connections of `replicas`.
fn listen_names(replicas: &[&Weft]) -> Vec<String> {
    replicas.iter().map(|r| r.listen_application()).collect()
}

/// How many connections named one of `names` the database has now.
async fn sessions(conn: &mut PgConnection, names: &[String]) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = ANY($1)")
        .bind(names)
        .fetch_one(conn)
        .await
        .unwrap()
}

/// A connection named as another Weft's LISTEN connection on the same
/// server would be (the default name): the tests must leave it alone.
async fn bystander(base: &str) -> PgConnection {
    let options: PgConnectOptions = base.parse().expect("a Postgres URL");
    PgConnection::connect_with(&options.application_name("weft-listen")).await.expect("connect a bystander")
}

/// Ends the connections named one of `names`; answers how many it ended.
async fn kill_sessions(conn: &mut PgConnection, names: &[String]) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
         WHERE application_name = ANY($1)) AS t WHERE ended",
    )
    .bind(names)
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_complete_while_the_listen_connections_are_killed_again_and_again() {
    let name = "runs_complete_while_the_listen_connections_are_killed";
    let Some(base) = postgres_or_skip(name).await else { return };
    let schema = Schema::create(&base, "listen").await;
    let (a, b) = two_replicas(&schema, true);
    let names = listen_names(&[&a, &b]);
    let mut admin = PgConnection::connect(&base).await.unwrap();
    let mut other = bystander(&base).await;
    assert!(
        time_until(Duration::from_secs(10), || async {
            sessions(&mut PgConnection::connect(&base).await.unwrap(), &names).await >= 2
        })
        .await
        .is_some(),
        "each replica listens"
    );

    // Kill both replicas' LISTEN connections every 300 ms while the runs go on.
    let killed = Arc::new(AtomicI64::new(0));
    let killing = tokio::spawn({
        let (base, killed, names) = (base.clone(), killed.clone(), names.clone());
        async move {
            let mut conn = PgConnection::connect(&base).await.unwrap();
            loop {
                let ended = kill_sessions(&mut conn, &names).await;
                killed.fetch_add(ended, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    });
    let took = runs_across(&schema, &a, &b).await;
    killing.abort();
    // The replicas listen again once left alone.
    let relistened = time_until(Duration::from_secs(10), || async {
        sessions(&mut PgConnection::connect(&base).await.unwrap(), &names).await >= 2
    })
    .await;
    assert!(relistened.is_some(), "both replicas listen again: {}", sessions(&mut admin, &names).await);
    let survived = sqlx::query("SELECT 1").execute(&mut other).await;
    assert!(survived.is_ok(), "another Weft's LISTEN connection was left alone: {survived:?}");
    let killed = killed.load(Ordering::SeqCst);
    assert!(killed >= 4, "LISTEN connections were killed again and again ({killed} times)");
    let heard = a.log_lines("listening again").len() + b.log_lines("listening again").len();
    assert!(heard >= 2, "the replicas noticed their LISTEN connections go ({heard} times of {killed})");
    report(&format!("{RUNS} cross-replica runs with LISTEN killed {killed} times: {} ms", took.as_millis()));
    drop((a, b));
    schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_complete_with_notify_turned_off() {
    let name = "runs_complete_with_notify_turned_off";
    let Some(base) = postgres_or_skip(name).await else { return };
    let schema = Schema::create(&base, "quiet").await;
    let (a, b) = two_replicas(&schema, false);
    let mut admin = PgConnection::connect(&base).await.unwrap();
    let _other = bystander(&base).await;
    let names = listen_names(&[&a, &b]);
    assert_eq!(sessions(&mut admin, &names).await, 0, "with WEFT_NOTIFY=false no replica listens");
    // The replicas' other connections are there under their own name.
    let own = [a.application.clone(), b.application.clone()];
    assert!(sessions(&mut admin, &own).await >= 2, "each replica's pool carries its application_name");
    let took = runs_across(&schema, &a, &b).await;
    report(&format!("{RUNS} cross-replica runs with NOTIFY off: {} ms", took.as_millis()));
    drop((a, b));
    schema.drop().await;
}
