//! Two replicas on one Postgres schema share the runs: both serve, the
//! partitions are split between them, and whichever replica a call reaches,
//! it acts on runs the other one holds (commands and starts through the
//! inbox, task claims woken across replicas, event streams tailing the
//! other replica's commits). Postgres-only; skipped (with a message) outside
//! CI when no database is given.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::Connection;
use tokio::sync::oneshot;
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::api::convert::value_to_pb;
use weft_tests::eventually;
use weft_tests::replicas::{self, Replica};
use weft_tests::runs::{get_run, wait_finished};
use weft_tests::store::{fresh_schema_url, postgres_or_skip};

/// Starts a replica on `url` with short leases; answers once it serves.
async fn replica(url: &str) -> Replica {
    replicas::start(url, |config| {
        config.task_lease_ms = 1_000;
        // 20 overlapping runs of one workflow: no concurrent-run limit.
        config.runs = weft_server::config::RunSettings { max_concurrent_per_workflow: 0, ..Default::default() };
    })
    .await
}

/// Owner → partitions held, read from the schema.
async fn owners(url: &str) -> Vec<(String, i64)> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_as("SELECT owner, COUNT(*) FROM partitions WHERE owner IS NOT NULL GROUP BY owner ORDER BY owner")
        .fetch_all(&mut conn)
        .await
        .unwrap()
}

async fn serve_tasks(client: Weft, worker_id: &str, steps: u32, until: Instant) -> u32 {
    let register = pb::RegisterWorkerRequest {
        worker_id: worker_id.into(),
        name: "replica-test".into(),
        agents: vec!["worker".into()],
        concurrency: 1,
        ..Default::default()
    };
    client.workers().register_worker(register).await.unwrap();
    let mut done = 0;
    while done < steps && Instant::now() < until {
        let poll = pb::PollTaskRequest { worker_id: worker_id.into(), wait_seconds: 1, ..Default::default() };
        let Some(task) = client.workers().poll_task(poll).await.unwrap().into_inner().task else { continue };
        let complete = pb::CompleteTaskRequest {
            task_id: task.task_id.clone(),
            lease_token: task.lease_token,
            output: Some(value_to_pb(&json!({"echoed": task.step_id}))),
            ..Default::default()
        };
        client.workers().complete_task(complete).await.expect("a live lease completes through either replica");
        done += 1;
    }
    done
}

#[tokio::test]
async fn two_replicas_share_runs_and_act_on_each_others_runs() {
    let name = "two_replicas_share_runs_and_act_on_each_others_runs";
    let Some(base) = postgres_or_skip(name).await else { return };
    let url = fresh_schema_url(&base).await;
    let a = replica(&url).await;
    let b = replica(&url).await;

    // The second replica gets its share within a few lease renewals.
    let shared = &url;
    eventually("the partitions split evenly", 30, || async move {
        let split = owners(shared).await;
        if split.iter().map(|(_, n)| *n).collect::<Vec<_>>() == [32, 32] { Ok(()) } else { Err(split) }
    })
    .await;

    let request =
        pb::CreateWorkflowRequest { workflow: Some(weft_tests::chain_workflow("shared", 2)), ..Default::default() };
    let workflow_id = a.client.workflows().create_workflow(request).await.unwrap().into_inner().id;

    // Runs started on A (each lands in a partition A holds), served only
    // by a worker connected to B: claims, completions and the next steps
    // all cross replicas.
    let worker =
        tokio::spawn(serve_tasks(b.client.clone(), "worker-on-b", 40, Instant::now() + Duration::from_secs(30)));
    let mut started = Vec::new();
    for i in 0..20 {
        let start = pb::StartRunRequest {
            workflow_id: workflow_id.clone(),
            idempotency_key: format!("run-{i}"),
            ..Default::default()
        };
        started.push(a.client.runs().start_run(start).await.unwrap().into_inner().run.unwrap().id);
    }
    // The same idempotency keys through B name the same runs (the key's
    // partition decides, whichever replica is asked).
    for (i, id) in started.iter().enumerate() {
        let again = pb::StartRunRequest {
            workflow_id: workflow_id.clone(),
            idempotency_key: format!("run-{i}"),
            ..Default::default()
        };
        let run = b.client.runs().start_run(again).await.unwrap().into_inner().run.unwrap();
        assert_eq!(&run.id, id, "key run-{i} names one run whichever replica is asked");
    }
    // A stream on B of a run: every event in order, no gap, to the end.
    let mut stream = b
        .client
        .runs()
        .stream_run_events(pb::StreamRunEventsRequest { run_id: started[0].clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let mut sequences = Vec::new();
    while let Some(event) = tokio::time::timeout(Duration::from_secs(20), stream.message()).await.unwrap().unwrap() {
        sequences.push(event.event.expect("an event").sequence);
    }
    assert!(sequences.len() >= 6, "start, two steps started and completed, run completed: {sequences:?}");
    assert_eq!(sequences, (1..=sequences.len() as u64).collect::<Vec<_>>(), "in order, without gaps");
    for id in &started {
        let run = wait_finished(&b.client, id, 20).await;
        assert_eq!(run.status(), pb::RunStatus::Completed, "{id}");
    }
    assert_eq!(worker.await.unwrap(), 40, "each of the 40 steps was handed out once");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let completions: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM run_commands WHERE command LIKE '{\"command\":\"stepSucceeded\"%'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(completions, 40, "each step's completion is recorded once");

    // Cancel through whichever replica does not hold the run.
    let start = pb::StartRunRequest { workflow_id: workflow_id.clone(), ..Default::default() };
    let waiting: Vec<String> = {
        let mut ids = Vec::new();
        for _ in 0..6 {
            ids.push(a.client.runs().start_run(start.clone()).await.unwrap().into_inner().run.unwrap().id);
        }
        ids
    };
    for id in &waiting {
        let cancel = pb::CancelRunRequest { run_id: id.clone(), reason: "from the other replica".into() };
        let run = b.client.runs().cancel_run(cancel).await.unwrap().into_inner().run.unwrap();
        assert_eq!(run.status(), pb::RunStatus::Cancelled, "{id}");
        // A second cancel, again across replicas, is refused as the owner refuses it.
        let again = pb::CancelRunRequest { run_id: id.clone(), reason: String::new() };
        let err = b.client.runs().cancel_run(again).await.unwrap_err();
        assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
        assert_eq!(get_run(&a.client, id).await.status(), pb::RunStatus::Cancelled);
    }
    let distinct: HashSet<&String> = started.iter().chain(&waiting).collect();
    assert_eq!(distinct.len(), 26);

    for replica in [a, b] {
        replica.stop().await;
    }
    assert!(owners(&url).await.is_empty(), "a replica that stops gives its partitions up");
}

/// A worker's ConnectWorker stream on B is pushed the tasks of runs A
/// holds (A's commits queue them; B's claims are woken across replicas),
/// and its completions reach A: every run completes, each step once.
#[tokio::test]
async fn a_worker_stream_on_one_replica_serves_the_runs_the_other_holds() {
    let name = "a_worker_stream_on_one_replica_serves_the_runs_the_other_holds";
    let Some(base) = postgres_or_skip(name).await else { return };
    let url = fresh_schema_url(&base).await;
    let a = replica(&url).await;
    let b = replica(&url).await;
    let shared = &url;
    eventually("the partitions split evenly", 30, || async move {
        let split = owners(shared).await;
        if split.iter().map(|(_, n)| *n).collect::<Vec<_>>() == [32, 32] { Ok(()) } else { Err(split) }
    })
    .await;
    let request =
        pb::CreateWorkflowRequest { workflow: Some(weft_tests::chain_workflow("streamed", 2)), ..Default::default() };
    let workflow_id = a.client.workflows().create_workflow(request).await.unwrap().into_inner().id;

    let (stop, stopped) = oneshot::channel::<()>();
    let worker = weft_sdk::worker::Worker::new(&b.client)
        .id("stream-on-b")
        .agent(
            "worker",
            |task| async move { Ok(weft_sdk::worker::Outcome::new(json!({"echoed": task.task().step_id}))) },
        )
        .concurrency(8);
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let mut started = Vec::new();
    for _ in 0..20 {
        let start = pb::StartRunRequest { workflow_id: workflow_id.clone(), ..Default::default() };
        started.push(a.client.runs().start_run(start).await.unwrap().into_inner().run.unwrap().id);
    }
    for id in &started {
        let run = wait_finished(&a.client, id, 30).await;
        assert_eq!(run.status(), pb::RunStatus::Completed, "{id}");
    }
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let completions: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM run_commands WHERE command LIKE '{\"command\":\"stepSucceeded\"%'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(completions, 40, "each step's completion is recorded once");

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running).await.expect("the worker stops").unwrap().unwrap();
    for replica in [a, b] {
        replica.stop().await;
    }
}
