//! Failover of real `weft` processes: three replicas on one Postgres
//! schema run 500 runs of a DAG (three agent steps and a one-second delay)
//! served by workers connected to different replicas. Mid-way one replica
//! is SIGKILLed and, once its partitions were taken over, another is
//! SIGSTOPped for four partition leases while a worker of it holds a task
//! and its writer is in the middle of a fenced commit (the worst moment:
//! that transaction locks partition rows a takeover must update), then
//! resumed. Afterwards every run completed, every agent step's
//! completion and every delay's firing is recorded exactly once, the
//! frozen replica's late completions were refused, and the takeover times
//! are printed (they go into bench/README.md).

#![allow(
    clippy::unwrap_used,
    reason = "test code: a helper fails the test by unwrapping, and clippy's allow-unwrap-in-tests covers only #[test] functions"
)]

mod cluster_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_support::{Schema, Weft, postgres_or_skip, sessions_report, time_until};
use serde_json::{Value, json};
use tonic::Code;
use weft_sdk::builder::{agent, delay, transform, workflow};
use weft_sdk::json::to_proto_value;
use weft_sdk::pb;

const RUNS: usize = 500;
const PARTITION_LEASE_MS: u64 = 2_000;
const TASK_LEASE_MS: u64 = 1_500;
/// Longer than both leases, so the frozen replica loses its partitions and
/// its workers' tasks go back to the queue.
const FROZEN_FOR: Duration = Duration::from_millis(4 * PARTITION_LEASE_MS);
/// How long a worker works on a task: long enough that work is still in
/// flight when the replicas fail.
const WORK: Duration = Duration::from_millis(100);
const WORKER_SLOTS: usize = 4;
const AGENT_STEPS: [&str; 3] = ["plan", "left", "right"];
/// Replica indices: A lives throughout, B is killed, C is frozen.
const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

/// What one CompleteTask call came to.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Accepted,
    /// ABORTED or FAILED_PRECONDITION: the server refused a stale lease.
    Refused(Code),
    /// No answer: the replica it went to was killed.
    Lost(String),
}

#[derive(Debug, Clone)]
struct Completion {
    run_id: String,
    step_id: String,
    token: u64,
    /// The replica the call went to.
    via: usize,
    /// How long the call took: a call into the frozen replica waits for the thaw.
    took: Duration,
    outcome: Outcome,
}

/// Everything the workers did, for the assertions at the end.
#[derive(Default)]
struct Ledger {
    completions: Mutex<Vec<Completion>>,
    /// Unexpected errors from replicas that were alive.
    errors: Mutex<Vec<String>>,
    /// Tasks in hand per home replica right now.
    holding: [AtomicUsize; 3],
    done: AtomicBool,
}

impl Ledger {
    fn accepted(&self) -> usize {
        self.completions.lock().unwrap().iter().filter(|c| c.outcome == Outcome::Accepted).count()
    }
}

fn report(line: &str) {
    cluster_support::report("replicas", line);
}

/// A lease that runs out fails the attempt, so the agent steps allow
/// retries: the attempts held by the frozen and the killed replicas'
/// workers are given up and run again elsewhere.
fn chaos_workflow() -> pb::Workflow {
    workflow("chaos")
        .step(agent("plan", "chaos", "Plan").retries(5))
        .step(agent("left", "chaos", "Left").retries(5).depends_on(["plan"]))
        .step(agent("right", "chaos", "Right").retries(5).depends_on(["plan"]))
        .step(delay("nap", 1).depends_on(["plan"]))
        .step(
            transform("join")
                .depends_on(["left", "right", "nap"])
                .output("left", "$.left.output")
                .output("right", "$.right.output"),
        )
        .build()
}

/// One worker slot at home on `replicas[home]`: polls, works, completes,
/// and moves to the next replica when its own stops answering (as a
/// worker behind a load balancer would).
async fn worker_slot(urls: Arc<Vec<String>>, home: usize, slot: usize, ledger: Arc<Ledger>) {
    let worker_id = format!("worker-{home}-{slot}");
    let mut via = home;
    'connect: while !ledger.done.load(Ordering::Relaxed) {
        let client = match weft_sdk::Weft::connect(urls[via].clone()).await {
            Ok(client) => client,
            Err(_) => {
                via = (via + 1) % urls.len();
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let register = pb::RegisterWorkerRequest {
            worker_id: worker_id.clone(),
            agents: vec!["chaos".into()],
            concurrency: 1,
            ..Default::default()
        };
        if client.workers().register_worker(register).await.is_err() {
            via = (via + 1) % urls.len();
            continue;
        }
        while !ledger.done.load(Ordering::Relaxed) {
            let poll = pb::PollTaskRequest { worker_id: worker_id.clone(), wait_seconds: 1, ..Default::default() };
            let task = match client.workers().poll_task(poll).await {
                Ok(reply) => reply.into_inner().task,
                Err(status) => {
                    if via != B {
                        ledger.errors.lock().unwrap().push(format!("poll on replica {via}: {status:?}"));
                    }
                    via = (via + 1) % urls.len();
                    continue 'connect;
                }
            };
            let Some(task) = task else { continue };
            ledger.holding[home].fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(WORK).await;
            let complete = pb::CompleteTaskRequest {
                task_id: task.task_id.clone(),
                lease_token: task.lease_token,
                output: Some(to_proto_value(&json!({"by": worker_id, "step": task.step_id}))),
                ..Default::default()
            };
            let sent = Instant::now();
            let outcome = match client.workers().complete_task(complete).await {
                Ok(_) => Outcome::Accepted,
                Err(status) if matches!(status.code(), Code::Aborted | Code::FailedPrecondition) => {
                    Outcome::Refused(status.code())
                }
                Err(status) => Outcome::Lost(format!("{status:?}")),
            };
            ledger.holding[home].fetch_sub(1, Ordering::SeqCst);
            let lost = matches!(outcome, Outcome::Lost(_));
            if lost && via != B {
                ledger.errors.lock().unwrap().push(format!("complete on replica {via}: {outcome:?}"));
            }
            let completion = Completion {
                run_id: task.run_id,
                step_id: task.step_id,
                token: task.lease_token,
                via,
                took: sent.elapsed(),
                outcome,
            };
            ledger.completions.lock().unwrap().push(completion);
            if lost {
                via = (via + 1) % urls.len();
                continue 'connect;
            }
        }
    }
}

/// Starts run `i` through replica `i % 3`, falling over to the next one
/// with the same idempotency key when a replica does not answer (the key
/// makes a retried start return the run a dead replica already made).
async fn start_runs(urls: Arc<Vec<String>>, workflow_id: String, next: Arc<AtomicUsize>) -> Vec<String> {
    let mut started = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        if i >= RUNS {
            return started;
        }
        let mut via = i % urls.len();
        let run_id = loop {
            let start = pb::StartRunRequest {
                workflow_id: workflow_id.clone(),
                idempotency_key: format!("chaos-{i}"),
                input: Some(to_proto_value(&json!({"i": i}))),
                ..Default::default()
            };
            let attempt = async {
                let client = weft_sdk::Weft::connect(urls[via].clone()).await.map_err(|e| e.to_string())?;
                client.runs().start_run(start).await.map_err(|e| format!("{e:?}"))
            };
            match tokio::time::timeout(Duration::from_secs(5), attempt).await {
                Ok(Ok(reply)) => break reply.into_inner().run.expect("a run").id,
                _ => via = (via + 1) % urls.len(),
            }
        };
        started.push(run_id);
    }
}

/// Waits up to `limit` until `gone` holds no partition; answers how long
/// that took, or, on timeout, a trace of who held what every 250 ms (from
/// the `partitions` table, on the database's clock) with `gone`'s busy
/// Postgres sessions, and the survivors' partition log lines.
async fn taken_over(schema: &Schema, gone: &Weft, survivors: &[&Weft], limit: Duration) -> Result<Duration, String> {
    let began = Instant::now();
    let mut trace = Vec::new();
    let mut sampled: Option<Instant> = None;
    while began.elapsed() < limit {
        if !schema.owners().await.contains_key(&gone.replica) {
            return Ok(began.elapsed());
        }
        if sampled.is_none_or(|at| at.elapsed() >= Duration::from_millis(250)) {
            sampled = Some(Instant::now());
            let sessions = sessions_report(schema, &gone.application).await;
            trace.push(format!(
                "{:>5} ms  {}\n{sessions}",
                began.elapsed().as_millis(),
                schema.partition_report().await
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logs: Vec<String> = survivors
        .iter()
        .flat_map(|r| r.log_lines("partition").into_iter().map(move |line| format!("{}: {line}", r.replica)))
        .collect();
    Err(format!("{}\n--- survivors' partition log:\n{}", trace.join("\n"), logs.join("\n")))
}

/// `(run id, command)` of every stored command of type `kind`.
async fn commands(schema: &Schema, kind: &str) -> Vec<(String, Value)> {
    let mut conn = schema.connect().await;
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT run_id, command FROM run_commands")
        .fetch_all(&mut conn)
        .await
        .expect("read run_commands");
    rows.into_iter()
        .map(|(run, command)| (run, serde_json::from_str::<Value>(&command).expect("commands are JSON")))
        .filter(|(_, command)| command["command"] == kind)
        .collect()
}

/// Run status → how many runs have it.
async fn run_statuses(schema: &Schema) -> HashMap<String, i64> {
    let mut conn = schema.connect().await;
    let rows: Vec<(String, i64)> = sqlx::query_as("SELECT status, COUNT(*) FROM runs GROUP BY status")
        .fetch_all(&mut conn)
        .await
        .expect("count runs");
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_survive_a_kill_and_a_freeze_and_run_every_step_once() {
    let name = "three_replicas_survive_a_kill_and_a_freeze";
    let Some(base) = postgres_or_skip(name).await else { return };
    let schema = Schema::create(&base, "chaos").await;
    let env = [
        ("WEFT_PARTITION_LEASE_MS", PARTITION_LEASE_MS.to_string()),
        ("WEFT_TASK_LEASE_MS", TASK_LEASE_MS.to_string()),
        // 500 overlapping runs of one workflow: no concurrent-run limit.
        ("WORKFLOW_MAX_CONCURRENT_RUNS", "0".to_string()),
        // Each partition round, for the trace when a takeover is late.
        ("WEFT_LOG", "info,weft_server::engine::cluster=debug".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut replicas: Vec<Weft> = (0..3).map(|_| Weft::start(&schema.url, &env)).collect();
    let urls = Arc::new(replicas.iter().map(|r| r.url.clone()).collect::<Vec<_>>());
    let ids: Vec<String> = replicas.iter().map(|r| r.replica.clone()).collect();

    let spread = time_until(Duration::from_secs(20), || async {
        let owners = schema.owners().await;
        // ceil(64 / 3) = 22 each for the first two, the rest for the third.
        owners.len() == 3 && owners.values().sum::<i64>() == 64 && owners.values().all(|n| (20..=22).contains(n))
    })
    .await;
    assert!(spread.is_some(), "the partitions spread over three replicas: {:?}", schema.owners().await);

    let client = weft_sdk::Weft::connect(urls[A].clone()).await.unwrap();
    let create = pb::CreateWorkflowRequest { workflow: Some(chaos_workflow()), ..Default::default() };
    let workflow_id = client.workflows().create_workflow(create).await.unwrap().into_inner().id;

    let ledger = Arc::new(Ledger::default());
    let mut workers = Vec::new();
    for home in 0..3 {
        for slot in 0..WORKER_SLOTS {
            workers.push(tokio::spawn(worker_slot(urls.clone(), home, slot, ledger.clone())));
        }
    }
    let began = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let starters: Vec<_> =
        (0..8).map(|_| tokio::spawn(start_runs(urls.clone(), workflow_id.clone(), next.clone()))).collect();

    // Kill B once a fifth of the agent steps are done.
    let fifth = RUNS * AGENT_STEPS.len() / 5;
    assert!(time_until(Duration::from_secs(60), || async { ledger.accepted() >= fifth }).await.is_some());
    let held_by_b = schema.owners().await.get(&ids[B]).copied().unwrap_or(0);
    replicas[B].kill();
    let b_taken = taken_over(&schema, &replicas[B], &[&replicas[A], &replicas[C]], Duration::from_secs(30))
        .await
        .unwrap_or_else(|trace| panic!("B's partitions were taken over:\n{trace}"));
    report(&format!(
        "SIGKILL of B after {} of {} agent steps; its {held_by_b} partitions taken over in {} ms \
         (partition lease {PARTITION_LEASE_MS} ms)",
        ledger.accepted(),
        RUNS * AGENT_STEPS.len(),
        b_taken.as_millis()
    ));

    // Freeze C while one of its workers holds a task, for longer than a
    // lease, in the middle of a commit: its partitions must still be taken
    // over within about a lease (Postgres ends the stopped transaction).
    assert!(
        time_until(Duration::from_secs(30), || async { ledger.holding[C].load(Ordering::SeqCst) > 0 }).await.is_some(),
        "a worker of C held a task"
    );
    let held_by_c = schema.owners().await.get(&ids[C]).copied().unwrap_or(0);
    let caught = replicas[C].freeze_mid_transaction(&schema, 300).await;
    let frozen_at = Instant::now();
    if caught.is_none() {
        replicas[C].thaw();
        panic!(
            "C was never caught in the middle of a commit: {}",
            sessions_report(&schema, &replicas[C].application).await
        );
    }
    let c_taken = taken_over(&schema, &replicas[C], &[&replicas[A]], FROZEN_FOR).await.unwrap_or_else(|trace| {
        replicas[C].thaw();
        panic!("the frozen replica's partitions were taken over while it was frozen:\n{trace}")
    });
    tokio::time::sleep(FROZEN_FOR.saturating_sub(frozen_at.elapsed())).await;
    replicas[C].thaw();
    report(&format!(
        "SIGSTOP of C for {} ms in a commit holding partition rows (caught at try {}); \
         its {held_by_c} partitions taken over in {} ms",
        FROZEN_FOR.as_millis(),
        caught.unwrap_or_default(),
        c_taken.as_millis()
    ));
    let rejoined = time_until(Duration::from_secs(30), || async {
        let owners = schema.owners().await;
        owners.len() == 2 && owners.contains_key(&ids[C])
    })
    .await;
    assert!(rejoined.is_some(), "C serves again and takes a share back: {:?}", schema.owners().await);
    report(&format!("C held partitions again {} ms after SIGCONT", rejoined.unwrap().as_millis()));

    let mut started = Vec::new();
    for starter in starters {
        started.extend(starter.await.unwrap());
    }
    started.sort();
    started.dedup();
    assert_eq!(started.len(), RUNS, "each idempotency key names one run");
    let settled = |statuses: &HashMap<String, i64>| {
        let open = ["pending", "running", "paused"].iter().filter_map(|s| statuses.get(*s)).sum::<i64>();
        open == 0 && statuses.values().sum::<i64>() == RUNS as i64
    };
    time_until(Duration::from_secs(120), || async { settled(&run_statuses(&schema).await) }).await;
    let statuses = run_statuses(&schema).await;
    let tails = || replicas.iter().map(|r| r.log_tail(20)).collect::<Vec<_>>().join("\n---\n");
    assert_eq!(statuses.get("completed"), Some(&(RUNS as i64)), "{statuses:?}; logs:\n{}", tails());
    report(&format!("all {RUNS} runs completed {} ms after the first start", began.elapsed().as_millis()));
    ledger.done.store(true, Ordering::SeqCst);
    for worker in workers {
        let _ = tokio::time::timeout(Duration::from_secs(10), worker).await;
    }

    // Each agent step's completion and each delay's firing, exactly once.
    let mut succeeded: HashMap<(String, String), usize> = HashMap::new();
    for (run, command) in commands(&schema, "stepSucceeded").await {
        *succeeded.entry((run, command["step"].as_str().unwrap().to_owned())).or_default() += 1;
    }
    for run in &started {
        for step in AGENT_STEPS {
            let times = succeeded.get(&(run.clone(), step.to_owned())).copied().unwrap_or(0);
            assert_eq!(times, 1, "run {run} step {step} completed {times} times");
        }
    }
    assert_eq!(succeeded.len(), RUNS * AGENT_STEPS.len(), "no completion of anything else");
    let mut fired: HashMap<String, usize> = HashMap::new();
    for (run, command) in commands(&schema, "timerFired").await {
        if command["step"] == "nap" {
            *fired.entry(run).or_default() += 1;
        }
    }
    assert!(started.iter().all(|run| fired.get(run) == Some(&1)), "each delay fired once: {fired:?}");

    // What the workers saw: at most one accepted completion per step, the
    // late ones refused, nothing lost except calls to the killed replica.
    let completions = ledger.completions.lock().unwrap().clone();
    let mut accepted: HashMap<(String, String), u64> = HashMap::new();
    for completion in completions.iter().filter(|c| c.outcome == Outcome::Accepted) {
        let key = (completion.run_id.clone(), completion.step_id.clone());
        assert!(accepted.insert(key, completion.token).is_none(), "a step accepted twice: {completion:?}");
    }
    let refused: Vec<&Completion> = completions.iter().filter(|c| matches!(c.outcome, Outcome::Refused(_))).collect();
    for late in &refused {
        let winner = accepted.get(&(late.run_id.clone(), late.step_id.clone()));
        assert_ne!(winner, Some(&late.token), "a refused lease is not the one that was accepted: {late:?}");
    }
    let through_c: Vec<&Completion> = completions.iter().filter(|c| c.via == C).collect();
    assert!(
        !refused.is_empty(),
        "the frozen replica's worker completed late and was refused; through C: {:#?}",
        through_c.iter().filter(|c| c.took > Duration::from_secs(1)).collect::<Vec<_>>()
    );
    assert!(refused.iter().any(|c| c.via == C), "a late completion through the thawed replica was refused");
    let lost = completions.iter().filter(|c| matches!(c.outcome, Outcome::Lost(_))).count();
    let errors = ledger.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "replicas that lived answered every call: {errors:#?}");
    report(&format!(
        "{} completions accepted, {} stale ones refused ({} through the thawed replica), {lost} lost with the killed one",
        accepted.len(),
        refused.len(),
        refused.iter().filter(|c| c.via == C).count()
    ));
    drop(replicas);
    schema.drop().await;
}
