//! The concurrent-run limit's store contract (`SlotStore`, and the queue
//! and slot rows of `commit_runs`), the same on SQLite and Postgres:
//! grants never pass the limit and never overtake queued runs, queued
//! runs are admitted oldest first, paused runs count or not as asked,
//! tenants and workflows are apart, a run's end frees its rows, and lost
//! or orphaned grants are found.

use weft_server::model::RunStatus;
use weft_server::store::{PausedRuns, QueueRow, RunBatch, SlotAsk, StalledAdmission};
use weft_tests::store::{on_both_stores, run_record};

const T: &str = "default";

fn ask(run: &str, tenant: &str, workflow: &str, max_running: u32) -> SlotAsk {
    SlotAsk { run_id: run.into(), tenant_id: tenant.into(), workflow_id: workflow.into(), max_running }
}

fn queued(run: &str, workflow: &str, max_running: u32) -> QueueRow {
    QueueRow { run_id: run.into(), tenant_id: T.into(), workflow_id: workflow.into(), max_running, queued_ms: 1 }
}

#[tokio::test]
async fn grants_stop_at_the_limit_and_queued_runs_are_admitted_oldest_first() {
    on_both_stores("grants_stop_at_the_limit_and_queued_runs_are_admitted_oldest_first", |store| async move {
        let asks = [ask("r1", T, "wf_1", 2), ask("r2", T, "wf_1", 2), ask("r3", T, "wf_1", 2), ask("x1", T, "wf_2", 1)];
        let granted = store.take_slots(&asks, PausedRuns::HoldSlots, 100).await.unwrap();
        assert_eq!(granted, [true, true, false, true]);
        // Another tenant's workflow of the same id has its own slots.
        let other = store.take_slots(&[ask("o1", "acme", "wf_1", 1)], PausedRuns::HoldSlots, 100).await.unwrap();
        assert_eq!(other, [true]);

        // r3 is queued (with r4 behind it) in the commit that creates them.
        let batch = RunBatch {
            runs: vec![
                run_record("r1", T, RunStatus::Running, 1),
                run_record("r2", T, RunStatus::Running, 2),
                run_record("r3", T, RunStatus::Queued, 3),
                run_record("r4", T, RunStatus::Queued, 4),
            ],
            queued: vec![queued("r3", "wf_1", 2), queued("r4", "wf_1", 2)],
            ..RunBatch::default()
        };
        store.commit_runs(&batch).await.unwrap();
        assert_eq!(store.queued_workflows().await.unwrap(), [(T.to_string(), "wf_1".to_string())]);
        // A new run does not overtake them, even with the limit raised.
        let late = store.take_slots(&[ask("r5", T, "wf_1", 9)], PausedRuns::HoldSlots, 100).await.unwrap();
        assert_eq!(late, [false]);
        // Full: nothing is admitted.
        let none = store.admit_queued(T, "wf_1", PausedRuns::HoldSlots, 10, 100).await.unwrap();
        assert!(none.is_empty(), "{none:?}");

        // r1 ends: its slot goes to r3, the oldest.
        let end = RunBatch {
            runs: vec![run_record("r1", T, RunStatus::Completed, 1)],
            slots_freed: vec!["r1".into()],
            ..RunBatch::default()
        };
        store.commit_runs(&end).await.unwrap();
        assert_eq!(store.admit_queued(T, "wf_1", PausedRuns::HoldSlots, 10, 200).await.unwrap(), ["r3"]);
        assert!(store.admit_queued(T, "wf_1", PausedRuns::HoldSlots, 10, 200).await.unwrap().is_empty());

        // r2 pauses: it counts only when paused runs hold their slot.
        let pause = RunBatch { runs: vec![run_record("r2", T, RunStatus::Paused, 2)], ..RunBatch::default() };
        store.commit_runs(&pause).await.unwrap();
        assert!(store.admit_queued(T, "wf_1", PausedRuns::HoldSlots, 10, 300).await.unwrap().is_empty());
        assert_eq!(store.admit_queued(T, "wf_1", PausedRuns::FreeSlots, 10, 300).await.unwrap(), ["r4"]);
        assert!(store.queued_workflows().await.unwrap().is_empty());

        // Cancelling a queued run removes its queue row.
        store.commit_runs(&RunBatch { queued: vec![queued("r6", "wf_2", 1)], ..RunBatch::default() }).await.unwrap();
        let cancel = RunBatch {
            runs: vec![run_record("r6", T, RunStatus::Cancelled, 6)],
            slots_freed: vec!["r6".into()],
            ..RunBatch::default()
        };
        store.commit_runs(&cancel).await.unwrap();
        assert!(store.queued_workflows().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn stalled_admissions_are_found_and_orphaned_slots_deleted() {
    on_both_stores("stalled_admissions_are_found_and_orphaned_slots_deleted", |store| async move {
        // s1: admitted, Admit lost (still queued). s2: never stored. s3: running.
        let batch = RunBatch {
            runs: vec![run_record("s1", T, RunStatus::Queued, 1), run_record("s3", T, RunStatus::Running, 3)],
            queued: vec![queued("s1", "wf_1", 5)],
            ..RunBatch::default()
        };
        store.commit_runs(&batch).await.unwrap();
        assert_eq!(store.admit_queued(T, "wf_1", PausedRuns::HoldSlots, 10, 10).await.unwrap(), ["s1"]);
        let granted =
            store.take_slots(&[ask("s2", T, "wf_1", 5), ask("s3", T, "wf_1", 5)], PausedRuns::HoldSlots, 10).await;
        assert_eq!(granted.unwrap(), [true, true]);

        // Too recent: nothing yet.
        assert!(store.stalled_admissions(5).await.unwrap().is_empty());
        let stalled = store.stalled_admissions(50).await.unwrap();
        assert_eq!(stalled, [StalledAdmission { tenant_id: T.into(), run_id: "s1".into() }]);
        // s2's orphaned slot is gone, s1's and s3's stay: 3 of 5 would be
        // taken with it, 2 are.
        let asks: Vec<_> = (0..4).map(|i| ask(&format!("n{i}"), T, "wf_1", 5)).collect();
        let granted = store.take_slots(&asks, PausedRuns::HoldSlots, 60).await.unwrap();
        assert_eq!(granted, [true, true, true, false]);
    })
    .await;
}
