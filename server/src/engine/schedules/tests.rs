//! The fire loop under a controlled clock: a real SQLite store and run
//! engine, the engine's clock set to just before each tick of a daily
//! schedule in America/New_York in 2027, so it is seen firing on time
//! across both daylight-saving changes without waiting for days.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;
use serde_json::json;
use tokio::sync::Notify;

use super::{ScheduleDraft, ScheduleFirer, Schedules};
use crate::config::ScheduleSettings;
use crate::engine::clock::{now_ms, set_shift_for_tests};
use crate::engine::workflows::WorkflowDraft;
use crate::engine::{RunEngine, WorkflowCatalog};
use crate::model::Definition;
use crate::store::schedules::Overlap;
use crate::store::{OpenStore, RunQuery};

const TENANT: &str = "default";

fn ny(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    chrono_tz::America::New_York.with_ymd_and_hms(y, m, d, h, min, 0).earliest().unwrap().timestamp_millis()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    chrono::Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().timestamp_millis()
}

/// Sets the engine's clock to `at` (ms since the epoch) and wakes the
/// fire loop, as a change would.
fn set_clock(at: i64, wake: &Notify) {
    set_shift_for_tests(0);
    set_shift_for_tests(at - now_ms());
    wake.notify_one();
}

/// The (tick, created) pairs of the runs `schedule` started, oldest first.
async fn fired(engine: &RunEngine, schedule: &str) -> Vec<(i64, i64)> {
    let query = RunQuery { schedule_id: Some(schedule.into()), limit: 100, ..RunQuery::default() };
    let page = engine.store().list_runs(TENANT, &query).await.unwrap();
    let mut runs: Vec<(i64, i64)> = page
        .runs
        .iter()
        .inspect(|run| assert_eq!(run.trigger, "schedule"))
        .map(|run| (run.scheduled_ms.expect("a scheduled run has its tick"), run.created_ms))
        .collect();
    runs.sort();
    runs
}

/// Moves the clock to 50 ms before each of `ticks` in turn and waits
/// (real time, a few seconds at most) for the schedule's run of it.
async fn fire_each(engine: &RunEngine, wake: &Notify, schedule: &str, ticks: &[i64]) -> Vec<(i64, i64)> {
    for (n, tick) in ticks.iter().enumerate() {
        set_clock(tick - 50, wake);
        for _ in 0..500 {
            if fired(engine, schedule).await.len() > n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    fired(engine, schedule).await
}

#[tokio::test]
async fn a_daily_new_york_schedule_fires_on_time_across_both_dst_changes() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let store = OpenStore::open(&url).await.unwrap().unwrap().shared();
    let catalog = WorkflowCatalog::new(store.clone());
    let definition: Definition = serde_json::from_value(json!({"name": "nightly", "steps": [
        {"id": "a", "type": "agent", "agent": "w", "task": "report"}
    ]}))
    .unwrap();
    let workflow = catalog.create(TENANT, WorkflowDraft { definition, ..WorkflowDraft::default() }).await.unwrap();
    let engine = RunEngine::open(store.clone(), catalog).await.unwrap();
    let wake = Arc::new(Notify::new());
    let schedules = Schedules::new(store.clone(), engine.clone(), ScheduleSettings::default(), wake.clone());

    set_clock(ny(2027, 3, 12, 12, 0), &wake);
    let firer = ScheduleFirer::start(store.clone(), engine.clone(), Duration::from_secs(2), wake.clone());
    // Runs wait on a worker that never comes: ALLOW lets each tick start.
    let draft = |_| ScheduleDraft {
        cron_expression: "30 2 * * *".into(),
        timezone: "America/New_York".into(),
        overlap: Overlap::Allow,
        ..ScheduleDraft::default()
    };
    let march = schedules.create(TENANT, &workflow.id, draft(())).await.unwrap();
    // 02:30 EST; on the 14th 02:30 does not exist: once, at 03:00 EDT
    // (07:00Z); then 02:30 EDT.
    let expected = [ny(2027, 3, 13, 2, 30), utc(2027, 3, 14, 7, 0), ny(2027, 3, 15, 2, 30)];
    let runs = fire_each(&engine, &wake, &march.id, &expected).await;
    let ticks: Vec<i64> = runs.iter().map(|(tick, _)| *tick).collect();
    assert_eq!(ticks, expected);
    for (tick, created) in &runs {
        assert!((0..1_000).contains(&(created - tick)), "tick {tick} fired {} ms late", created - tick);
    }
    schedules.delete(TENANT, &march.id).await.unwrap();

    set_clock(ny(2027, 11, 5, 12, 0), &wake);
    let november = schedules.create(TENANT, &workflow.id, draft(())).await.unwrap();
    // 02:30 EDT; on the 7th the 01:00-02:00 hour repeats and 02:30 EST
    // (07:30Z) comes once; then 02:30 EST.
    let expected = [ny(2027, 11, 6, 2, 30), utc(2027, 11, 7, 7, 30), ny(2027, 11, 8, 2, 30)];
    let runs = fire_each(&engine, &wake, &november.id, &expected).await;
    let ticks: Vec<i64> = runs.iter().map(|(tick, _)| *tick).collect();
    assert_eq!(ticks, expected);
    for (tick, created) in &runs {
        assert!((0..1_000).contains(&(created - tick)), "tick {tick} fired {} ms late", created - tick);
    }
    // Between the first and the last, nothing else fired: the repeated
    // hour gave no second run.
    set_clock(ny(2027, 11, 8, 12, 0), &wake);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fired(&engine, &november.id).await.len(), 3);

    firer.shutdown().await;
    engine.shutdown().await;
    set_shift_for_tests(0);
}
