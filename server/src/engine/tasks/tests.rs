//! What a completion reads: none of its task row when this process granted
//! the lease, and the row, to say why, when the writer refuses it.

use std::time::Duration;

use serde_json::json;

use super::{SERVED_KINDS, TaskOutput, TaskQueue};
use crate::engine::runs::StartRun;
use crate::engine::scheduler::tests::faulty_store::FaultyStore;
use crate::engine::workflows::WorkflowDraft;
use crate::engine::{EngineError, RunEngine, WorkflowCatalog};
use crate::model::Definition;
use crate::store::{ClaimScope, LeasedTask, OpenStore};

const TENANT: &str = "default";

async fn claim(queue: &TaskQueue) -> LeasedTask {
    let scope = ClaimScope::Tenant(TENANT.into());
    let wait = Duration::from_secs(5);
    queue.claim_waiting(scope, vec!["w".into()], SERVED_KINDS, "wkr", wait).await.unwrap().expect("a task")
}

fn output() -> TaskOutput {
    TaskOutput::Json(json!({"ok": true}))
}

#[tokio::test]
async fn a_completion_of_a_lease_granted_here_reads_no_task_row_and_a_refused_one_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = FaultyStore::new(OpenStore::open(&url).await.unwrap().unwrap().shared());
    let catalog = WorkflowCatalog::new(store.clone());
    let definition: Definition = serde_json::from_value(json!({"name": "two", "steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "one"},
        {"id": "b", "type": "agent", "agent": "w", "task": "two", "dependsOn": ["a"]}
    ]}))
    .unwrap();
    let workflow = catalog.create(TENANT, WorkflowDraft { definition, ..WorkflowDraft::default() }).await.unwrap();
    let engine = RunEngine::open(store.clone(), catalog).await.unwrap();
    let queue = TaskQueue::open(engine.clone(), Duration::from_secs(60));
    let start = StartRun { workflow_id: workflow.id.clone(), input: json!({}), ..StartRun::default() };
    let run_id = engine.start_run_id(TENANT, start).await.unwrap();

    let a = claim(&queue).await;
    let reads = store.task_reads();
    queue.complete(TENANT, &a.task_id, a.lease_token, output(), 0).await.unwrap();
    assert_eq!(store.task_reads(), reads, "the lease was checked from memory");

    // Not remembered any more: the row tells the repeat it already counted.
    let repeat = queue.complete(TENANT, &a.task_id, a.lease_token, output(), 0).await.unwrap_err();
    assert!(matches!(repeat, EngineError::FailedPrecondition { reason: "TASK_ALREADY_FINISHED", .. }), "{repeat:?}");

    let b = claim(&queue).await;
    let wrong = queue.complete(TENANT, &b.task_id, b.lease_token + 1, output(), 0).await.unwrap_err();
    assert!(matches!(wrong, EngineError::StaleLease(_)), "{wrong:?}");
    let other_tenant = queue.complete("other", &b.task_id, b.lease_token, output(), 0).await.unwrap_err();
    assert!(matches!(other_tenant, EngineError::NotFound { .. }), "{other_tenant:?}");

    // The lease moved while remembered (its run was cancelled): the writer
    // refuses the command, then the row says why.
    engine.cancel(TENANT, &run_id, "test".into()).await.unwrap();
    let reads = store.task_reads();
    let cancelled = queue.complete(TENANT, &b.task_id, b.lease_token, output(), 0).await.unwrap_err();
    assert!(matches!(cancelled, EngineError::FailedPrecondition { reason: "TASK_CANCELLED", .. }), "{cancelled:?}");
    assert!(store.task_reads() > reads, "a refused completion reads the row to say why");
    queue.shutdown().await;
    engine.shutdown().await;
}
