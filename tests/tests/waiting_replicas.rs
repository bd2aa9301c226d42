//! What a run waits for, with two replicas on one Postgres schema: every
//! replica shows a step whose task nobody holds as READY with the same
//! `waitingFor` (the projection reads the shared store), exactly one
//! task.unclaimed is recorded per step although both replicas watch the
//! queue (the run's holder notes it), a worker registered through one
//! replica counts as serving for the other, and a worker arriving through
//! the other replica completes the runs. Postgres-only; skipped (with a
//! message) outside CI when no database is given.

use std::time::Duration;

use serde_json::json;
use weft_sdk::{Weft, pb};
use weft_server::api::convert::value_to_pb;
use weft_server::config::TaskSettings;
use weft_tests::eventually;
use weft_tests::replicas::{self, Replica};
use weft_tests::runs::{get_run, step, wait_finished};
use weft_tests::store::{fresh_schema_url, postgres_or_skip};

const UNCLAIMED_AFTER: Duration = Duration::from_millis(300);
const WAITING_FOR: &str = "a worker for agent 'web-researcher'";

async fn replica(url: &str) -> Replica {
    replicas::start(url, |config| {
        config.tasks = TaskSettings { unclaimed_after: UNCLAIMED_AFTER };
        config.runs = weft_server::config::RunSettings { max_concurrent_per_workflow: 0, ..Default::default() };
    })
    .await
}

async fn unclaimed(client: &Weft, run_id: &str) -> usize {
    let request = pb::ListRunEventsRequest { run_id: run_id.into(), page_size: 1000, ..Default::default() };
    let events = client.runs().list_run_events(request).await.unwrap().into_inner().events;
    events.iter().filter(|e| e.r#type == "task.unclaimed").count()
}

#[tokio::test]
async fn two_replicas_agree_on_what_a_step_waits_for_and_note_it_once() {
    let name = "two_replicas_agree_on_what_a_step_waits_for_and_note_it_once";
    let Some(base) = postgres_or_skip(name).await else { return };
    let url = fresh_schema_url(&base).await;
    let a = replica(&url).await;
    let b = replica(&url).await;
    replicas::until_split_evenly(&url).await;

    let workflow = pb::Workflow {
        name: "scrape".into(),
        steps: vec![pb::Step {
            id: "scrape".into(),
            r#type: "agent".into(),
            agent: "web-researcher".into(),
            task: "t".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let request = pb::CreateWorkflowRequest { workflow: Some(workflow), ..Default::default() };
    let workflow_id = a.client.workflows().create_workflow(request).await.unwrap().into_inner().id;
    // Enough runs that both replicas hold some.
    let mut runs = Vec::new();
    for _ in 0..8 {
        let start = pb::StartRunRequest {
            workflow_id: workflow_id.clone(),
            input: Some(value_to_pb(&json!({}))),
            ..Default::default()
        };
        runs.push(a.client.runs().start_run(start).await.unwrap().into_inner().run.unwrap().id);
    }
    for id in &runs {
        for replica in [&a, &b] {
            let client = &replica.client;
            eventually("every replica says what the step waits for", 10, || async move {
                let run = get_run(client, id).await;
                let scrape = step(&run, "scrape");
                if scrape.status() == pb::StepStatus::Ready && scrape.waiting_for == WAITING_FOR {
                    Ok(())
                } else {
                    Err(run)
                }
            })
            .await;
        }
        let client = &a.client;
        eventually("the run notes it", 10, || async move {
            let n = unclaimed(client, id).await;
            if n > 0 { Ok(()) } else { Err(n) }
        })
        .await;
    }
    // Both replicas look at the queue many times more: still one note each.
    tokio::time::sleep(UNCLAIMED_AFTER * 4).await;
    for id in &runs {
        assert_eq!(unclaimed(&b.client, id).await, 1, "{id} is noted once");
    }

    // A worker registered through B serves the agent for A as well.
    let register = pb::RegisterWorkerRequest {
        worker_id: "on-b".into(),
        name: "replica-test".into(),
        agents: vec!["web-researcher".into()],
        concurrency: 1,
        ..Default::default()
    };
    b.client.workers().register_worker(register).await.unwrap();
    let queues = a.client.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner();
    let queue = queues.agent_queues.iter().find(|q| q.agent == "web-researcher").expect("its queue");
    assert_eq!((queue.queued, queue.live_workers, queue.served), (8, 1, true), "{queues:?}");

    // It claims every task through B, whichever replica holds the run.
    for _ in 0..runs.len() {
        let poll = pb::PollTaskRequest { worker_id: "on-b".into(), wait_seconds: 5, ..Default::default() };
        let task = b.client.workers().poll_task(poll).await.unwrap().into_inner().task.expect("a waiting task");
        let complete = pb::CompleteTaskRequest {
            task_id: task.task_id.clone(),
            lease_token: task.lease_token,
            output: Some(value_to_pb(&json!({"ok": true}))),
            ..Default::default()
        };
        b.client.workers().complete_task(complete).await.unwrap();
    }
    for id in &runs {
        let run = wait_finished(&a.client, id, 20).await;
        assert_eq!(run.status(), pb::RunStatus::Completed, "{id}");
        assert_eq!(step(&run, "scrape").waiting_for, "");
        assert_eq!(unclaimed(&a.client, id).await, 1);
    }
    for replica in [a, b] {
        replica.stop().await;
    }
}
