//! Reading runs in end-to-end tests: one run, its steps, its events, and
//! polling until it reaches a status. Every test file used to carry its own
//! copy of these.

use std::time::Duration;

use serde_json::Value;
use weft_sdk::{Weft, pb};

/// How often a wait polls GetRun.
const POLL: Duration = Duration::from_millis(20);

/// The run, which must exist.
pub async fn get_run(client: &Weft, run_id: &str) -> pb::Run {
    client.runs().get_run(pb::GetRunRequest { run_id: run_id.into() }).await.unwrap().into_inner().run.unwrap()
}

/// Polls until the run's status is one of `statuses`; fails the test after
/// `secs` seconds.
pub async fn wait_for(client: &Weft, run_id: &str, statuses: &[pb::RunStatus], secs: u64) -> pb::Run {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let run = get_run(client, run_id).await;
        if statuses.iter().any(|s| *s as i32 == run.status) {
            return run;
        }
        assert!(tokio::time::Instant::now() < deadline, "run {run_id} did not reach {statuses:?}: {run:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// Polls until the run leaves pending and running; fails the test after
/// `secs` seconds.
pub async fn wait_finished(client: &Weft, run_id: &str, secs: u64) -> pb::Run {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let run = get_run(client, run_id).await;
        if ![pb::RunStatus::Pending as i32, pb::RunStatus::Running as i32].contains(&run.status) {
            return run;
        }
        assert!(tokio::time::Instant::now() < deadline, "run {run_id} did not finish: {run:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// The first page of the run's events, oldest first.
pub async fn events(client: &Weft, run_id: &str) -> Vec<pb::RunEvent> {
    let request = pb::ListRunEventsRequest { run_id: run_id.into(), ..Default::default() };
    client.runs().list_run_events(request).await.unwrap().into_inner().events
}

/// The step result `id` of the run, which must be there.
pub fn step<'a>(run: &'a pb::Run, id: &str) -> &'a pb::StepRun {
    run.steps.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("no step {id} in {run:?}"))
}

/// A set `google.protobuf.Value` as JSON.
pub fn json_of(value: &Option<prost_types::Value>) -> Value {
    weft_server::api::convert_runs::value_from_pb(value.as_ref().expect("value set"))
}
