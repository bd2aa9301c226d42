//! The schedule part of the Store contract, the same on SQLite and
//! Postgres: an insert respects the per-workflow and per-tenant caps and
//! stores nothing past them; reads are scoped to the tenant; lists page
//! oldest first; the due list holds the timers due by a time and every
//! buffered tick; a fire is recorded only by a compare-and-set on the
//! timer it read (alone or in a batch), keeping the last run when it
//! started none; the run row keeps its schedule and tick. The Postgres
//! half needs `WEFT_TEST_DATABASE_URL`.

use weft_server::model::RunStatus;
use weft_server::store::schedules::{CatchUp, FireRecord, InsertRefusal, Overlap, ScheduleRecord};
use weft_server::store::{RunBatch, RunQuery};
use weft_tests::store::{on_both_stores, run_record};

fn schedule(id: &str, tenant: &str, workflow: &str, created_ms: i64) -> ScheduleRecord {
    ScheduleRecord {
        id: id.into(),
        tenant_id: tenant.into(),
        workflow_id: workflow.into(),
        cron_expression: "* * * * *".into(),
        timezone: "UTC".into(),
        input: Some(r#"{"n":1}"#.into()),
        enabled: true,
        overlap: Overlap::BufferOne,
        catch_up: CatchUp::Skip,
        version: 2,
        user_id: "u".into(),
        next_fire_ms: Some(1_000 + created_ms),
        buffered_ms: None,
        last_fire_ms: None,
        last_run_id: None,
        created_ms,
        updated_ms: created_ms,
    }
}

#[tokio::test]
async fn schedules_are_capped_scoped_paged_and_fired_by_compare_and_set() {
    on_both_stores("schedules_are_capped_scoped_paged_and_fired_by_compare_and_set", |store| async move {
        let a = schedule("sched_a", "t1", "wf_1", 10);
        assert_eq!(store.insert_schedule(&a, 2, 3).await.unwrap(), Ok(()));
        assert_eq!(store.insert_schedule(&schedule("sched_b", "t1", "wf_1", 20), 2, 3).await.unwrap(), Ok(()));
        let third = schedule("sched_c", "t1", "wf_1", 30);
        assert_eq!(store.insert_schedule(&third, 2, 3).await.unwrap(), Err(InsertRefusal::WorkflowFull));
        assert_eq!(store.insert_schedule(&schedule("sched_d", "t1", "wf_2", 40), 2, 3).await.unwrap(), Ok(()));
        let over = schedule("sched_e", "t1", "wf_3", 50);
        assert_eq!(store.insert_schedule(&over, 2, 3).await.unwrap(), Err(InsertRefusal::TenantFull));
        assert_eq!(store.insert_schedule(&schedule("sched_f", "t2", "wf_1", 60), 2, 3).await.unwrap(), Ok(()));
        assert!(store.get_schedule("t1", "sched_c").await.unwrap().is_none(), "a refused insert stores nothing");

        // Reads keep what was written, within the tenant.
        assert_eq!(store.get_schedule("t1", "sched_a").await.unwrap(), Some(a.clone()));
        assert!(store.get_schedule("t2", "sched_a").await.unwrap().is_none());
        assert_eq!(store.schedule_by_id("sched_f").await.unwrap().unwrap().tenant_id, "t2");
        let ids = ["sched_a".to_string(), "sched_f".into(), "sched_gone".into()];
        let mut batch: Vec<String> = store.schedules_by_ids(&ids).await.unwrap().into_iter().map(|s| s.id).collect();
        batch.sort();
        assert_eq!(batch, ["sched_a", "sched_f"]);
        let first = store.list_schedules("t1", "wf_1", None, 1).await.unwrap();
        assert_eq!(first.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["sched_a"]);
        let rest = store.list_schedules("t1", "wf_1", Some((10, "sched_a".into())), 10).await.unwrap();
        assert_eq!(rest.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["sched_b"]);
        assert!(store.list_schedules("t2", "wf_2", None, 10).await.unwrap().is_empty());

        // Update replaces the settable fields and the timer.
        let mut changed = a.clone();
        changed.cron_expression = "0 9 * * *".into();
        changed.enabled = false;
        changed.next_fire_ms = None;
        changed.updated_ms = 99;
        assert!(store.update_schedule(&changed).await.unwrap());
        assert_eq!(store.get_schedule("t1", "sched_a").await.unwrap(), Some(changed.clone()));
        let mut elsewhere = changed.clone();
        elsewhere.tenant_id = "t2".into();
        assert!(!store.update_schedule(&elsewhere).await.unwrap(), "another tenant's schedule is not changed");

        // Due: timers by the time asked, and buffered ticks.
        let mut b = store.get_schedule("t1", "sched_b").await.unwrap().unwrap();
        let due = store.due_schedules(1_045, 100).await.unwrap();
        assert_eq!(due, [("sched_b".to_string(), 1_020), ("sched_d".to_string(), 1_040)]);

        // A fire is recorded once: the second with the same view loses.
        let fire = FireRecord {
            next_fire_ms: Some(2_020),
            buffered_ms: Some(1_020),
            last_fire_ms: Some(1_020),
            last_run_id: None,
        };
        assert!(store.record_fire("sched_b", (Some(1_020), None), &fire).await.unwrap());
        assert!(!store.record_fire("sched_b", (Some(1_020), None), &fire).await.unwrap());
        b.next_fire_ms = Some(2_020);
        b.buffered_ms = Some(1_020);
        b.last_fire_ms = Some(1_020);
        assert_eq!(store.get_schedule("t1", "sched_b").await.unwrap(), Some(b.clone()));
        let due = store.due_schedules(1_045, 100).await.unwrap();
        assert!(due.contains(&("sched_b".to_string(), 1_020)), "a buffered tick is due: {due:?}");

        // In a batch, each fire is judged on its own; a fire that started
        // no run keeps the last run.
        let started = FireRecord { last_run_id: Some("wfrun_1".into()), buffered_ms: None, ..fire.clone() };
        let batch = vec![
            ("sched_b".to_string(), (Some(2_020), Some(1_020)), started.clone()),
            ("sched_d".to_string(), (Some(9), None), started.clone()),
        ];
        assert_eq!(store.record_fires(&batch).await.unwrap(), [true, false]);
        let skipped =
            FireRecord { next_fire_ms: Some(3_020), buffered_ms: None, last_fire_ms: Some(2_020), last_run_id: None };
        assert!(store.record_fire("sched_b", (Some(2_020), None), &skipped).await.unwrap());
        let b = store.get_schedule("t1", "sched_b").await.unwrap().unwrap();
        assert_eq!((b.next_fire_ms, b.buffered_ms, b.last_run_id.as_deref()), (Some(3_020), None, Some("wfrun_1")));

        assert!(store.delete_schedule("t1", "sched_b").await.unwrap());
        assert!(!store.delete_schedule("t1", "sched_b").await.unwrap());
        assert!(!store.delete_schedule("t1", "sched_f").await.unwrap(), "another tenant's schedule stays");

        // The run row keeps its schedule and tick, and lists by them.
        let run = weft_server::model::RunRecord {
            schedule_id: Some("sched_a".into()),
            scheduled_ms: Some(60_000),
            trigger: "schedule".into(),
            ..run_record("wfrun_s", "t1", RunStatus::Pending, 5)
        };
        let plain = run_record("wfrun_m", "t1", RunStatus::Pending, 6);
        store.commit_runs(&RunBatch { runs: vec![run.clone(), plain], ..RunBatch::default() }).await.unwrap();
        assert_eq!(store.get_run("t1", "wfrun_s").await.unwrap().0, run);
        let by_schedule = RunQuery { schedule_id: Some("sched_a".into()), limit: 10, ..RunQuery::default() };
        let listed = store.list_runs("t1", &by_schedule).await.unwrap();
        assert_eq!(listed.runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["wfrun_s"]);
        let by_trigger = RunQuery { trigger: Some("manual".into()), limit: 10, ..RunQuery::default() };
        let listed = store.list_runs("t1", &by_trigger).await.unwrap();
        assert_eq!(listed.runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["wfrun_m"]);
    })
    .await;
}
