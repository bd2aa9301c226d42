//! The writer under faults: failed commits, a panic inside one transition,
//! and a store that stops answering.

pub(crate) mod faulty_store;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::writer::test_hooks;
use super::{CommandRefusal, NewRun, RunScheduler};
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::compile::{CompiledWorkflow, compile};
use crate::engine::run::Command;
use crate::health::Health;
use crate::model::RunStatus;
use crate::model::definition::Definition;
use crate::store::{OpenStore, RunStore};
use faulty_store::FaultyStore;

const TENANT: &str = "t";

/// One agent step: a run waits on its task until it is cancelled.
fn waiting_workflow() -> Arc<CompiledWorkflow> {
    let definition: Definition = serde_json::from_value(json!({"name": "waits", "steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "work"}
    ]}))
    .unwrap();
    Arc::new(compile(&definition).unwrap())
}

fn new_run(workflow: &Arc<CompiledWorkflow>) -> NewRun {
    NewRun {
        id: crate::ids::new_run_id(),
        tenant: TENANT.into(),
        workflow_id: "wf_test".into(),
        workflow_version: 1,
        workflow: workflow.clone(),
        user_id: String::new(),
        trigger: "test".into(),
        idempotency_key: String::new(),
        input: json!({}),
        shared_state: Value::Null,
        now_ms: now_ms(),
        schedule_id: String::new(),
        scheduled_ms: None,
        trace: None,
    }
}

fn cancel() -> Command {
    Command::Cancel { reason: "test".into(), now_ms: now_ms() }
}

async fn faulty_store(dir: &tempfile::TempDir) -> Arc<FaultyStore> {
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let store = OpenStore::open(&url).await.unwrap().unwrap();
    FaultyStore::new(store.shared())
}

async fn status(store: &FaultyStore, run_id: &str) -> RunStatus {
    store.get_run(TENANT, run_id).await.unwrap().0.status
}

/// Event sequences of a run are 1..=n, without a gap or a repeat.
async fn assert_gapless(store: &FaultyStore, run_id: &str) {
    let events = store.list_run_events(TENANT, run_id, 0, 1000).await.unwrap();
    let sequences: Vec<u64> = events.iter().map(|e| e.sequence).collect();
    let expected: Vec<u64> = (1..=events.len() as u64).collect();
    assert_eq!(sequences, expected, "events of {run_id}");
}

#[tokio::test]
async fn a_failed_commit_refuses_its_callers_and_the_runs_recover_and_finish() {
    let dir = tempfile::tempdir().unwrap();
    let store = faulty_store(&dir).await;
    let scheduler = RunScheduler::spawn(store.clone(), Vec::new(), Vec::new());
    let workflow = waiting_workflow();
    let a = scheduler.start(new_run(&workflow)).await.unwrap().run_id;

    store.fail_commits(1);
    let refused = scheduler.command(TENANT, &a, cancel()).await;
    assert!(matches!(refused, Err(CommandRefusal::Unavailable)), "{refused:?}");
    assert_eq!(status(&store, &a).await, RunStatus::Running, "nothing of the failed batch is written");

    store.fail_commits(1);
    let lost = new_run(&workflow);
    let lost_id = lost.id.clone();
    let refused = scheduler.start(lost).await;
    assert!(matches!(refused, Err(EngineError::Unavailable(_))), "{refused:?}");
    assert!(store.get_run(TENANT, &lost_id).await.is_err(), "a refused start leaves no run");

    // The run was rebuilt from the store: it is live and takes commands.
    scheduler.command(TENANT, &a, cancel()).await.unwrap();
    assert_eq!(status(&store, &a).await, RunStatus::Cancelled);
    assert_gapless(&store, &a).await;
    let b = scheduler.start(new_run(&workflow)).await.unwrap().run_id;
    scheduler.command(TENANT, &b, cancel()).await.unwrap();
    assert_eq!(status(&store, &b).await, RunStatus::Cancelled);
    scheduler.shutdown().await;
}

#[tokio::test]
async fn a_panic_in_one_transition_refuses_that_command_and_rebuilds_only_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = faulty_store(&dir).await;
    let scheduler = RunScheduler::spawn(store.clone(), Vec::new(), Vec::new());
    let workflow = waiting_workflow();
    let a = scheduler.start(new_run(&workflow)).await.unwrap().run_id;
    let b = scheduler.start(new_run(&workflow)).await.unwrap().run_id;

    test_hooks::panic_next_transition(&a);
    let refused = scheduler.command(TENANT, &a, cancel()).await;
    assert!(matches!(refused, Err(CommandRefusal::Internal)), "{refused:?}");
    assert_eq!(status(&store, &a).await, RunStatus::Running, "the panicking command changed nothing");

    // The writer goes on, for the other run and for the rebuilt one.
    scheduler.command(TENANT, &b, cancel()).await.unwrap();
    assert_eq!(status(&store, &b).await, RunStatus::Cancelled);
    scheduler.command(TENANT, &a, cancel()).await.unwrap();
    assert_eq!(status(&store, &a).await, RunStatus::Cancelled);
    assert_gapless(&store, &a).await;

    // A start that panics is refused as internal; nothing is stored.
    let doomed = new_run(&workflow);
    let doomed_id = doomed.id.clone();
    test_hooks::panic_next_transition(&doomed_id);
    let refused = scheduler.start(doomed).await;
    assert!(matches!(refused, Err(EngineError::Internal(_))), "{refused:?}");
    assert!(store.get_run(TENANT, &doomed_id).await.is_err());
    scheduler.shutdown().await;
}

#[tokio::test]
async fn a_panic_after_earlier_commands_of_the_batch_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = faulty_store(&dir).await;
    let scheduler = RunScheduler::spawn(store.clone(), Vec::new(), Vec::new());
    let workflow = waiting_workflow();
    // Started, then a panicking command, in one batch when they come
    // together: the rebuilt run must still hold its start.
    let new = new_run(&workflow);
    let a = new.id.clone();
    test_hooks::panic_next_transition_after(&a, 1);
    let (started, refused) = tokio::join!(scheduler.start(new), async {
        tokio::task::yield_now().await;
        scheduler.command(TENANT, &a, cancel()).await
    });
    started.unwrap();
    assert!(matches!(refused, Err(CommandRefusal::Internal)), "{refused:?}");
    assert_eq!(status(&store, &a).await, RunStatus::Running);
    scheduler.command(TENANT, &a, cancel()).await.unwrap();
    assert_eq!(status(&store, &a).await, RunStatus::Cancelled);
    assert_gapless(&store, &a).await;
    scheduler.shutdown().await;
}

#[tokio::test]
async fn health_is_not_serving_while_the_store_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let store = faulty_store(&dir).await;
    let health = Health::new();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let probe = tokio::spawn(crate::health::probe_store(health.clone(), store.clone(), stopped));
    let turns = |serving: bool| {
        let health = health.clone();
        async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while health.serving() != serving {
                assert!(tokio::time::Instant::now() < deadline, "health never turned serving={serving}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(health.serving());
    store.set_unreachable(true);
    turns(false).await;
    assert!(health.conditions().store_unreachable);
    store.set_unreachable(false);
    turns(true).await;
    health.set_draining();
    assert!(!health.serving(), "draining is not serving");
    stop.send(true).unwrap();
    probe.await.unwrap();
}

#[tokio::test]
async fn timers_fire_on_paused_time_without_sleeping() {
    let dir = tempfile::tempdir().unwrap();
    let store = faulty_store(&dir).await;
    let definition: Definition = serde_json::from_value(json!({"name": "waits-an-hour", "steps": [
        {"id": "pay", "type": "wait", "event": "paid", "timeout": "1h"}
    ]}))
    .unwrap();
    let workflow = Arc::new(compile(&definition).unwrap());
    // Paused once the store is open: from here the engine's clock and its
    // timer loop move only with tokio's time, which jumps ahead while the
    // run waits on nothing else.
    tokio::time::pause();
    let scheduler = RunScheduler::spawn(store.clone(), Vec::new(), Vec::new());
    let started = now_ms();
    let a = scheduler.start(new_run(&workflow)).await.unwrap().run_id;
    scheduler.finished(&a).await;
    let waited = now_ms() - started;
    tokio::time::resume();
    assert!(waited >= 3_600_000, "the timeout fired after {waited} ms of engine time");
    let status = status(&store, &a).await;
    assert_ne!(status, RunStatus::Running, "the wait timed out and the run ended");
    scheduler.shutdown().await;
}

#[tokio::test]
async fn the_end_of_the_writer_is_seen_even_when_it_panics() {
    let dir = tempfile::tempdir().unwrap();
    let store = faulty_store(&dir).await;
    let scheduler = RunScheduler::spawn(store.clone(), Vec::new(), Vec::new());
    let a = scheduler.start(new_run(&waiting_workflow())).await.unwrap().run_id;
    let stopped = scheduler.writer_stopped();
    tokio::pin!(stopped);
    assert!(tokio::time::timeout(Duration::from_millis(50), &mut stopped).await.is_err(), "the writer is running");

    test_hooks::kill_writer_on(&a);
    let refused = scheduler.command(TENANT, &a, cancel()).await;
    assert!(matches!(refused, Err(CommandRefusal::Unavailable)), "{refused:?}");
    tokio::time::timeout(Duration::from_secs(10), stopped).await.expect("the writer's end is seen");
    scheduler.shutdown().await;
}

/// A claim for agent `w` of [`waiting_workflow`], by worker `owner`.
fn claim_of(owner: &str) -> crate::store::ClaimRequest {
    crate::store::ClaimRequest {
        scope: crate::store::ClaimScope::Tenant(TENANT.into()),
        agents: vec!["w".into()],
        kinds: &["agent"],
        worker_id: owner.into(),
        now_ms: now_ms(),
        lease_ms: 60_000,
    }
}

#[tokio::test]
async fn a_lease_answered_to_a_claim_whose_caller_left_is_handed_back_to_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let store = faulty_store(&dir).await;
    let scheduler = RunScheduler::spawn(store.clone(), Vec::new(), Vec::new());
    let run_id = scheduler.start(new_run(&waiting_workflow())).await.unwrap().run_id;
    let until = now_ms() + 5_000;
    let leased = scheduler.claim(claim_of("first"), until).await.unwrap().expect("the run's task");

    // The writer's answer is in the channel when the caller gives up (its
    // wait ran out in the same instant): the lease must not be lost.
    let (reply, answer) = tokio::sync::oneshot::channel();
    reply.send(Ok(Some(leased.clone()))).unwrap();
    drop(super::PendingClaim { answer, scheduler: &scheduler });

    let again = scheduler.claim(claim_of("second"), until).await.unwrap().expect("handed back, so claimable again");
    assert_eq!((again.run_id.as_str(), again.task_id.as_str()), (run_id.as_str(), leased.task_id.as_str()));
    assert_eq!(again.attempt, leased.attempt, "handed back as if never claimed: the same attempt");
    assert_ne!(again.lease_token, leased.lease_token, "a fresh lease");
    scheduler.shutdown().await;
}
