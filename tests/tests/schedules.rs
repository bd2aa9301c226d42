//! ScheduleService end to end, over gRPC and REST, on the suite's store:
//! a schedule starts runs on its ticks (trigger `schedule`, its id and
//! tick on the run, ListRuns filtering by both); after downtime it fires
//! once for the missed window, or not at all with catch-up NONE; a
//! restart between starting a tick's run and moving the timer on does not
//! start a second run; 003's curl examples answer in their shapes; every
//! RPC refuses bad input with INVALID_ARGUMENT (REST 400) naming the
//! field, storing nothing. Downtime is made by stopping the server and
//! moving the schedule's stored timer back, so no test waits for minutes.
//! The daylight-saving ticks are checked in the engine's own tests.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_tests::auth::{rest, snapshot};
use weft_tests::shape::assert_shape;
use weft_tests::store::open_store;
use weft_tests::{TestServer, eventually};

/// A workflow whose runs finish inside the engine; `n` must be a number.
fn finishing_workflow(name: &str) -> Value {
    json!({
        "name": name,
        "inputSchema": {"type": "object", "properties": {"n": {"type": "number"}}},
        "steps": [{"id": "t", "type": "transform", "config": {"output": {"n": "$.input.n"}}}]
    })
}

/// A workflow whose runs wait for an agent no worker serves.
fn waiting_workflow(name: &str) -> Value {
    json!({"name": name, "steps": [{"id": "a", "type": "agent", "agent": "nobody", "task": "wait"}]})
}

async fn server_on(database: &Path) -> TestServer {
    let mut config = Config::default();
    config.schedules.poll_interval_ms = 200;
    TestServer::start_on(database.to_path_buf(), config).await
}

fn schedule(cron: &str) -> pb::Schedule {
    pb::Schedule { cron_expression: cron.into(), ..Default::default() }
}

async fn create(client: &Weft, workflow_id: &str, schedule: pb::Schedule) -> Result<pb::Schedule, tonic::Status> {
    let request = pb::CreateScheduleRequest { workflow_id: workflow_id.into(), schedule: Some(schedule) };
    let made = client.schedules().create_schedule(request).await?.into_inner();
    assert_eq!(Some(&made.schedule_id), made.schedule.as_ref().map(|s| &s.id));
    Ok(made.schedule.expect("the created schedule"))
}

async fn get(client: &Weft, id: &str, count: u32) -> Result<pb::Schedule, tonic::Status> {
    let request = pb::GetScheduleRequest { schedule_id: id.into(), next_fire_count: count };
    Ok(client.schedules().get_schedule(request).await?.into_inner().schedule.expect("a schedule"))
}

/// Runs listed with the trigger and schedule filters.
async fn runs_of(client: &Weft, trigger: &str, schedule_id: &str) -> Vec<pb::Run> {
    let request = pb::ListRunsRequest {
        trigger: trigger.into(),
        schedule_id: schedule_id.into(),
        page_size: 200,
        ..Default::default()
    };
    client.runs().list_runs(request).await.expect("ListRuns").into_inner().runs
}

fn ms(time: &Option<prost_types::Timestamp>) -> i64 {
    let t = time.as_ref().expect("a time");
    t.seconds * 1000 + i64::from(t.nanos) / 1_000_000
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The field a refusal names, from its BadRequest details.
fn field(status: &tonic::Status) -> String {
    let details = status.get_error_details();
    let bad = details.bad_request().unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    bad.field_violations[0].field.clone()
}

/// Moves a stored schedule's timer to `next_ms`, the server stopped: what
/// downtime, or a crash in the middle of a fire, leaves behind.
async fn set_next_fire(database: &Path, schedule_id: &str, next_ms: i64) {
    let store = open_store(database).await;
    let shared = store.shared();
    let mut record = shared.schedule_by_id(schedule_id).await.unwrap().expect("the schedule is stored");
    record.next_fire_ms = Some(next_ms);
    assert!(shared.update_schedule(&record).await.unwrap());
    store.close().await;
}

#[tokio::test]
async fn a_schedule_starts_runs_that_carry_its_id_and_tick_and_list_by_trigger() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_on(&dir.path().join("weft.db")).await;
    let client = server.client().await;
    let workflow = weft_tests::workflows::create_json(&server, finishing_workflow("every second")).await;
    let manual = weft_tests::runs::start(&client, &workflow, json!({"n": 0})).await;

    let mut asked = schedule("* * * * * *");
    asked.input_data = Some(weft_server::api::convert::value_to_pb(&json!({"n": 7})));
    let made = create(&client, &workflow, asked).await.unwrap();
    assert!(made.id.starts_with("sched_") && made.id.len() == 6 + 26, "{}", made.id);
    assert_eq!((made.timezone.as_str(), made.enabled), ("UTC", Some(true)));
    assert_eq!(made.overlap_policy(), pb::ScheduleOverlapPolicy::Skip);
    assert_eq!(made.catch_up(), pb::ScheduleCatchUp::Once);
    assert!(ms(&made.next_run_time) > ms(&made.create_time), "the first tick is after creation");

    let runs = eventually("three ticks start runs", 15, || async {
        let runs = runs_of(&client, "schedule", &made.id).await;
        if runs.len() >= 3 { Ok(runs) } else { Err(runs.len()) }
    })
    .await;
    let mut ticks: Vec<i64> = runs.iter().map(|run| ms(&run.scheduled_time)).collect();
    for run in &runs {
        assert_eq!((run.trigger.as_str(), run.schedule_id.as_str()), ("schedule", made.id.as_str()));
        assert_eq!(run.workflow_id, workflow);
        let tick = ms(&run.scheduled_time);
        assert_eq!(tick % 1000, 0, "a tick of a per-second expression is a whole second");
        let late = ms(&run.create_time) - tick;
        assert!((0..1_000).contains(&late), "run {} was created {late} ms after its tick", run.id);
        assert_eq!(weft_tests::runs::json_of(&run.input), json!({"n": 7}));
    }
    ticks.sort();
    ticks.dedup();
    assert_eq!(ticks.len(), runs.len(), "one run per tick");

    // The filters: trigger alone, schedule alone, and the manual run.
    let scheduled = runs_of(&client, "schedule", "").await;
    assert!(scheduled.iter().all(|run| run.trigger == "schedule") && scheduled.len() >= 3);
    assert!(runs_of(&client, "", &made.id).await.iter().all(|run| run.schedule_id == made.id));
    let manual_runs = runs_of(&client, "manual", "").await;
    assert_eq!(manual_runs.iter().map(|run| run.id.as_str()).collect::<Vec<_>>(), [manual.id.as_str()]);
    assert!(manual_runs[0].schedule_id.is_empty() && manual_runs[0].scheduled_time.is_none());
    assert!(runs_of(&client, "schedule", "sched_none").await.is_empty());
    let (status, listed) = rest(
        &server,
        "GET",
        &format!("/v1/workflows/{workflow}/runs?trigger=schedule&schedule_id={}", made.id),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let first = listed.as_array().and_then(|runs| runs.first()).cloned().unwrap_or(listed.clone());
    assert_eq!(first["scheduleId"], made.id.as_str(), "{listed}");
    assert!(first["scheduledAt"].is_string(), "{first}");

    let (status, all) =
        rest(&server, "GET", &format!("/v1/workflow-runs?trigger=schedule&scheduleId={}", made.id), None, None).await;
    assert_eq!(status, 200, "{all}");
    // That route's family shows runs as {run_id, output}: the filter
    // narrowed it to this schedule's runs.
    let listed = all["runs"].as_array().expect("runs");
    let ids: Vec<&str> = listed.iter().filter_map(|run| run["run_id"].as_str()).collect();
    let current = runs_of(&client, "schedule", &made.id).await;
    assert!(!ids.is_empty() && ids.iter().all(|id| current.iter().any(|run| run.id == *id)), "{all}");

    // Pausing (here over REST) stops the fires; the schedule says what it
    // last did.
    let (status, paused) =
        rest(&server, "POST", &format!("/v1/schedules/{}:pause", made.id), None, Some(&json!({}))).await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["enabled"], false, "{paused}");
    assert!(paused.get("nextRunAt").is_none(), "{paused}");
    let seen = get(&client, &made.id, 3).await.unwrap();
    assert!(!seen.last_run_id.is_empty() && seen.last_run_time.is_some());
    assert!(seen.next_fire_times.is_empty(), "a paused schedule lists no fire times");
    let count = runs_of(&client, "schedule", &made.id).await.len();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(runs_of(&client, "schedule", &made.id).await.len(), count, "a paused schedule does not fire");
    // Resuming twice is fine; the next tick is after now.
    for _ in 0..2 {
        let resumed = pb::ResumeScheduleRequest { schedule_id: made.id.clone() };
        let resumed = client.schedules().resume_schedule(resumed).await.unwrap().into_inner().schedule.unwrap();
        assert_eq!(resumed.enabled, Some(true));
        assert!(ms(&resumed.next_run_time) > now_ms() - 1_000);
    }
    let deleted = pb::DeleteScheduleRequest { schedule_id: made.id.clone() };
    let deleted = client.schedules().delete_schedule(deleted).await.unwrap().into_inner();
    assert!(deleted.success);
    assert_eq!(get(&client, &made.id, 0).await.unwrap_err().code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn get_lists_the_next_fire_times_and_update_replaces_the_masked_fields() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_on(&dir.path().join("weft.db")).await;
    let client = server.client().await;
    let workflow = weft_tests::workflows::create_json(&server, finishing_workflow("nightly")).await;
    let mut asked = schedule("30 2 * * *");
    asked.timezone = "America/New_York".into();
    asked.overlap_policy = pb::ScheduleOverlapPolicy::BufferOne.into();
    let made = create(&client, &workflow, asked).await.unwrap();

    let seen = get(&client, &made.id, 0).await.unwrap();
    assert_eq!(seen.next_fire_times.len(), 5, "five by default");
    let times: Vec<i64> = seen.next_fire_times.iter().map(|t| t.seconds).collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "in order: {times:?}");
    assert_eq!(seen.next_fire_times[0], seen.next_run_time.unwrap());
    assert_eq!(get(&client, &made.id, 100).await.unwrap().next_fire_times.len(), 100);

    // Only the masked field changes; the next fire is recomputed.
    let change = pb::Schedule {
        id: made.id.clone(),
        cron_expression: "0 9 * * 1-5".into(),
        timezone: "Europe/Paris".into(),
        ..Default::default()
    };
    let mask = prost_types::FieldMask { paths: vec!["cron_expression".into()] };
    let request = pb::UpdateScheduleRequest { schedule: Some(change), update_mask: Some(mask) };
    let updated = client.schedules().update_schedule(request).await.unwrap().into_inner().schedule.unwrap();
    assert_eq!(updated.cron_expression, "0 9 * * 1-5");
    assert_eq!(updated.timezone, "America/New_York", "not in the mask");
    assert_eq!(updated.overlap_policy(), pb::ScheduleOverlapPolicy::BufferOne);
    assert_ne!(updated.next_run_time, made.next_run_time);
    // No mask: every field set in the body.
    let change = pb::Schedule { id: made.id.clone(), timezone: "Europe/Paris".into(), ..Default::default() };
    let request = pb::UpdateScheduleRequest { schedule: Some(change), update_mask: None };
    let updated = client.schedules().update_schedule(request).await.unwrap().into_inner().schedule.unwrap();
    assert_eq!((updated.cron_expression.as_str(), updated.timezone.as_str()), ("0 9 * * 1-5", "Europe/Paris"));

    // REST: PATCH with the camelCase names.
    let body = json!({"cronExpression": "15 8 * * *", "catchUp": "none"});
    let (status, patched) = rest(
        &server,
        "PATCH",
        &format!("/v1/schedules/{}?updateMask=cronExpression,catchUp", made.id),
        None,
        Some(&body),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["cronExpression"], "15 8 * * *");
    assert_eq!(patched["catchUp"], "none", "{patched}");
    assert_eq!(patched["overlapPolicy"], "buffer_one", "{patched}");
    let (status, got) = rest(&server, "GET", &format!("/v1/schedules/{}?nextFireCount=2", made.id), None, None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["nextFireTimes"].as_array().map(Vec::len), Some(2), "{got}");
    server.stop().await;
}

#[tokio::test]
async fn the_003_schedule_routes_answer_in_their_documented_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_on(&dir.path().join("weft.db")).await;
    let workflow = weft_tests::workflows::create_json(&server, waiting_workflow("daily")).await;
    let body =
        json!({"cron_expression": "0 9 * * 1-5", "timezone": "America/New_York", "input_data": {"dataset": "daily"}});
    let (status, created) =
        rest(&server, "POST", &format!("/api/workflows/{workflow}/schedules"), None, Some(&body)).await;
    assert_eq!(status, 201, "{created}");
    assert_shape(&created, &json!({"schedule_id": "sched_abc123", "...": true}), "create");
    let id = created["schedule_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("sched_"));

    let (status, listed) = rest(&server, "GET", &format!("/api/workflows/{workflow}/schedules"), None, None).await;
    assert_eq!(status, 200, "{listed}");
    let first = &listed["schedules"][0];
    assert_eq!(first["id"], id.as_str(), "{listed}");
    assert_eq!(first["cron_expression"].as_str().or(first["cronExpression"].as_str()), Some("0 9 * * 1-5"), "{listed}");
    let input = if first["input_data"].is_null() { &first["inputData"] } else { &first["input_data"] };
    assert_eq!(input, &json!({"dataset": "daily"}), "{listed}");

    // The /v1 route answers with the bare schedule.
    let (status, bare) = rest(&server, "POST", &format!("/v1/workflows/{workflow}/schedules"), None, Some(&body)).await;
    assert_eq!(status, 201, "{bare}");
    assert!(bare["id"].as_str().is_some_and(|id| id.starts_with("sched_")), "{bare}");
    assert!(bare["nextRunAt"].is_string(), "{bare}");

    let (status, deleted) = rest(&server, "DELETE", &format!("/api/workflows/schedules/{id}"), None, None).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["success"], true, "{deleted}");
    let (status, gone) = rest(&server, "DELETE", &format!("/api/workflows/schedules/{id}"), None, None).await;
    assert_eq!(status, 404, "{gone}");
    assert!(gone["error"].is_string(), "{gone}");

    // A bad expression is a 400 naming the field and croner's problem.
    let body = json!({"cron_expression": "0 25 * * *"});
    let (status, refused) =
        rest(&server, "POST", &format!("/api/workflows/{workflow}/schedules"), None, Some(&body)).await;
    assert_eq!(status, 400, "{refused}");
    let text = refused.to_string();
    assert!(text.contains("cron_expression") && text.contains("does not parse"), "{text}");
    server.stop().await;
}

#[tokio::test]
async fn after_downtime_catch_up_once_fires_one_run_for_the_window_and_none_fires_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = server_on(&database).await;
    let client = server.client().await;
    let workflow = weft_tests::workflows::create_json(&server, finishing_workflow("minutely")).await;
    let once = create(&client, &workflow, schedule("* * * * *")).await.unwrap();
    let mut asked = schedule("* * * * *");
    asked.catch_up = pb::ScheduleCatchUp::None.into();
    let none = create(&client, &workflow, asked).await.unwrap();
    server.stop().await;

    // The server was down for the last ten minutes: ten ticks missed.
    let missed_since = (now_ms() / 60_000 - 10) * 60_000;
    set_next_fire(&database, &once.id, missed_since).await;
    set_next_fire(&database, &none.id, missed_since).await;
    let restarted_at = now_ms();
    let server = server_on(&database).await;
    let client = server.client().await;
    eventually("the missed window fires once", 10, || async {
        let runs = runs_of(&client, "schedule", &once.id).await;
        if runs.is_empty() { Err("no run yet") } else { Ok(()) }
    })
    .await;
    // Time for a wrong second fire to show.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let mut runs = runs_of(&client, "schedule", &once.id).await;
    runs.sort_by_key(|run| ms(&run.scheduled_time));
    // The earliest run stands for the whole missed window. A real minute
    // boundary may pass while the test runs and fire anew, but only for a
    // tick after the restart, and never twice for one tick.
    let ticks: Vec<i64> = runs.iter().map(|run| ms(&run.scheduled_time)).collect();
    assert!(ticks[1..].iter().all(|&tick| tick > restarted_at), "the window fired more than once: {runs:?}");
    assert!(ticks.windows(2).all(|pair| pair[0] < pair[1]), "a tick fired twice: {runs:?}");
    let run = &runs[0];
    let tick = ticks[0];
    assert_eq!(tick % 60_000, 0);
    assert!(tick > missed_since && tick <= ms(&run.create_time), "the run stands for the latest missed tick");
    assert!(ms(&run.create_time) - tick < 60_000);
    let seen = get(&client, &once.id, 0).await.unwrap();
    assert!(ms(&seen.next_run_time) > now_ms() - 1_000, "it goes on after now");

    let skipped = runs_of(&client, "schedule", &none.id).await;
    assert!(
        skipped.iter().all(|run| ms(&run.scheduled_time) > restarted_at),
        "catch-up NONE fired the window: {skipped:?}"
    );
    let seen = get(&client, &none.id, 0).await.unwrap();
    assert!(ms(&seen.next_run_time) > now_ms() - 1_000);
    assert!(seen.last_run_time.is_some(), "the skipped window is recorded as its last fire time");
    server.stop().await;
}

#[tokio::test]
async fn a_restart_between_starting_a_ticks_run_and_moving_the_timer_does_not_fire_twice() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("weft.db");
    let server = server_on(&database).await;
    let client = server.client().await;
    let workflow = weft_tests::workflows::create_json(&server, waiting_workflow("yearly")).await;
    // ALLOW: the first run never ends, and still no second run may start.
    let mut asked = schedule("0 0 1 1 *");
    asked.overlap_policy = pb::ScheduleOverlapPolicy::Allow.into();
    let made = create(&client, &workflow, asked).await.unwrap();
    let yearly = ms(&made.next_run_time);
    server.stop().await;

    let tick = now_ms() - 500;
    set_next_fire(&database, &made.id, tick).await;
    let server = server_on(&database).await;
    let client = server.client().await;
    let first = eventually("the tick fires", 10, || async {
        let runs = runs_of(&client, "schedule", &made.id).await;
        if runs.len() == 1 { Ok(runs[0].clone()) } else { Err(runs.len()) }
    })
    .await;
    assert_eq!(ms(&first.scheduled_time), tick);
    eventually("the timer moves on", 10, || async {
        let seen = get(&client, &made.id, 0).await.unwrap();
        if ms(&seen.next_run_time) == yearly { Ok(()) } else { Err(seen.next_run_time) }
    })
    .await;
    server.stop().await;

    // As if the process had died after the run started and before the
    // timer moved: the row still names the fired tick.
    set_next_fire(&database, &made.id, tick).await;
    let server = server_on(&database).await;
    let client = server.client().await;
    eventually("the timer moves on again", 10, || async {
        let seen = get(&client, &made.id, 0).await.unwrap();
        if ms(&seen.next_run_time) == yearly { Ok(seen) } else { Err(seen.next_run_time) }
    })
    .await;
    let runs = runs_of(&client, "schedule", &made.id).await;
    assert_eq!(runs.iter().map(|run| run.id.as_str()).collect::<Vec<_>>(), [first.id.as_str()], "one run per tick");
    assert_eq!(get(&client, &made.id, 0).await.unwrap().last_run_id, first.id);
    server.stop().await;
}

#[tokio::test]
async fn every_rpc_refuses_bad_input_naming_the_field_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_on(&dir.path().join("weft.db")).await;
    let client = server.client().await;
    let workflow = weft_tests::workflows::create_json(&server, finishing_workflow("checked")).await;
    let kept = create(&client, &workflow, schedule("0 0 1 1 *")).await.unwrap();
    let before = snapshot(&server).await;

    let refused = |cron: &str, edit: fn(&mut pb::Schedule)| {
        let mut asked = schedule(cron);
        edit(&mut asked);
        let (client, workflow) = (client.clone(), workflow.clone());
        async move { create(&client, &workflow, asked).await.expect_err("refused") }
    };
    for (cron, edit, wanted) in [
        ("61 * * * *", (|_| {}) as fn(&mut pb::Schedule), "cron_expression"),
        ("* * * *", |_| {}, "cron_expression"),
        ("* * * * * * *", |_| {}, "cron_expression"),
        ("", |_| {}, "cron_expression"),
        ("0 0 30 2 *", |_| {}, "cron_expression"),
        ("* * * * *", |s| s.timezone = "Mars/Olympus".into(), "timezone"),
        ("* * * * *", |s| s.timezone = "x".repeat(65), "timezone"),
        ("* * * * *", |s| s.overlap_policy = 9, "overlap_policy"),
        ("* * * * *", |s| s.catch_up = 9, "catch_up"),
        ("* * * * *", |s| s.user_id = "u".repeat(257), "user_id"),
    ] {
        let status = refused(cron, edit).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{cron}: {status:?}");
        assert_eq!(field(&status), wanted, "{cron}: {status:?}");
    }
    let long = refused(&"* ".repeat(200), |_| {}).await;
    assert_eq!((long.code(), field(&long).as_str()), (Code::InvalidArgument, "cron_expression"));
    // The input is checked against the workflow's inputSchema, and bounded.
    let schema = refused("* * * * *", |s| {
        s.input_data = Some(weft_server::api::convert::value_to_pb(&json!({"n": "not a number"})))
    })
    .await;
    assert_eq!(schema.code(), Code::InvalidArgument, "{schema:?}");
    let big = refused("* * * * *", |s| {
        s.input_data = Some(weft_server::api::convert::value_to_pb(&json!({"n": 1, "pad": "x".repeat(300_000)})))
    })
    .await;
    assert_eq!((big.code(), field(&big).as_str()), (Code::InvalidArgument, "input_data"));
    let no_schedule = pb::CreateScheduleRequest { workflow_id: workflow.clone(), schedule: None };
    let status = client.schedules().create_schedule(no_schedule).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "schedule"));
    let unknown = create(&client, "wf_nope", schedule("* * * * *")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let pinned = refused("* * * * *", |s| s.version = 9).await;
    assert_eq!(pinned.code(), Code::NotFound, "{pinned:?}");

    // List.
    let list = |workflow_id: &str, token: &str| pb::ListSchedulesRequest {
        workflow_id: workflow_id.into(),
        page_size: 0,
        page_token: token.into(),
    };
    let status = client.schedules().list_schedules(list("", "")).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "workflow_id"));
    assert_eq!(client.schedules().list_schedules(list("wf_nope", "")).await.unwrap_err().code(), Code::NotFound);
    let status = client.schedules().list_schedules(list(&workflow, "garbage")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // Get.
    let status = get(&client, &kept.id, 101).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "next_fire_count"));
    let status = get(&client, "", 0).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "schedule_id"));
    assert_eq!(get(&client, "sched_nope", 0).await.unwrap_err().code(), Code::NotFound);
    let status = get(&client, &"s".repeat(200), 0).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // Update.
    let update = |s: pb::Schedule, paths: &[&str]| pb::UpdateScheduleRequest {
        schedule: Some(s),
        update_mask: Some(prost_types::FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() }),
    };
    let bad_cron = pb::Schedule { id: kept.id.clone(), cron_expression: "nope".into(), ..Default::default() };
    let status = client.schedules().update_schedule(update(bad_cron, &["cron_expression"])).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "cron_expression"));
    let bad_path = pb::Schedule { id: kept.id.clone(), ..Default::default() };
    let status = client.schedules().update_schedule(update(bad_path, &["colour"])).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "update_mask.paths[0]"));
    let no_id = pb::Schedule { cron_expression: "* * * * *".into(), ..Default::default() };
    let status = client.schedules().update_schedule(update(no_id, &[])).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "schedule.id"));
    let missing = pb::UpdateScheduleRequest { schedule: None, update_mask: None };
    let status = client.schedules().update_schedule(missing).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "schedule"));
    let unknown = pb::Schedule { id: "sched_nope".into(), cron_expression: "* * * * *".into(), ..Default::default() };
    let status = client.schedules().update_schedule(update(unknown, &["cron_expression"])).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // Delete, pause, resume.
    let status = client.schedules().delete_schedule(pb::DeleteScheduleRequest { schedule_id: String::new() }).await;
    assert_eq!(status.unwrap_err().code(), Code::InvalidArgument);
    let status = client.schedules().delete_schedule(pb::DeleteScheduleRequest { schedule_id: "sched_x".into() }).await;
    assert_eq!(status.unwrap_err().code(), Code::NotFound);
    let status = client.schedules().pause_schedule(pb::PauseScheduleRequest { schedule_id: String::new() }).await;
    assert_eq!(status.unwrap_err().code(), Code::InvalidArgument);
    let status = client.schedules().pause_schedule(pb::PauseScheduleRequest { schedule_id: "sched_x".into() }).await;
    assert_eq!(status.unwrap_err().code(), Code::NotFound);
    let status = client.schedules().resume_schedule(pb::ResumeScheduleRequest { schedule_id: String::new() }).await;
    assert_eq!(status.unwrap_err().code(), Code::InvalidArgument);
    let status = client.schedules().resume_schedule(pb::ResumeScheduleRequest { schedule_id: "sched_x".into() }).await;
    assert_eq!(status.unwrap_err().code(), Code::NotFound);

    // ListRuns' new filters are bounded too.
    let runs = pb::ListRunsRequest { trigger: "t".repeat(65), ..Default::default() };
    let status = client.runs().list_runs(runs).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "trigger"));
    let runs = pb::ListRunsRequest { schedule_id: "s".repeat(129), ..Default::default() };
    let status = client.runs().list_runs(runs).await.unwrap_err();
    assert_eq!((status.code(), field(&status).as_str()), (Code::InvalidArgument, "schedule_id"));

    // REST: the same refusals are 400s naming the field.
    let body = json!({"cron_expression": "* * * * *", "timezone": "Nowhere/City"});
    let (status, answer) =
        rest(&server, "POST", &format!("/v1/workflows/{workflow}/schedules"), None, Some(&body)).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.to_string().contains("timezone"), "{answer}");
    let (status, answer) =
        rest(&server, "GET", &format!("/v1/schedules/{}?nextFireCount=500", kept.id), None, None).await;
    assert_eq!(status, 400, "{answer}");

    assert_eq!(snapshot(&server).await, before, "a refused call changed the store");
    server.stop().await;
}

#[tokio::test]
async fn the_schedule_limit_per_workflow_refuses_one_more() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.schedules.max_per_workflow = 2;
    let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
    let client = server.client().await;
    let workflow = weft_tests::workflows::create_json(&server, finishing_workflow("limited")).await;
    for _ in 0..2 {
        create(&client, &workflow, schedule("0 0 1 1 *")).await.unwrap();
    }
    let before = snapshot(&server).await;
    let status = create(&client, &workflow, schedule("0 0 1 1 *")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("max_per_workflow"), "{}", status.message());
    let body = json!({"cron_expression": "0 0 1 1 *"});
    let (status, answer) =
        rest(&server, "POST", &format!("/api/workflows/{workflow}/schedules"), None, Some(&body)).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(snapshot(&server).await, before);
    // Pages of one, oldest first.
    let page =
        |token: String| pb::ListSchedulesRequest { workflow_id: workflow.clone(), page_size: 1, page_token: token };
    let first = client.schedules().list_schedules(page(String::new())).await.unwrap().into_inner();
    assert_eq!(first.schedules.len(), 1);
    let second = client.schedules().list_schedules(page(first.next_page_token)).await.unwrap().into_inner();
    assert_eq!(second.schedules.len(), 1);
    assert_ne!(first.schedules[0].id, second.schedules[0].id);
    assert!(second.next_page_token.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn overlap_skip_starts_nothing_while_a_run_is_unfinished_and_buffer_one_starts_one_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_on(&dir.path().join("weft.db")).await;
    let client = server.client().await;
    // Runs wait for a worker that never comes, until cancelled.
    let workflow = weft_tests::workflows::create_json(&server, waiting_workflow("long")).await;
    let skip = create(&client, &workflow, schedule("* * * * * *")).await.unwrap();
    let mut asked = schedule("* * * * * *");
    asked.overlap_policy = pb::ScheduleOverlapPolicy::BufferOne.into();
    let buffer = create(&client, &workflow, asked).await.unwrap();

    let first_of = |id: String| {
        let client = client.clone();
        async move {
            eventually("the first tick starts a run", 10, || async {
                let runs = runs_of(&client, "schedule", &id).await;
                if runs.is_empty() { Err("none yet") } else { Ok(runs[0].clone()) }
            })
            .await
        }
    };
    let skip_first = first_of(skip.id.clone()).await;
    let buffer_first = first_of(buffer.id.clone()).await;
    // Several ticks pass while both first runs wait.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(runs_of(&client, "schedule", &skip.id).await.len(), 1, "SKIP starts nothing over a live run");
    assert_eq!(runs_of(&client, "schedule", &buffer.id).await.len(), 1, "BUFFER_ONE holds its tick back");
    let seen = get(&client, &skip.id, 0).await.unwrap();
    assert!(ms(&seen.last_run_time) > ms(&skip_first.scheduled_time), "skipped ticks are recorded as fired");
    assert_eq!(seen.last_run_id, skip_first.id);

    // The live run ends: the buffered tick starts (one, not one per tick
    // that passed), and stands for a tick from while it waited.
    let cancel = pb::CancelRunRequest { run_id: buffer_first.id.clone(), reason: String::new() };
    client.runs().cancel_run(cancel).await.unwrap();
    let second = eventually("the buffered tick starts", 10, || async {
        let runs = runs_of(&client, "schedule", &buffer.id).await;
        if runs.len() >= 2 { Ok(runs) } else { Err(runs.len()) }
    })
    .await;
    assert_eq!(second.len(), 2, "one buffered tick: {second:?}");
    let ticks: Vec<i64> = second.iter().map(|run| ms(&run.scheduled_time)).collect();
    assert!(ticks.iter().any(|tick| *tick > ms(&buffer_first.scheduled_time)), "{ticks:?}");
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(runs_of(&client, "schedule", &buffer.id).await.len(), 2, "the second run is live: ticks wait again");
    server.stop().await;
}
