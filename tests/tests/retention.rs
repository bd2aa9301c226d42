//! Retention, on both stores: deletion batches (only finished runs past
//! their retention, with every row of theirs, bounded by rows, partitions
//! respected), expired keys and tombstones; and a soak of a server with a
//! retention of seconds, where the database stops growing, every run
//! inside the window stays readable and older ones answer NOT_FOUND saying
//! they passed their retention.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sqlx::{PgPool, SqlitePool};
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::pb;
use weft_server::Config;
use weft_server::model::{
    ApprovalRecord, ApprovalStatus, EventRecord, RunRecord, RunStatus, StepRecord, StepStatus, TaskRecord, TimerRecord,
};
use weft_server::store::{CommandRow, IdempotencyRow, KeySweep, OpenStore, RunBatch, RunSweep, Store, partition_of};
use weft_tests::store::{TestStore, fresh_schema_url, postgres_or_skip, run_record};
use weft_tests::{TestServer, http1};

const T: &str = "default";
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Raw SQL on either store, to count what the store API does not show.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Raw {
    async fn connect(url: &str) -> Self {
        if url.starts_with("postgres") {
            Self::Postgres(PgPool::connect(url).await.unwrap())
        } else {
            Self::Sqlite(SqlitePool::connect(url).await.unwrap())
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Self::Sqlite(pool) => drop(sqlx::query(sql).execute(pool).await.unwrap()),
            Self::Postgres(pool) => drop(sqlx::query(sql).execute(pool).await.unwrap()),
        }
    }

    /// Rows of every table a run has rows in, for `run_id`.
    async fn rows_of(&self, run_id: &str) -> i64 {
        let mut total = 0;
        for table in ["run_steps", "run_events", "run_commands", "tasks", "timers", "approvals", "run_idempotency"] {
            total += self.count(&format!("SELECT COUNT(*) FROM {table} WHERE run_id = '{run_id}'")).await;
        }
        total + self.count(&format!("SELECT COUNT(*) FROM runs WHERE id = '{run_id}'")).await
    }
}

/// Runs `check` on a fresh SQLite file, then on a fresh Postgres schema.
async fn on_both_stores<F, Fut>(name: &str, check: F)
where
    F: Fn(Arc<dyn Store>, Raw, bool) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("r.db").display());
    let sqlite = OpenStore::open(&url).await.unwrap().unwrap();
    check(sqlite.shared(), Raw::connect(&url).await, false).await;
    sqlite.close().await;

    let Some(base) = postgres_or_skip(name).await else { return };
    let url = fresh_schema_url(&base).await;
    let postgres = OpenStore::open(&url).await.unwrap().unwrap();
    check(postgres.shared(), Raw::connect(&url).await, true).await;
    postgres.close().await;
}

fn run(id: &str, status: &str, completed_ms: Option<i64>, retention_ms: Option<i64>) -> RunRecord {
    RunRecord {
        workflow_id: "wf_x".into(),
        input: Some(json!({})),
        idempotency_key: format!("key-{id}"),
        completed_ms,
        retention_ms,
        ..run_record(id, T, RunStatus::parse(status).expect("a run status"), 1_000)
    }
}

/// A run with `events` events, 3 steps, 3 commands, a task, a timer, an
/// approval and an idempotency key.
fn everything_of(record: RunRecord, events: u64, now_ms: i64) -> RunBatch {
    let id = record.id.clone();
    let step = |key: &str, position: u32| StepRecord {
        run_id: id.clone(),
        key: key.into(),
        position,
        step_id: key.into(),
        kind: weft_server::model::StepKind::Agent,
        parent_id: None,
        item_index: None,
        status: StepStatus::Completed,
        attempts: 1,
        output: None,
        error: None,
        cost_cents: 0,
        started_ms: Some(1),
        completed_ms: Some(2),
    };
    let event = |sequence: u64| EventRecord {
        run_id: id.clone(),
        sequence,
        event_type: "step.completed".into(),
        step_id: None,
        status: "completed".into(),
        output: None,
        error: None,
        cost_cents: None,
        total_cost_cents: None,
        can_retry_from: None,
        action: None,
        data: None,
        duration_ms: None,
        created_ms: 1,
    };
    RunBatch {
        steps: vec![step("a", 0), step("b", 1), step("c", 2)],
        events: (1..=events).map(event).collect(),
        commands: (1..=3).map(|position| CommandRow { run_id: id.clone(), position, command: "{}".into() }).collect(),
        timers: vec![TimerRecord { run_id: id.clone(), step_key: "b".into(), tenant_id: T.into(), due_ms: 1 }],
        tasks: vec![TaskRecord {
            task_id: format!("task_{id}"),
            run_id: id.clone(),
            step_key: "a".into(),
            tenant_id: T.into(),
            attempt: 1,
            kind: weft_server::model::StepKind::Agent,
            agent: Some("x".into()),
            task: None,
            input: json!({}),
            created_ms: 1,
            timeout_ms: None,
        }],
        idempotency: vec![key(&record.idempotency_key, &id, now_ms)],
        approvals_opened: vec![ApprovalRecord {
            id: format!("appr_{id}"),
            tenant_id: T.into(),
            run_id: id.clone(),
            step_key: "c".into(),
            workflow_id: "wf_x".into(),
            kind: weft_server::model::ApprovalKind::ToolUse,
            action: "use".into(),
            tool: String::new(),
            arguments: Value::Null,
            message: String::new(),
            options: vec![],
            status: ApprovalStatus::Approved,
            decision: String::new(),
            option: String::new(),
            decided_by: String::new(),
            comment: String::new(),
            default_action: String::new(),
            expires_ms: None,
            created_ms: 1,
            decided_ms: None,
        }],
        runs: vec![record],
        ..RunBatch::default()
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn sweep(now_ms: i64, retention_ms: i64, max_runs: u32) -> RunSweep {
    RunSweep { now_ms, retention_ms, max_runs, max_hold: Duration::from_secs(10), partitions: None }
}

#[tokio::test]
async fn a_batch_deletes_only_finished_runs_past_their_retention_with_every_row_and_a_tombstone() {
    on_both_stores("a_batch_deletes_only_finished_runs_past_their_retention", |store, raw, _| async move {
        let now = now_ms();
        let hour = 3_600_000;
        let cases = [
            // (id, status, completed, own retention, deleted)
            ("wfrun_old_done", "completed", Some(now - 2 * hour), None, true),
            ("wfrun_old_failed", "failed", Some(now - 2 * hour), None, true),
            ("wfrun_old_partial", "partial", Some(now - 2 * hour), None, true),
            ("wfrun_old_cancelled", "cancelled", Some(now - 2 * hour), None, true),
            ("wfrun_open", "running", None, None, false),
            ("wfrun_paused", "paused", None, Some(1), false),
            ("wfrun_recent", "completed", Some(now - 10_000), None, false),
            ("wfrun_kept_longer", "completed", Some(now - 2 * hour), Some(DAY_MS), false),
            ("wfrun_kept_shorter", "completed", Some(now - 10_000), Some(5_000), true),
        ];
        for (id, status, completed, own, _) in cases {
            store.commit_runs(&everything_of(run(id, status, completed, own), 5, now)).await.unwrap();
            assert_eq!(raw.rows_of(id).await, 1 + 3 + 5 + 3 + 1 + 1 + 1 + 1, "{id} written whole");
        }
        let swept = store.sweep_finished_runs(&sweep(now, hour, 100)).await.unwrap();
        assert_eq!(swept.runs, 5, "{swept:?}");
        assert!(!swept.more, "{swept:?}");
        for (id, status, _, _, deleted) in cases {
            if deleted {
                assert_eq!(raw.rows_of(id).await, 0, "{id} ({status}) deleted with every row");
                assert_eq!(store.run_tombstone(T, id).await.unwrap(), Some(now), "{id} has a tombstone");
                assert!(store.run_tombstone("other", id).await.unwrap().is_none(), "tombstones are per tenant");
            } else {
                assert_eq!(raw.rows_of(id).await, 16, "{id} ({status}) kept whole");
                assert!(store.get_run(T, id).await.is_ok());
                assert!(store.run_tombstone(T, id).await.unwrap().is_none());
            }
        }
        let again = store.sweep_finished_runs(&sweep(now, hour, 100)).await.unwrap();
        assert_eq!((again.runs, again.rows, again.more), (0, 0, false), "nothing left to delete");
    })
    .await;
}

#[tokio::test]
async fn a_run_larger_than_a_batch_is_deleted_over_several_batches_within_the_row_bound() {
    on_both_stores("a_run_larger_than_a_batch_is_deleted_over_several_batches", |store, raw, postgres| async move {
        let now = now_ms();
        store.commit_runs(&everything_of(run("wfrun_big", "completed", Some(1), None), 2_000, now)).await.unwrap();
        let mut batches = 0;
        loop {
            // With no time to spare, a SQLite batch runs one statement.
            let one_statement = RunSweep { max_hold: Duration::ZERO, ..sweep(now, 1_000, 1) };
            let swept = store.sweep_finished_runs(&one_statement).await.unwrap();
            batches += 1;
            if !postgres {
                // Postgres bounds batches by runs (one, here), SQLite by time
                // and each statement by 512 rows.
                assert!(swept.rows <= 512, "{swept:?}");
            }
            if swept.runs == 1 {
                break;
            }
            assert!(swept.more && batches < 50, "{swept:?}");
            assert!(store.get_run(T, "wfrun_big").await.is_ok(), "the run row goes last");
        }
        if !postgres {
            assert!(batches >= 4, "2,000 events, one statement of 512 rows per batch, took {batches}");
        }
        assert_eq!(raw.rows_of("wfrun_big").await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_replica_deletes_only_in_the_partitions_it_holds() {
    on_both_stores("a_replica_deletes_only_in_the_partitions_it_holds", |store, raw, postgres| async move {
        if !postgres {
            return; // SQLite's one replica holds every partition; its store ignores them.
        }
        let now = now_ms();
        let ids: Vec<String> = (0..40).map(|i| format!("wfrun_part_{i}")).collect();
        for id in &ids {
            store.commit_runs(&everything_of(run(id, "completed", Some(1), None), 2, now)).await.unwrap();
        }
        let held: Vec<u16> = ids.iter().take(3).map(|id| partition_of(id)).collect();
        let mine: Vec<&String> = ids.iter().filter(|id| held.contains(&partition_of(id))).collect();
        let swept = store
            .sweep_finished_runs(&RunSweep { partitions: Some(held.clone()), ..sweep(now, 1_000, 100) })
            .await
            .unwrap();
        assert_eq!(swept.runs as usize, mine.len());
        for id in &ids {
            let kept = raw.rows_of(id).await > 0;
            assert_eq!(kept, !held.contains(&partition_of(id)), "{id}");
        }
    })
    .await;
}

fn key(key: &str, run_id: &str, created_ms: i64) -> IdempotencyRow {
    IdempotencyRow { tenant_id: T.into(), key: key.into(), run_id: run_id.into(), created_ms }
}

#[tokio::test]
async fn expired_idempotency_keys_create_requests_and_old_tombstones_go() {
    on_both_stores("expired_idempotency_keys_create_requests_and_old_tombstones_go", |store, raw, _| async move {
        let now = now_ms();
        let batch = RunBatch {
            runs: vec![run("wfrun_live", "running", None, None)],
            idempotency: vec![
                key("stale", "wfrun_gone", now - DAY_MS - 1_000),
                key("fresh", "wfrun_live", now - 1_000),
            ],
            ..RunBatch::default()
        };
        store.commit_runs(&batch).await.unwrap();
        raw.execute(&format!(
            "INSERT INTO workflow_create_requests (tenant_id, request_id, workflow_id, created_at) \
             VALUES ('default', 'old', 'wf_a', {}), ('default', 'new', 'wf_b', {})",
            now - DAY_MS - 1_000,
            now
        ))
        .await;
        raw.execute(&format!(
            "INSERT INTO run_tombstones (run_id, tenant_id, deleted_at) VALUES ('wfrun_t1', 'default', {}), \
             ('wfrun_t2', 'default', {now})",
            now - 8 * DAY_MS
        ))
        .await;
        let sweep = KeySweep {
            keys_before_ms: now - DAY_MS,
            tombstones_before_ms: now - 7 * DAY_MS,
            max_rows: 100,
            partitions: None,
        };
        let swept = store.sweep_expired_keys(&sweep).await.unwrap();
        assert_eq!((swept.rows, swept.more), (3, false), "{swept:?}");
        assert_eq!(raw.count("SELECT COUNT(*) FROM run_idempotency WHERE idempotency_key = 'stale'").await, 0);
        assert_eq!(store.find_idempotent_run(T, "fresh", 0).await.unwrap().as_deref(), Some("wfrun_live"));
        assert_eq!(raw.count("SELECT COUNT(*) FROM workflow_create_requests").await, 1);
        assert!(store.run_tombstone(T, "wfrun_t1").await.unwrap().is_none(), "an old tombstone goes");
        assert_eq!(store.run_tombstone(T, "wfrun_t2").await.unwrap(), Some(now));
    })
    .await;
}

// ---------------------------------------------------------------- the soak

/// How long the soak keeps starting runs.
const SOAK: Duration = Duration::from_secs(24);
/// The server's retention in the soak.
const RETENTION: Duration = Duration::from_secs(3);

fn chain(name: &str, steps: usize, policy: Value) -> Value {
    let mut list = vec![json!({"id": "s0", "type": "transform", "output": {"n": "$.input.n"}})];
    for i in 1..steps {
        list.push(json!({"id": format!("s{i}"), "type": "transform", "dependsOn": [format!("s{}", i - 1)],
                          "output": {"n": format!("$.s{}.output.n", i - 1)}}));
    }
    json!({"name": name, "steps": list, "policy": policy})
}

async fn create(server: &TestServer, definition: Value) -> String {
    let (status, created) = http1::json(server.addr, "POST", "/v1/workflows", Some(definition)).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn start_request(workflow_id: &str, n: u64, key: &str) -> pb::StartRunRequest {
    pb::StartRunRequest {
        workflow_id: workflow_id.into(),
        input: Some(weft_server::api::convert::value_to_pb(&json!({"n": n}))),
        idempotency_key: key.into(),
        ..Default::default()
    }
}

/// Bytes of the SQLite file and its WAL.
fn file_bytes(database: &Path) -> u64 {
    let wal = database.with_extension("db-wal");
    [database, wal.as_path()].iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum()
}

fn max_in(samples: &[(Duration, u64)], from: Duration, to: Duration) -> u64 {
    samples.iter().filter(|(at, _)| *at >= from && *at < to).map(|(_, v)| *v).max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_retention_of_seconds_the_database_levels_off_and_only_old_runs_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let mut config = Config::default();
    config.runs.retention = RETENTION;
    let server = TestServer::start_on(database.clone(), config).await;
    let client = server.client().await;
    let postgres = TestStore::from_env().is_postgres();

    let short = create(&server, chain("short", 10, json!({}))).await;
    let kept = create(&server, chain("kept", 2, json!({"retention": "1h"}))).await;
    let waiting =
        create(&server, json!({"name": "waits", "steps": [{"id": "later", "type": "delay", "duration": 3600}]})).await;
    // Only now: the server opens (and creates) its database in the
    // background, and has done so once it has answered.
    let raw = Raw::connect(&TestStore::from_env().url_for(&database).await).await;
    // Outliving retention: a run still open, and one whose workflow keeps its runs longer.
    let open = client.runs().start_run(start_request(&waiting, 0, "")).await.unwrap().into_inner().run_id;
    let long = client.runs().start_run(start_request(&kept, 0, "")).await.unwrap().into_inner().run_id;
    // An idempotency key taken 25 h ago is expired: it must go.
    raw.execute(&format!(
        "INSERT INTO run_idempotency (tenant_id, idempotency_key, run_id, created_at) \
         VALUES ('default', 'expired-key', 'wfrun_elsewhere', {})",
        now_ms() - DAY_MS - 3_600_000
    ))
    .await;

    let began = Instant::now();
    let finished = Arc::new(std::sync::Mutex::new(Vec::<(String, Instant)>::new()));
    let mut starters = Vec::new();
    // Paced to ~60 runs/s: a debug build deletes a few hundred runs per
    // second of writer time and retention takes at most half of it, so an
    // unpaced soak would measure the build, not whether the size levels off.
    for worker in 0..3u64 {
        let (client, short, finished) = (client.clone(), short.clone(), finished.clone());
        starters.push(tokio::spawn(async move {
            let mut n = 0u64;
            while began.elapsed() < SOAK {
                n += 1;
                let key = if n.is_multiple_of(4) { format!("k-{worker}-{n}") } else { String::new() };
                let run = client.runs().start_run(start_request(&short, n, &key)).await.unwrap().into_inner();
                assert_eq!(
                    run.run.unwrap().status,
                    pb::RunStatus::Completed as i32,
                    "a chain of transforms completes at start"
                );
                finished.lock().unwrap().push((run.run_id, Instant::now()));
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }
    let mut samples = Vec::new();
    while began.elapsed() < SOAK {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let size =
            if postgres { raw.count("SELECT COUNT(*) FROM run_events").await as u64 } else { file_bytes(&database) };
        samples.push((began.elapsed(), size));
    }
    for starter in starters {
        starter.await.unwrap();
    }
    let finished = std::mem::take(&mut *finished.lock().unwrap());
    let third = SOAK / 3;
    let (middle, end) = (max_in(&samples, third, 2 * third), max_in(&samples, 2 * third, SOAK));
    let runs_left = raw.count("SELECT COUNT(*) FROM runs").await;
    eprintln!(
        "soak: {} runs started in {:?}; {} left; {} at its largest in the middle third, {} in the last ({})",
        finished.len(),
        SOAK,
        runs_left,
        middle,
        end,
        if postgres { "events" } else { "bytes of db + wal" }
    );
    assert!(finished.len() > 200, "too few runs to tell anything: {}", finished.len());
    assert!(end as f64 <= 1.3 * middle as f64, "still growing: {middle} in the middle, {end} at the end");
    assert!((runs_left as usize) < finished.len() / 2, "most runs are gone: {runs_left} of {}", finished.len());

    // Inside the window: every run finished in the last 2 s is readable.
    let now = Instant::now();
    let recent: Vec<&String> = finished
        .iter()
        .filter(|(_, at)| now.duration_since(*at) < RETENTION - Duration::from_secs(1))
        .map(|(id, _)| id)
        .collect();
    assert!(!recent.is_empty());
    for id in &recent {
        let run = client.runs().get_run(pb::GetRunRequest { run_id: (*id).clone() }).await;
        assert!(run.is_ok(), "{id} finished inside the retention window and must be readable: {run:?}");
    }
    // Well past it: gone, and saying why.
    let old: Vec<&String> = finished
        .iter()
        .filter(|(_, at)| now.duration_since(*at) > RETENTION * 2 + Duration::from_secs(2))
        .map(|(id, _)| id)
        .collect();
    assert!(old.len() > 100, "{}", old.len());
    for id in old.iter().step_by(old.len() / 50) {
        let err = client.runs().get_run(pb::GetRunRequest { run_id: (*id).clone() }).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{id}: {err:?}");
        assert!(err.message().contains("passed its retention"), "{id}: {}", err.message());
        assert_eq!(err.get_details_error_info().unwrap().reason, "RUN_PASSED_RETENTION");
        assert_eq!(raw.rows_of(id).await, 0, "{id} left rows behind");
    }
    let (status, body) = http1::json(server.addr, "GET", &format!("/v1/workflows/runs/{}", old[0]), None).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.to_string().contains("passed its retention"), "{body}");
    // An id that never was is a plain NOT_FOUND.
    let err =
        client.runs().get_run(pb::GetRunRequest { run_id: "wfrun_01jnevereverexisted00000".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(!err.message().contains("retention"), "{}", err.message());

    // What outlives retention is still there.
    let open = client.runs().get_run(pb::GetRunRequest { run_id: open }).await.unwrap().into_inner().run.unwrap();
    assert_eq!(open.status, pb::RunStatus::Running as i32, "an open run is never deleted");
    let long = client.runs().get_run(pb::GetRunRequest { run_id: long }).await.unwrap().into_inner().run.unwrap();
    assert_eq!(long.status, pb::RunStatus::Completed as i32, "policy.retention 1h keeps it");
    assert_eq!(raw.count("SELECT COUNT(*) FROM run_idempotency WHERE idempotency_key = 'expired-key'").await, 0);
    let keys = raw.count("SELECT COUNT(*) FROM run_idempotency").await;
    assert!((keys as usize) < finished.len() / 8, "keys go with their runs: {keys} left");
    server.stop().await;
}

#[tokio::test]
async fn a_bad_policy_retention_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    for retention in ["soon", "0s", "400d"] {
        let (status, body) =
            http1::json(server.addr, "POST", "/v1/workflows", Some(chain("bad", 1, json!({"retention": retention}))))
                .await;
        assert_eq!(status, 400, "{retention}: {body}");
        assert!(body.to_string().contains("policy.retention"), "{retention}: {body}");
    }
    let (status, body) =
        http1::json(server.addr, "POST", "/v1/workflows", Some(chain("good", 1, json!({"retention": "12h"})))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["policy"]["retention"], "12h", "{body}");
    // Empty, as a client echoing protobuf JSON's zero values sends it, is unset.
    let (status, body) =
        http1::json(server.addr, "POST", "/v1/workflows", Some(chain("echo", 1, json!({"retention": ""})))).await;
    assert_eq!(status, 201, "{body}");
    server.stop().await;
}
