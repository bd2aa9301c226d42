//! Two replicas on one Postgres schema both run the schedule fire loop:
//! a per-second schedule fires for several seconds, and no tick ever has
//! more than one run, whichever replica fired it. Postgres-only; skipped
//! (with a message) outside CI when no database is given.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use weft_sdk::pb;
use weft_server::config::ScheduleSettings;
use weft_tests::replicas::{self, Replica};
use weft_tests::store::{fresh_schema_url, postgres_or_skip};

/// Starts a replica on `url` that polls for due schedules often.
async fn replica(url: &str) -> Replica {
    replicas::start(url, |config| {
        config.schedules = ScheduleSettings { poll_interval_ms: 100, ..ScheduleSettings::default() };
    })
    .await
}

#[tokio::test]
async fn two_replicas_never_fire_one_tick_twice() {
    let name = "two_replicas_never_fire_one_tick_twice";
    let Some(base) = postgres_or_skip(name).await else { return };
    let url = fresh_schema_url(&base).await;
    let a = replica(&url).await;
    let b = replica(&url).await;

    let workflow = pb::Workflow {
        name: "every second".into(),
        steps: vec![pb::Step {
            id: "a".into(),
            r#type: "agent".into(),
            agent: "nobody".into(),
            task: "wait".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let workflow = weft_tests::workflows::create_pb(&a.client, workflow).await;
    // ALLOW: every tick starts a run, so a doubled tick would show.
    let schedule = pb::Schedule {
        cron_expression: "* * * * * *".into(),
        overlap_policy: pb::ScheduleOverlapPolicy::Allow.into(),
        input_data: Some(weft_server::api::convert::value_to_pb(&json!({}))),
        ..Default::default()
    };
    let request = pb::CreateScheduleRequest { workflow_id: workflow.id.clone(), schedule: Some(schedule) };
    let made = b.client.schedules().create_schedule(request).await.unwrap().into_inner();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pause = pb::PauseScheduleRequest { schedule_id: made.schedule_id.clone() };
    a.client.schedules().pause_schedule(pause).await.unwrap();
    // Fires in flight when the pause landed have committed by now.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let list = pb::ListRunsRequest { schedule_id: made.schedule_id.clone(), page_size: 200, ..Default::default() };
    let runs = b.client.runs().list_runs(list).await.unwrap().into_inner().runs;
    let mut per_tick: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for run in &runs {
        let tick = run.scheduled_time.as_ref().expect("a tick").seconds;
        per_tick.entry(tick).or_default().push(run.id.clone());
    }
    assert!(per_tick.len() >= 3, "the schedule fired for several seconds: {per_tick:?}");
    let doubled: Vec<_> = per_tick.iter().filter(|(_, runs)| runs.len() > 1).collect();
    assert!(doubled.is_empty(), "ticks with more than one run: {doubled:?}");
    eprintln!("{} ticks fired, each once, across two replicas", per_tick.len());

    for replica in [a, b] {
        replica.stop().await;
    }
}
