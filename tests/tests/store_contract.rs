//! The Store contract, asserted the same way against SQLite and Postgres:
//! each check is one function over `Arc<dyn Store>`, run once per store.
//! The Postgres half needs `WEFT_TEST_DATABASE_URL` (a fresh schema per
//! check); outside CI it prints that it was skipped when the database is
//! missing, under CI it fails.

use std::collections::HashMap;

use serde_json::{Value, json};
use weft_server::model::{
    ApprovalDecision, ApprovalQuery, ApprovalRecord, ApprovalStatus, Definition, EventRecord, RunRecord, RunStatus,
    StepRecord, StepStatus, TaskRecord, TimerRecord, WorkflowStatus,
};
use weft_server::store::{
    ClaimRequest, ClaimScope, CommandRow, IdempotencyRow, NewVersion, NewWorkflow, RunBatch, RunQuery, StoreError,
    TaskStatus, WorkflowQuery,
};
use weft_tests::store::{on_both_stores, run_record};

const T: &str = "default";

fn run(id: &str, status: &str, created_ms: i64) -> RunRecord {
    RunRecord {
        user_id: "u1".into(),
        // Keys out of alphabetical order: both stores must keep the order.
        input: Some(json!({"zeta": 1, "alpha": {"y": [1, 2.5, "x"], "b": null}})),
        ..run_record(id, T, RunStatus::parse(status).expect("a run status"), created_ms)
    }
}

fn step(run_id: &str, key: &str, position: u32, status: &str) -> StepRecord {
    StepRecord {
        run_id: run_id.into(),
        key: key.into(),
        position,
        step_id: key.into(),
        kind: weft_server::model::StepKind::Agent,
        parent_id: None,
        item_index: None,
        status: StepStatus::parse(status).expect("a step status"),
        attempts: 1,
        output: None,
        error: None,
        cost_cents: 0,
        started_ms: Some(1),
        completed_ms: None,
    }
}

fn event(run_id: &str, sequence: u64, event_type: &str) -> EventRecord {
    EventRecord {
        run_id: run_id.into(),
        sequence,
        event_type: event_type.into(),
        step_id: None,
        status: "running".into(),
        output: Some(json!({"b": 1, "a": 2})),
        error: None,
        cost_cents: None,
        total_cost_cents: None,
        can_retry_from: None,
        action: None,
        data: None,
        duration_ms: None,
        created_ms: sequence as i64,
    }
}

fn task(run_id: &str, key: &str, agent: &str, created_ms: i64) -> TaskRecord {
    TaskRecord {
        task_id: format!("task_{run_id}_{key}"),
        run_id: run_id.into(),
        step_key: key.into(),
        tenant_id: T.into(),
        attempt: 1,
        kind: weft_server::model::StepKind::Agent,
        agent: Some(agent.into()),
        task: Some(format!("do {key}")),
        input: json!({"q": key, "n": 1}),
        created_ms,
        timeout_ms: None,
    }
}

fn claim(agent: &str, now_ms: i64) -> ClaimRequest {
    ClaimRequest {
        scope: ClaimScope::Tenant(T.into()),
        agents: vec![agent.into()],
        kinds: &["agent"],
        worker_id: "w1".into(),
        now_ms,
        lease_ms: 1_000,
    }
}

fn command(run_id: &str, position: u32, command: &str) -> CommandRow {
    CommandRow { run_id: run_id.into(), position, command: command.into() }
}

fn idempotency(tenant: &str, key: &str, run_id: &str, created_ms: i64) -> IdempotencyRow {
    IdempotencyRow { tenant_id: tenant.into(), key: key.into(), run_id: run_id.into(), created_ms }
}

fn text(value: &Option<Value>) -> String {
    value.as_ref().map(Value::to_string).unwrap_or_default()
}

#[tokio::test]
async fn commit_runs_writes_all_of_a_batch_and_reads_it_back_unchanged() {
    on_both_stores("commit_runs_writes_all_of_a_batch_and_reads_it_back_unchanged", |store| async move {
        let mut batch = RunBatch {
            runs: vec![run("wfrun_a", "running", 10), run("wfrun_b", "running", 20)],
            steps: vec![step("wfrun_a", "s2", 2, "pending"), step("wfrun_a", "s1", 1, "running")],
            events: (1..=3).map(|s| event("wfrun_a", s, "step.started")).collect(),
            commands: vec![command("wfrun_a", 1, "{\"start\":1}"), command("wfrun_a", 2, "{\"b\":2}")],
            timers: vec![TimerRecord {
                run_id: "wfrun_a".into(),
                step_key: "s2".into(),
                tenant_id: T.into(),
                due_ms: 99,
            }],
            tasks: vec![task("wfrun_a", "s1", "writer", 5)],
            idempotency: vec![idempotency(T, "key-1", "wfrun_a", 10), idempotency("other", "key-1", "wfrun_b", 10)],
            ..RunBatch::default()
        };
        assert_eq!(store.commit_runs(&batch).await.unwrap(), Vec::<Option<_>>::new());

        let (read, steps) = store.get_run(T, "wfrun_a").await.unwrap();
        assert_eq!(read, batch.runs[0]);
        assert_eq!(text(&read.input), r#"{"zeta":1,"alpha":{"y":[1,2.5,"x"],"b":null}}"#, "key order survives");
        assert_eq!(steps.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(), ["s1", "s2"], "position order");
        let events = store.list_run_events(T, "wfrun_a", 1, 10).await.unwrap();
        assert_eq!(events, batch.events[1..].to_vec());
        assert_eq!(text(&events[0].output), r#"{"b":1,"a":2}"#);
        assert_eq!(store.list_run_events(T, "wfrun_a", 0, 2).await.unwrap().len(), 2, "limit");
        assert!(store.list_run_events("other", "wfrun_a", 0, 10).await.unwrap().is_empty(), "tenant scoped");
        assert_eq!(store.list_timers().await.unwrap(), batch.timers);
        assert_eq!(store.count_tasks("wfrun_a").await.unwrap(), 1);
        assert_eq!(store.find_idempotent_run(T, "key-1", 9).await.unwrap().as_deref(), Some("wfrun_a"));
        assert_eq!(store.find_idempotent_run(T, "key-1", 10).await.unwrap(), None, "outside the window");
        let asked =
            [(T, "key-1"), ("other", "key-1"), (T, "key-2"), ("third", "key-1")].map(|(t, k)| (t.into(), k.into()));
        let found = store.find_idempotent_runs(&asked, 9).await.unwrap();
        let expected = HashMap::from([
            ((T.to_string(), "key-1".to_string()), "wfrun_a".to_string()),
            (("other".to_string(), "key-1".to_string()), "wfrun_b".to_string()),
        ]);
        assert_eq!(found, expected, "each tenant's key, and only the known ones");
        assert!(store.find_idempotent_runs(&asked, 10).await.unwrap().is_empty(), "outside the window");
        assert!(store.find_idempotent_runs(&[], 0).await.unwrap().is_empty());
        let open = store.load_open_runs().await.unwrap();
        let a = open.iter().find(|o| o.run.id == "wfrun_a").unwrap();
        assert_eq!(a.commands, ["{\"start\":1}", "{\"b\":2}"]);

        // The next commit updates rows in place and spends the timer and task.
        let mut done = run("wfrun_a", "completed", 10);
        done.output = Some(json!({"z": true, "a": [3, 2, 1]}));
        done.completed_ms = Some(50);
        let mut finished = step("wfrun_a", "s1", 1, "completed");
        finished.output = Some(json!({"k": "v"}));
        batch = RunBatch {
            runs: vec![done.clone()],
            steps: vec![finished.clone()],
            events: vec![event("wfrun_a", 4, "run.completed")],
            commands: vec![command("wfrun_a", 3, "{}")],
            timers_done: vec![("wfrun_a".into(), "s2".into())],
            tasks_done: vec![("wfrun_a".into(), "s1".into())],
            ..RunBatch::default()
        };
        store.commit_runs(&batch).await.unwrap();
        let (read, steps) = store.get_run(T, "wfrun_a").await.unwrap();
        assert_eq!(read, done);
        assert_eq!(steps[0], finished);
        assert!(store.list_timers().await.unwrap().is_empty());
        assert_eq!(store.count_tasks("wfrun_a").await.unwrap(), 0);
        assert!(store.load_open_runs().await.unwrap().iter().all(|o| o.run.id != "wfrun_a"), "finished");

        // A failing batch leaves nothing behind: event 4 exists already.
        let failing = RunBatch {
            runs: vec![run("wfrun_c", "running", 30)],
            events: vec![event("wfrun_a", 4, "duplicate")],
            ..RunBatch::default()
        };
        assert!(store.commit_runs(&failing).await.is_err(), "a duplicate event fails the batch");
        assert!(matches!(store.get_run(T, "wfrun_c").await, Err(StoreError::NotFound { .. })));

        let page = store.list_runs(T, &RunQuery { limit: 1, ..RunQuery::default() }).await.unwrap();
        assert_eq!((page.runs[0].id.as_str(), page.total, page.has_more), ("wfrun_b", 2, true), "newest first");
        let after = RunQuery { limit: 5, after: Some((20, "wfrun_b".into())), ..RunQuery::default() };
        let page = store.list_runs(T, &after).await.unwrap();
        assert_eq!((page.runs.len(), page.runs[0].id.as_str(), page.has_more), (1, "wfrun_a", false));
        store.delete_run(T, "wfrun_a").await.unwrap();
        assert!(matches!(store.delete_run(T, "wfrun_a").await, Err(StoreError::NotFound { .. })));
        assert!(store.list_run_events(T, "wfrun_a", 0, 10).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn leases_are_fenced_by_their_token_and_stale_tokens_change_nothing() {
    on_both_stores("leases_are_fenced_by_their_token_and_stale_tokens_change_nothing", |store| async move {
        let batch = RunBatch {
            runs: vec![run("wfrun_l", "running", 1)],
            tasks: vec![task("wfrun_l", "late", "a", 20), task("wfrun_l", "early", "a", 10)],
            claims: vec![claim("a", 100), claim("nobody", 100)],
            ..RunBatch::default()
        };
        let claimed = store.commit_runs(&batch).await.unwrap();
        let first = claimed[0].clone().expect("a task for agent a");
        assert_eq!(claimed[1], None, "no task for that agent");
        assert_eq!((first.step_key.as_str(), first.lease_token, first.lease_deadline_ms), ("early", 1, 1_100));
        assert_eq!((first.workflow_id.as_str(), first.user_id.as_str()), ("wf_1", "u1"));
        assert_eq!(first.input, json!({"q": "early", "n": 1}));

        let id = first.task_id.as_str();
        assert_eq!(store.extend_lease(T, id, 0, 5_000, 7, 200).await.unwrap(), None, "stale token");
        assert_eq!(store.extend_lease(T, id, 1, 5_000, 7, 2_000).await.unwrap(), None, "already expired");
        assert_eq!(store.extend_lease("other", id, 1, 5_000, 7, 200).await.unwrap(), None, "other tenant");
        assert_eq!(store.extend_lease(T, id, 1, 5_000, 7, 200).await.unwrap(), Some(5_000));
        let lease = store.get_task(T, id).await.unwrap().unwrap();
        assert_eq!((lease.status, lease.lease_token, lease.lease_deadline_ms), (TaskStatus::Leased, 1, Some(5_000)));
        assert_eq!(lease.lease_owner.as_deref(), Some("w1"));
        assert_eq!(store.get_task("other", id).await.unwrap(), None);
        assert_eq!(store.leases_by_owner(T).await.unwrap(), [("w1".to_string(), 1)]);
        assert_eq!(store.next_lease_deadline().await.unwrap(), Some(5_000));
        assert!(store.expired_leases(4_999, 10).await.unwrap().is_empty());
        let expired = store.expired_leases(5_000, 10).await.unwrap();
        assert_eq!((expired.len(), expired[0].lease_token), (1, 1));

        // A release or withdrawal with a stale token is ignored.
        let stale = RunBatch { releases: vec![(id.to_string(), 0)], ..RunBatch::default() };
        store.commit_runs(&stale).await.unwrap();
        store.withdraw_lease(id, 0).await.unwrap();
        assert_eq!(store.get_task(T, id).await.unwrap().unwrap().status, TaskStatus::Leased);

        // Released with its token, the task is claimed again with a higher one.
        let again =
            RunBatch { releases: vec![(id.to_string(), 1)], claims: vec![claim("a", 300)], ..RunBatch::default() };
        let reclaimed = store.commit_runs(&again).await.unwrap()[0].clone().unwrap();
        assert_eq!((reclaimed.task_id.as_str(), reclaimed.lease_token), (id, 2));
        assert_eq!(store.extend_lease(T, id, 1, 9_000, 0, 300).await.unwrap(), None, "the old token is dead");

        store.withdraw_lease(id, 2).await.unwrap();
        let lease = store.get_task(T, id).await.unwrap().unwrap();
        assert_eq!((lease.status, lease.lease_owner), (TaskStatus::Cancelled, None));
        assert_eq!(store.next_lease_deadline().await.unwrap(), None);

        // A run held by PauseRun shows on its tasks' lease state.
        assert!(!store.get_task(T, id).await.unwrap().unwrap().run_held);
        let mut held = run("wfrun_l", "paused", 1);
        held.pending_action = Some(json!({"type": "manual", "reason": "hold \0 on"}));
        store.commit_runs(&RunBatch { runs: vec![held], ..RunBatch::default() }).await.unwrap();
        assert!(store.get_task(T, id).await.unwrap().unwrap().run_held);

        // The next attempt keeps the id and the last token; the older task
        // still queued is claimed first.
        let mut retry = task("wfrun_l", "early", "a", 400);
        retry.attempt = 2;
        let requeue =
            RunBatch { tasks: vec![retry], claims: vec![claim("a", 500), claim("a", 500)], ..RunBatch::default() };
        let claimed = store.commit_runs(&requeue).await.unwrap();
        let older = claimed[0].clone().unwrap();
        assert_eq!((older.step_key.as_str(), older.lease_token), ("late", 1));
        let next = claimed[1].clone().unwrap();
        assert_eq!((next.task_id.as_str(), next.attempt, next.lease_token), (id, 2, 3));
    })
    .await;
}

#[tokio::test]
async fn an_any_tenant_claim_takes_every_tenants_tasks_and_a_tenant_claim_only_its_own() {
    on_both_stores(
        "an_any_tenant_claim_takes_every_tenants_tasks_and_a_tenant_claim_only_its_own",
        |store| async move {
            let in_tenant = |tenant: &str, run_id: &str, key: &str, created_ms| TaskRecord {
                tenant_id: tenant.into(),
                ..task(run_id, key, "a", created_ms)
            };
            let scoped = |scope: ClaimScope| ClaimRequest { scope, ..claim("a", 100) };
            let batch = RunBatch {
                runs: vec![
                    run_record("wfrun_x", "t1", RunStatus::Running, 1),
                    run_record("wfrun_y", "t2", RunStatus::Running, 1),
                ],
                tasks: vec![in_tenant("t1", "wfrun_x", "one", 10), in_tenant("t2", "wfrun_y", "two", 20)],
                // Tenant t3 has no task; t2's claim must not take t1's older one.
                claims: vec![scoped(ClaimScope::Tenant("t3".into())), scoped(ClaimScope::Tenant("t2".into()))],
                ..RunBatch::default()
            };
            let claimed = store.commit_runs(&batch).await.unwrap();
            assert_eq!(claimed[0], None, "a tenant's claim never crosses into another tenant");
            let two = claimed[1].clone().expect("t2's own task");
            assert_eq!((two.tenant_id.as_str(), two.step_key.as_str()), ("t2", "two"));

            let more = RunBatch {
                tasks: vec![in_tenant("t2", "wfrun_y", "three", 30)],
                claims: vec![
                    scoped(ClaimScope::AnyTenant),
                    scoped(ClaimScope::AnyTenant),
                    scoped(ClaimScope::AnyTenant),
                ],
                ..RunBatch::default()
            };
            let claimed = store.commit_runs(&more).await.unwrap();
            let got: Vec<(String, String)> =
                claimed.iter().flatten().map(|l| (l.tenant_id.clone(), l.step_key.clone())).collect();
            assert_eq!(got, [("t1".to_string(), "one".to_string()), ("t2".to_string(), "three".to_string())]);
            assert_eq!(claimed[2], None, "nothing left in any tenant");
            // The lease lives in its task's tenant, not in the claimer's.
            let one = claimed[0].clone().unwrap();
            assert!(store.get_task("t1", &one.task_id).await.unwrap().is_some());
            assert_eq!(store.get_task(T, &one.task_id).await.unwrap(), None);
        },
    )
    .await;
}

#[tokio::test]
async fn tenant_secrets_are_kept_per_tenant_listed_by_name_and_deleted() {
    on_both_stores("tenant_secrets_are_kept_per_tenant_listed_by_name_and_deleted", |store| async move {
        let (first, created) = store.put_tenant_secret("t1", "B", "v1.sealed-b", 10).await.unwrap();
        assert_eq!((first.name.as_str(), first.created_ms, first.updated_ms, created), ("B", 10, 10, true));
        store.put_tenant_secret("t1", "A", "v1.sealed-a", 11).await.unwrap();
        store.put_tenant_secret("t2", "A", "v1.other", 12).await.unwrap();
        let (replaced, created) = store.put_tenant_secret("t1", "B", "v1.sealed-b2", 10).await.unwrap();
        assert_eq!((replaced.created_ms, replaced.updated_ms, created), (10, 10, false), "a replace in the same ms");
        let (replaced, _) = store.put_tenant_secret("t1", "B", "v1.sealed-b2", 20).await.unwrap();
        assert_eq!((replaced.created_ms, replaced.updated_ms), (10, 20), "a replace keeps its creation time");
        assert_eq!(store.tenant_secret("t1", "B").await.unwrap().as_deref(), Some("v1.sealed-b2"));
        assert_eq!(store.tenant_secret("t2", "B").await.unwrap(), None, "another tenant's name");
        let names =
            |page: Vec<weft_server::store::TenantSecretInfo>| page.into_iter().map(|i| i.name).collect::<Vec<_>>();
        assert_eq!(names(store.list_tenant_secrets("t1", "", 10).await.unwrap()), ["A", "B"]);
        assert_eq!(names(store.list_tenant_secrets("t1", "A", 10).await.unwrap()), ["B"]);
        assert_eq!(names(store.list_tenant_secrets("t1", "", 1).await.unwrap()), ["A"]);
        assert!(store.delete_tenant_secret("t1", "A").await.unwrap());
        assert!(!store.delete_tenant_secret("t1", "A").await.unwrap());
        assert_eq!(store.tenant_secret("t2", "A").await.unwrap().as_deref(), Some("v1.other"), "t2's is kept");
    })
    .await;
}

#[tokio::test]
async fn api_keys_are_found_by_id_listed_per_tenant_live_first_and_revoked_once() {
    on_both_stores("api_keys_are_found_by_id_listed_per_tenant_live_first_and_revoked_once", |store| async move {
        use weft_server::model::KeyScope;
        use weft_server::store::KeyRecord;
        let key = |id: &str, tenant: &str, created_ms: i64| KeyRecord {
            id: id.into(),
            tenant_id: tenant.into(),
            name: format!("{id} name"),
            scope: KeyScope::Write,
            secret_hash: format!("hash-of-{id}"),
            created_ms,
            revoked_ms: None,
        };
        assert!(!store.any_key_exists().await.unwrap());
        for record in [key("key_a", "t1", 10), key("key_b", "t1", 20), key("key_c", "t2", 30)] {
            store.insert_key(&record).await.unwrap();
        }
        assert!(store.any_key_exists().await.unwrap());
        assert_eq!(store.get_key("key_c").await.unwrap(), Some(key("key_c", "t2", 30)), "found by id, any tenant");
        assert_eq!(store.get_key("key_nope").await.unwrap(), None);
        assert_eq!(store.count_live_keys("t1").await.unwrap(), 2);

        assert_eq!(store.revoke_key("t2", "key_a", 40).await.unwrap(), None, "another tenant's key");
        let revoked = store.revoke_key("t1", "key_a", 50).await.unwrap().unwrap();
        assert_eq!(revoked.revoked_ms, Some(50));
        let again = store.revoke_key("t1", "key_a", 60).await.unwrap().unwrap();
        assert_eq!(again.revoked_ms, Some(50), "the first revocation time is kept");
        assert_eq!(store.count_live_keys("t1").await.unwrap(), 1);

        let ids: Vec<String> = store.list_keys("t1", 10).await.unwrap().into_iter().map(|k| k.id).collect();
        assert_eq!(ids, ["key_b", "key_a"], "live first, then revoked");
        let ids: Vec<String> = store.list_keys("t1", 1).await.unwrap().into_iter().map(|k| k.id).collect();
        assert_eq!(ids, ["key_b"]);
        assert!(store.any_key_exists().await.unwrap(), "revoking never empties the table");
    })
    .await;
}

#[tokio::test]
async fn a_step_timeout_caps_every_lease_of_its_attempt_and_marks_the_lease_it_ends() {
    on_both_stores("a_step_timeout_caps_every_lease_of_its_attempt_and_marks_the_lease_it_ends", |store| async move {
        let mut timed = task("wfrun_t", "slow", "a", 10);
        timed.timeout_ms = Some(300);
        let batch = RunBatch {
            runs: vec![run("wfrun_t", "running", 1)],
            tasks: vec![timed.clone(), task("wfrun_t", "free", "a", 20)],
            claims: vec![claim("a", 100), claim("a", 100)],
            ..RunBatch::default()
        };
        let claimed = store.commit_runs(&batch).await.unwrap();
        let slow = claimed[0].clone().unwrap();
        assert_eq!((slow.lease_deadline_ms, slow.attempt_deadline_ms), (400, Some(400)), "claim at 100 + 300");
        let free = claimed[1].clone().unwrap();
        assert_eq!((free.lease_deadline_ms, free.attempt_deadline_ms), (1_100, None), "no timeout, a full lease");

        let id = slow.task_id.as_str();
        assert_eq!(store.extend_lease(T, id, 1, 5_000, 0, 200).await.unwrap(), Some(400), "never past the deadline");
        let lease = store.get_task(T, id).await.unwrap().unwrap();
        assert_eq!((lease.attempt_deadline_ms, lease.timeout_ms, lease.timed_out_token), (Some(400), Some(300), None));
        assert_eq!(store.extend_lease(T, &free.task_id, 1, 5_000, 0, 200).await.unwrap(), Some(5_000));

        let expired = store.expired_leases(400, 10).await.unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!((expired[0].task_id.as_str(), expired[0].timed_out_after_ms), (id, Some(300)));

        // The writer ends the timed-out lease and queues attempt 2 in one
        // batch; the old token is remembered, the next claim gets a fresh
        // deadline.
        timed.attempt = 2;
        let retry = RunBatch {
            tasks: vec![timed],
            tasks_timed_out: vec![("wfrun_t".into(), "slow".into())],
            claims: vec![claim("a", 1_000)],
            ..RunBatch::default()
        };
        let again = store.commit_runs(&retry).await.unwrap()[0].clone().unwrap();
        assert_eq!((again.attempt, again.lease_token, again.attempt_deadline_ms), (2, 2, Some(1_300)));
        let lease = store.get_task(T, id).await.unwrap().unwrap();
        assert_eq!((lease.timed_out_token, lease.lease_token), (Some(1), 2));
        // A lease that ran out on its own (no timeout) is not a timeout.
        let lost = store.expired_leases(5_000, 10).await.unwrap();
        let lost: Vec<_> = lost.iter().map(|l| (l.task_id.as_str(), l.timed_out_after_ms)).collect();
        assert_eq!(lost, [(id, Some(300)), (free.task_id.as_str(), None)]);
    })
    .await;
}

fn approval(id: &str, run_id: &str, created_ms: i64, action: &str) -> ApprovalRecord {
    ApprovalRecord {
        id: id.into(),
        tenant_id: T.into(),
        run_id: run_id.into(),
        step_key: "ask".into(),
        workflow_id: String::new(),
        kind: weft_server::model::ApprovalKind::Step,
        action: action.into(),
        tool: String::new(),
        arguments: json!({"y": 1, "x": 2}),
        message: "please".into(),
        options: vec!["approve".into(), "reject".into()],
        status: ApprovalStatus::Pending,
        decision: String::new(),
        option: String::new(),
        decided_by: String::new(),
        comment: String::new(),
        default_action: "reject".into(),
        expires_ms: Some(9_999),
        created_ms,
        decided_ms: None,
    }
}

#[tokio::test]
async fn approvals_page_newest_first_with_filters_and_decisions() {
    on_both_stores("approvals_page_newest_first_with_filters_and_decisions", |store| async move {
        let opened: Vec<_> = (1..=5)
            .map(|i| approval(&format!("appr_{i}"), "wfrun_p", i * 10, if i % 2 == 0 { "send" } else { "pay" }))
            .collect();
        let batch = RunBatch {
            runs: vec![run("wfrun_p", "paused", 1)],
            approvals_opened: opened.clone(),
            approvals_decided: vec![ApprovalDecision {
                id: "appr_5".into(),
                status: ApprovalStatus::Approved,
                decision: "approve".into(),
                option: "approve".into(),
                decided_by: "ann".into(),
                comment: "ok".into(),
                decided_ms: 60,
            }],
            ..RunBatch::default()
        };
        store.commit_runs(&batch).await.unwrap();
        // Replaying the openings (after a failed commit) keeps the decision.
        let replay = RunBatch { approvals_opened: opened.clone(), ..RunBatch::default() };
        store.commit_runs(&replay).await.unwrap();

        let decided = store.get_approval(T, "appr_5").await.unwrap().unwrap();
        assert_eq!((decided.status, decided.decided_by.as_str()), (ApprovalStatus::Approved, "ann"));
        assert_eq!((decided.workflow_id.as_str(), decided.decided_ms), ("wf_1", Some(60)));
        assert_eq!(decided.arguments.to_string(), r#"{"y":1,"x":2}"#);
        assert_eq!(store.get_approval("other", "appr_5").await.unwrap(), None);

        let mut query = ApprovalQuery { limit: 2, ..ApprovalQuery::default() };
        let mut seen = Vec::new();
        loop {
            let page = store.list_approvals(T, &query).await.unwrap();
            assert_eq!(page.total, 5);
            seen.extend(page.approvals.iter().map(|a| a.id.clone()));
            if !page.has_more {
                break;
            }
            let last = page.approvals.last().unwrap();
            query.after = Some((last.created_ms, last.id.clone()));
        }
        assert_eq!(seen, ["appr_5", "appr_4", "appr_3", "appr_2", "appr_1"]);

        let sends = ApprovalQuery { action: Some("send".into()), limit: 10, ..ApprovalQuery::default() };
        let page = store.list_approvals(T, &sends).await.unwrap();
        assert_eq!((page.total, page.approvals.len(), page.has_more), (2, 2, false));
        let pending = ApprovalQuery {
            status: Some(ApprovalStatus::Pending),
            workflow_id: Some("wf_1".into()),
            limit: 10,
            ..ApprovalQuery::default()
        };
        assert_eq!(store.list_approvals(T, &pending).await.unwrap().total, 4);
    })
    .await;
}

fn definition(name: &str) -> Definition {
    let schema = json!({"type": "object", "properties": {"zeta": {"type": "string"}, "alpha": {"type": "number"}}});
    serde_json::from_value(json!({"name": name, "inputSchema": schema, "steps": [{"id": "a", "type": "transform"}]}))
        .unwrap()
}

fn new_workflow(id: &str, now_ms: i64, tags: &[&str], request_id: Option<&str>) -> NewWorkflow {
    NewWorkflow {
        id: id.into(),
        status: WorkflowStatus::Active,
        trigger_type: "manual".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        change_summary: "first".into(),
        definition: definition(id),
        source: None,
        request_id: request_id.map(str::to_owned),
        now_ms,
    }
}

#[tokio::test]
async fn workflows_version_atomically_and_page_by_tag() {
    on_both_stores("workflows_version_atomically_and_page_by_tag", |store| async move {
        let first = store.create_workflow(T, new_workflow("wf_a", 10, &["x", "y"], Some("req"))).await.unwrap();
        let same = store.create_workflow(T, new_workflow("wf_other", 11, &[], Some("req"))).await.unwrap();
        assert_eq!(same, first, "one workflow per request id");
        assert_eq!(
            serde_json::to_string(&first.definition).unwrap(),
            serde_json::to_string(&definition("wf_a")).unwrap()
        );
        store.create_workflow(T, new_workflow("wf_b", 20, &["y"], None)).await.unwrap();
        store.create_workflow(T, new_workflow("wf_c", 30, &["y"], None)).await.unwrap();
        store.set_workflow_status(T, "wf_c", WorkflowStatus::Archived, 31).await.unwrap();

        let next = |based_on| NewVersion {
            based_on,
            definition: definition("v2"),
            source: Some(serde_json::json!({"steps": [{"id": "s", "config": {"url": "https://example.com"}}]})),
            change_summary: "second".into(),
            tags: Some(vec!["z".into()]),
            trigger_type: None,
            now_ms: 40,
        };
        let v2 = store.append_workflow_version(T, "wf_a", next(1)).await.unwrap();
        assert_eq!((v2.version, v2.tags.clone()), (2, vec!["z".to_string()]));
        // Sources as written: kept per version, absent for a canonical one.
        assert_eq!(store.get_version_source(T, "wf_a", 2).await.unwrap(), next(1).source);
        assert_eq!(store.get_version_source(T, "wf_a", 1).await.unwrap(), None);
        assert!(matches!(store.get_version_source(T, "wf_a", 9).await, Err(StoreError::NotFound { .. })));
        assert!(matches!(store.get_version_source(T, "wf_none", 1).await, Err(StoreError::NotFound { .. })));
        assert!(matches!(
            store.append_workflow_version(T, "wf_a", next(1)).await,
            Err(StoreError::VersionConflict { latest: 2 })
        ));
        assert!(matches!(store.append_workflow_version(T, "wf_none", next(1)).await, Err(StoreError::NotFound { .. })));
        assert_eq!(store.get_workflow_version(T, "wf_a", 1).await.unwrap().definition, definition("wf_a"));
        assert!(matches!(store.get_workflow_version(T, "wf_a", 3).await, Err(StoreError::NotFound { .. })));
        let versions = store.list_workflow_versions(T, "wf_a").await.unwrap();
        assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1]);

        let tagged = |after| WorkflowQuery { tag: Some("y".into()), limit: 1, after, ..WorkflowQuery::default() };
        let page = store.list_workflows(T, &tagged(None)).await.unwrap();
        assert_eq!((page.workflows[0].id.as_str(), page.total, page.has_more), ("wf_b", 1, false), "archived hidden");
        let all = WorkflowQuery { limit: 10, ..WorkflowQuery::default() };
        let ids: Vec<_> = store.list_workflows(T, &all).await.unwrap().workflows.into_iter().map(|w| w.id).collect();
        assert_eq!(ids, ["wf_b", "wf_a"]);
        let archived = WorkflowQuery { status: Some(WorkflowStatus::Archived), limit: 10, ..WorkflowQuery::default() };
        assert_eq!(store.list_workflows(T, &archived).await.unwrap().total, 1);

        store.delete_workflow(T, "wf_a").await.unwrap();
        assert!(matches!(store.get_workflow(T, "wf_a").await, Err(StoreError::NotFound { .. })));
        assert!(matches!(store.delete_workflow(T, "wf_a").await, Err(StoreError::NotFound { .. })));
        // A server secret is written once; later candidates get the first.
        assert_eq!(store.server_secret("webhook", "first", 1).await.unwrap(), "first");
        assert_eq!(store.server_secret("webhook", "second", 2).await.unwrap(), "first");

        // The request id's workflow is gone, so the token is spent.
        let fresh = store.create_workflow(T, new_workflow("wf_d", 50, &[], Some("req"))).await.unwrap();
        assert_eq!(fresh.id, "wf_d");
    })
    .await;
}

#[tokio::test]
async fn text_with_nul_and_control_characters_round_trips_and_filters() {
    on_both_stores("text_with_nul_and_control_characters_round_trips_and_filters", |store| async move {
        const ODD: &str = "a\0b\u{1}0c\u{1}\u{1}\0";
        let mut odd = run("wfrun_nul", "running", 5);
        odd.user_id = ODD.into();
        odd.trigger = format!("trigger {ODD}");
        odd.error = Some(ODD.into());
        odd.input = Some(json!({ODD: ODD}));
        let mut task = task("wfrun_nul", "s\0", ODD, 1);
        task.task = Some(ODD.into());
        let batch = RunBatch {
            runs: vec![odd.clone()],
            steps: vec![step("wfrun_nul", "s\0", 1, "running")],
            tasks: vec![task],
            idempotency: vec![idempotency(T, ODD, "wfrun_nul", 5)],
            claims: vec![claim(ODD, 10)],
            ..RunBatch::default()
        };
        let leased = store.commit_runs(&batch).await.unwrap()[0].clone().expect("claimed by its NUL agent name");
        assert_eq!((leased.agent.as_str(), leased.task.as_deref(), leased.step_key.as_str()), (ODD, Some(ODD), "s\0"));
        let (read, steps) = store.get_run(T, "wfrun_nul").await.unwrap();
        assert_eq!(read, odd);
        assert_eq!(steps[0].key, "s\0");
        let by_user = RunQuery { user_id: Some(ODD.into()), limit: 5, ..RunQuery::default() };
        assert_eq!(store.list_runs(T, &by_user).await.unwrap().total, 1);
        let other_user = RunQuery { user_id: Some("a".into()), limit: 5, ..RunQuery::default() };
        assert_eq!(store.list_runs(T, &other_user).await.unwrap().total, 0);
        assert_eq!(store.find_idempotent_run(T, ODD, 0).await.unwrap().as_deref(), Some("wfrun_nul"));
        let found = store.find_idempotent_runs(&[(T.into(), ODD.into())], 0).await.unwrap();
        assert_eq!(found.get(&(T.to_string(), ODD.to_string())).map(String::as_str), Some("wfrun_nul"));
        assert!(matches!(store.get_run(T, "wfrun_\0").await, Err(StoreError::NotFound { .. })));

        let mut flow = new_workflow("wf_nul", 1, &[ODD], Some(ODD));
        flow.change_summary = ODD.into();
        let created = store.create_workflow(T, flow).await.unwrap();
        assert_eq!((created.tags.as_slice(), created.change_summary.as_str()), ([ODD.to_string()].as_slice(), ODD));
        let tagged = WorkflowQuery { tag: Some(ODD.into()), limit: 5, ..WorkflowQuery::default() };
        assert_eq!(store.list_workflows(T, &tagged).await.unwrap().total, 1);
    })
    .await;
}
