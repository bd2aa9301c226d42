//! The concurrent-run limit per workflow end to end: runs over the limit
//! are accepted as QUEUED (run.queued, listed by status, cancellable) and
//! start in arrival order as others end; never more than the limit run at
//! once; the default comes from the server's configuration (0: none); a
//! workflow's `maxConcurrentRuns` overrides it and is bounded; paused runs
//! hold their slot or not, per the setting; a restart keeps queued runs
//! queued and admits them later.

use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_tests::runs::{events, get_run, pause, start, wait_finished, wait_for};
use weft_tests::workers::{complete, poll, register};
use weft_tests::workflows::create_json;
use weft_tests::{TestServer, eventually, http1};

/// One agent step per run: a run holds its slot while its task is out.
fn one_step(limit: Option<u32>) -> Value {
    let mut definition = json!({"name": "limited", "steps": [
        {"id": "work", "type": "agent", "agent": "worker", "task": "item {{ input.i }}"}
    ]});
    if let Some(limit) = limit {
        definition["maxConcurrentRuns"] = json!(limit);
    }
    definition
}

fn config(default_limit: u32, paused_hold: bool) -> Config {
    let mut config = Config::default();
    config.runs.max_concurrent_per_workflow = default_limit;
    config.runs.paused_runs_hold_a_slot = paused_hold;
    config
}

async fn serve(config: Config) -> (tempfile::TempDir, TestServer, Weft) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
    let client = server.client().await;
    register(&client, "w1", &["worker"]).await;
    (dir, server, client)
}

/// Runs of `workflow_id` in `status` (the total of the listing).
async fn count(client: &Weft, workflow_id: &str, status: pb::RunStatus) -> u32 {
    let request = pb::ListRunsRequest { workflow_id: workflow_id.into(), status: status as i32, ..Default::default() };
    client.runs().list_runs(request).await.unwrap().into_inner().total
}

/// Every task the worker can claim now (up to a second's wait for each).
async fn claim_all(client: &Weft) -> Vec<pb::Task> {
    let mut tasks = Vec::new();
    while let Some(task) = poll(client, "w1", 1).await {
        tasks.push(task);
    }
    tasks
}

fn status(run: &pb::Run) -> pb::RunStatus {
    pb::RunStatus::try_from(run.status).unwrap()
}

fn millis(t: &Option<prost_types::Timestamp>) -> i64 {
    t.as_ref().map_or(i64::MAX, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_simultaneous_starts_under_a_limit_of_three_never_run_more_than_three_and_all_finish_in_order() {
    let (_dir, server, client) = serve(Config::default()).await;
    let wf = create_json(&server, one_step(Some(3))).await;

    let starts = (0..30).map(|i| {
        let (client, wf) = (client.clone(), wf.clone());
        tokio::spawn(async move { start(&client, &wf, json!({"i": i})).await })
    });
    let mut runs = Vec::new();
    for started in starts {
        runs.push(started.await.unwrap());
    }
    let queued = runs.iter().filter(|r| status(r) == pb::RunStatus::Queued).count();
    assert_eq!(queued, 27, "three start, the rest are accepted as queued");

    // The worker takes everything it can get, then finishes it; were the
    // limit broken, it would hold more than three tasks at once.
    let mut finished = Vec::new();
    let mut most = 0;
    while finished.len() < 30 {
        let tasks = eventually("a slot frees and a queued run starts", 10, || async {
            let tasks = claim_all(&client).await;
            if tasks.is_empty() { Err("no task") } else { Ok(tasks) }
        })
        .await;
        most = most.max(tasks.len());
        assert!(tasks.len() <= 3, "{} tasks out at once", tasks.len());
        let running = count(&client, &wf, pb::RunStatus::Running).await;
        assert!(running <= 3, "{running} runs running at once");
        for task in tasks {
            complete(&client, &task, &json!({"ok": true})).await;
            finished.push(task.run_id);
        }
    }
    assert_eq!(most, 3, "the limit was used in full");
    for run in &runs {
        assert_eq!(status(&wait_finished(&client, &run.id, 10).await), pb::RunStatus::Completed);
    }
    assert_eq!(count(&client, &wf, pb::RunStatus::Queued).await, 0);

    // Arrival order: a run accepted strictly earlier never started later.
    let mut read = Vec::new();
    for run in &runs {
        read.push(get_run(&client, &run.id).await);
    }
    for a in &read {
        for b in &read {
            if millis(&a.create_time) < millis(&b.create_time) {
                assert!(
                    millis(&a.start_time) <= millis(&b.start_time),
                    "{} arrived before {} but started after it",
                    a.id,
                    b.id
                );
            }
        }
    }
    // A queued run's first event says so; run.started follows.
    let queued_run = runs.iter().find(|r| status(r) == pb::RunStatus::Queued).unwrap();
    let types: Vec<String> = events(&client, &queued_run.id).await.into_iter().map(|e| e.r#type).collect();
    assert_eq!(types[..2], ["run.queued", "run.started"], "{types:?}");
    server.stop().await;
}

#[tokio::test]
async fn queued_runs_start_in_the_order_they_arrived() {
    let (_dir, server, client) = serve(Config::default()).await;
    let wf = create_json(&server, one_step(Some(1))).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(start(&client, &wf, json!({"i": i})).await.id);
    }
    let mut order = Vec::new();
    while order.len() < ids.len() {
        let tasks = eventually("the next run starts", 10, || async {
            let tasks = claim_all(&client).await;
            if tasks.is_empty() { Err("no task") } else { Ok(tasks) }
        })
        .await;
        assert_eq!(tasks.len(), 1, "a limit of one runs one at a time");
        complete(&client, &tasks[0], &json!({})).await;
        order.push(tasks[0].run_id.clone());
    }
    assert_eq!(order, ids, "started in arrival order");
    server.stop().await;
}

#[tokio::test]
async fn the_server_default_applies_queued_runs_list_and_cancel_and_rest_answers_202_queued() {
    let (_dir, server, client) = serve(config(2, true)).await;
    let wf = create_json(&server, one_step(None)).await;
    let a = start(&client, &wf, json!({"i": 1})).await;
    let b = start(&client, &wf, json!({"i": 2})).await;
    assert_eq!((status(&a), status(&b)), (pb::RunStatus::Running, pb::RunStatus::Running));
    let c = start(&client, &wf, json!({"i": 3})).await;
    assert_eq!(status(&c), pb::RunStatus::Queued, "over the default of 2");
    assert!(c.start_time.is_none(), "a queued run has not started");
    let (code, d) =
        http1::json(server.addr, "POST", &format!("/v1/workflows/{wf}/runs"), Some(json!({"input": {}}))).await;
    assert_eq!(code, 202, "{d}");
    assert_eq!(d["status"], "queued", "{d}");
    let d_id = d["id"].as_str().unwrap().to_string();

    assert_eq!(count(&client, &wf, pb::RunStatus::Queued).await, 2);
    let (code, listed) = http1::json(server.addr, "GET", &format!("/v1/workflows/{wf}/runs?status=queued"), None).await;
    assert_eq!(code, 200, "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");

    // A queued run can be cancelled; it never starts.
    let cancelled = client
        .runs()
        .cancel_run(pb::CancelRunRequest { run_id: c.id.clone(), reason: "not needed".into() })
        .await
        .expect("a queued run cancels")
        .into_inner()
        .run
        .unwrap();
    assert_eq!(status(&cancelled), pb::RunStatus::Cancelled);

    // Two tasks are out; finishing one admits d, not the cancelled c.
    let tasks = claim_all(&client).await;
    assert_eq!(tasks.len(), 2);
    complete(&client, &tasks[0], &json!({})).await;
    let run = wait_for(&client, &d_id, &[pb::RunStatus::Running], 10).await;
    assert!(run.start_time.is_some());
    assert_eq!(status(&get_run(&client, &c.id).await), pb::RunStatus::Cancelled);
    let types: Vec<String> = events(&client, &c.id).await.into_iter().map(|e| e.r#type).collect();
    assert!(!types.contains(&"run.started".to_string()), "{types:?}");
    server.stop().await;
}

#[tokio::test]
async fn zero_means_no_limit() {
    let (_dir, server, client) = serve(config(0, true)).await;
    let wf = create_json(&server, one_step(None)).await;
    for i in 0..12 {
        assert_eq!(status(&start(&client, &wf, json!({"i": i})).await), pb::RunStatus::Running);
    }
    // A workflow's 0 lifts the server's default too.
    let (_dir2, server2, client2) = serve(config(1, true)).await;
    let wf2 = create_json(&server2, one_step(Some(0))).await;
    for i in 0..3 {
        assert_eq!(status(&start(&client2, &wf2, json!({"i": i})).await), pb::RunStatus::Running);
    }
    server.stop().await;
    server2.stop().await;
}

/// A run paused by PauseRun, and a second run started after it.
async fn paused_and_next(paused_hold: bool) -> (tempfile::TempDir, TestServer, Weft, String) {
    let (dir, server, client) = serve(config(1, paused_hold)).await;
    let wf = create_json(&server, one_step(None)).await;
    let first = start(&client, &wf, json!({"i": 1})).await;
    pause(&client, &first.id, "review").await.expect("pauses");
    let second = start(&client, &wf, json!({"i": 2})).await;
    (dir, server, client, second.id)
}

#[tokio::test]
async fn a_paused_run_holds_its_slot_by_default() {
    let (_dir, server, client, second) = paused_and_next(true).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status(&get_run(&client, &second).await), pb::RunStatus::Queued, "the paused run keeps the slot");
    server.stop().await;
}

#[tokio::test]
async fn a_paused_run_gives_its_slot_up_when_configured() {
    let (_dir, server, client, second) = paused_and_next(false).await;
    wait_for(&client, &second, &[pb::RunStatus::Running], 10).await;
    server.stop().await;
}

#[tokio::test]
async fn a_restart_keeps_queued_runs_queued_and_admits_them_later() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = TestServer::start_on(database.clone(), Config::default()).await;
    let client = server.client().await;
    register(&client, "w1", &["worker"]).await;
    let wf = create_json(&server, one_step(Some(1))).await;
    let ids: Vec<String> = {
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(start(&client, &wf, json!({"i": i})).await.id);
        }
        ids
    };
    server.stop().await;

    let server = TestServer::start_on(database, Config::default()).await;
    let client = server.client().await;
    register(&client, "w1", &["worker"]).await;
    assert_eq!(status(&get_run(&client, &ids[1]).await), pb::RunStatus::Queued);
    assert_eq!(status(&get_run(&client, &ids[2]).await), pb::RunStatus::Queued);
    for id in &ids {
        let task =
            eventually("the next run's task", 10, || async { poll(&client, "w1", 1).await.ok_or("no task") }).await;
        assert_eq!(&task.run_id, id, "in arrival order across the restart");
        assert!(poll(&client, "w1", 1).await.is_none(), "one at a time");
        complete(&client, &task, &json!({})).await;
    }
    for id in &ids {
        assert_eq!(status(&wait_finished(&client, id, 10).await), pb::RunStatus::Completed);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_limit_out_of_bounds_is_refused_naming_the_field() {
    let (_dir, server, client) = serve(Config::default()).await;
    let (code, body) = http1::json(server.addr, "POST", "/v1/workflows", Some(one_step(Some(100_001)))).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("maxConcurrentRuns"), "{body}");
    let mut negative = one_step(None);
    negative["maxConcurrentRuns"] = json!(-1);
    let (code, body) = http1::json(server.addr, "POST", "/v1/workflows", Some(negative)).await;
    assert_eq!(code, 400, "{body}");

    let workflow = pb::Workflow {
        name: "too many".into(),
        max_concurrent_runs: Some(200_000),
        steps: vec![pb::Step { id: "t".into(), r#type: "transform".into(), ..Default::default() }],
        ..Default::default()
    };
    let request = pb::CreateWorkflowRequest { workflow: Some(workflow), request_id: String::new() };
    let err = client.workflows().create_workflow(request).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("maxConcurrentRuns"), "{}", err.message());

    // At the bound it is kept, and read back.
    let id = create_json(&server, one_step(Some(100_000))).await;
    let (code, read) = http1::json(server.addr, "GET", &format!("/v1/workflows/{id}"), None).await;
    assert_eq!(code, 200);
    assert_eq!(read["maxConcurrentRuns"], 100_000, "{read}");
    let listed = client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap().into_inner();
    assert_eq!(listed.workflows.len(), 1, "nothing was stored for the refusals");
    server.stop().await;
}

/// A replica serving on the Postgres schema `url`, with short leases.
async fn replica(url: &str) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>, Weft) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config {
        listen: addr,
        database_url: url.to_owned(),
        cluster: weft_server::config::ClusterSettings { partition_lease_ms: 600, notify: true },
        ..Config::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = weft_server::run(listener, config, async {
            let _ = stopped.await;
        })
        .await;
    });
    let client = Weft::connect(format!("http://{addr}")).await.unwrap();
    client.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.expect("the replica serves");
    (stop, task, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limit_holds_across_two_replicas_on_postgres() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let name = "the_limit_holds_across_two_replicas_on_postgres";
    let Some(base) = weft_tests::store::postgres_or_skip(name).await else { return };
    let url = weft_tests::store::fresh_schema_url(&base).await;
    let (stop_a, task_a, a) = replica(&url).await;
    let (stop_b, task_b, b) = replica(&url).await;
    // Both hold partitions before the runs start, so runs land on both.
    let shared = url.clone();
    eventually("the partitions split between the replicas", 30, || {
        let url = shared.clone();
        async move {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let owners: i64 =
                sqlx::query_scalar("SELECT COUNT(DISTINCT owner) FROM partitions WHERE owner IS NOT NULL")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            if owners == 2 { Ok(()) } else { Err(owners) }
        }
    })
    .await;
    let request = pb::CreateWorkflowRequest {
        workflow: Some(pb::Workflow {
            name: "shared-limit".into(),
            max_concurrent_runs: Some(3),
            steps: vec![pb::Step {
                id: "work".into(),
                r#type: "agent".into(),
                agent: "worker".into(),
                task: "go".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let wf = a.workflows().create_workflow(request).await.unwrap().into_inner().id;

    // Eight pollers, four through each replica, each holding its task a
    // moment: were the limit per replica, more than three would be out.
    let (out, most, done) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut pollers = Vec::new();
    for (i, client) in
        [a.clone(), a.clone(), a.clone(), a.clone(), b.clone(), b.clone(), b.clone(), b.clone()].into_iter().enumerate()
    {
        let worker = format!("w{i}");
        register(&client, &worker, &["worker"]).await;
        let (out, most, done) = (out.clone(), most.clone(), done.clone());
        pollers.push(tokio::spawn(async move {
            while done.load(Ordering::SeqCst) < 24 {
                let Some(task) = poll(&client, &worker, 1).await else { continue };
                let now = out.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                // Counted out before the completion frees the slot.
                out.fetch_sub(1, Ordering::SeqCst);
                complete(&client, &task, &json!({})).await;
                done.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    let starts: Vec<_> = (0..24)
        .map(|i| {
            let (client, wf) = (if i % 2 == 0 { a.clone() } else { b.clone() }, wf.clone());
            tokio::spawn(async move { start(&client, &wf, json!({"i": i})).await.id })
        })
        .collect();
    let mut ids = Vec::new();
    for started in starts {
        ids.push(started.await.unwrap());
    }
    for poller in pollers {
        tokio::time::timeout(Duration::from_secs(60), poller).await.expect("every run is served").unwrap();
    }
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 3, "{most} tasks were out at once");
    assert_eq!(most, 3, "the pollers could hold as many as the limit allows");
    for id in &ids {
        assert_eq!(status(&wait_finished(&a, id, 20).await), pb::RunStatus::Completed);
    }
    let _ = (stop_a.send(()), stop_b.send(()));
    let _ = (task_a.await, task_b.await);
}

#[tokio::test]
async fn a_retry_run_counts_against_the_limit_like_any_run() {
    let (_dir, server, client) = serve(Config::default()).await;
    let wf = create_json(&server, one_step(Some(1))).await;
    let failed = start(&client, &wf, json!({"i": 1})).await;
    let task = eventually("the first run's task", 10, || async { poll(&client, "w1", 1).await.ok_or("no task") }).await;
    let fail = pb::FailTaskRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token,
        error: "boom".into(),
        retryable: false,
        ..Default::default()
    };
    client.workers().fail_task(fail).await.unwrap();
    assert_eq!(status(&wait_finished(&client, &failed.id, 10).await), pb::RunStatus::Failed);

    let holder = start(&client, &wf, json!({"i": 2})).await;
    assert_eq!(status(&holder), pb::RunStatus::Running);
    let retry = pb::RetryRunFromRequest { run_id: failed.id.clone(), step_id: "work".into() };
    let retried = client.runs().retry_run_from(retry).await.expect("a failed run retries").into_inner().run.unwrap();
    assert_eq!(status(&retried), pb::RunStatus::Queued, "the slot is taken");

    let task = eventually("the holder's task", 10, || async { poll(&client, "w1", 1).await.ok_or("no task") }).await;
    assert_eq!(task.run_id, holder.id);
    complete(&client, &task, &json!({})).await;
    let task = eventually("the retry's task", 10, || async { poll(&client, "w1", 1).await.ok_or("no task") }).await;
    assert_eq!(task.run_id, retried.id, "the retry starts once the slot frees");
    complete(&client, &task, &json!({})).await;
    assert_eq!(status(&wait_finished(&client, &retried.id, 10).await), pb::RunStatus::Completed);
    server.stop().await;
}
