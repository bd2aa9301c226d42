//! Starting and reading runs in end-to-end tests: start, pause and resume
//! one run, read it with its steps and events, and poll until it reaches a
//! status. Every test file used to carry its own copy of these.

use serde_json::Value;
use weft_sdk::{Weft, pb};
use weft_server::api::convert::value_to_pb;

use crate::eventually;

/// A request to start a run of `workflow_id`'s current version with `input`.
pub fn start_request(workflow_id: &str, input: &Value) -> pb::StartRunRequest {
    pb::StartRunRequest { workflow_id: workflow_id.into(), input: Some(value_to_pb(input)), ..Default::default() }
}

/// Starts a run of `workflow_id` with `input`, which must be accepted.
pub async fn start(client: &Weft, workflow_id: &str, input: Value) -> pb::Run {
    let started = client.runs().start_run(start_request(workflow_id, &input)).await.expect("StartRun");
    started.into_inner().run.expect("the started run")
}

/// PauseRun: the paused run, or why not.
pub async fn pause(client: &Weft, run_id: &str, reason: &str) -> Result<pb::Run, tonic::Status> {
    let request = pb::PauseRunRequest { run_id: run_id.into(), reason: reason.into() };
    Ok(client.runs().pause_run(request).await?.into_inner().run.expect("the paused run"))
}

/// ResumeRun with `request`: the run that goes on, or why not.
pub async fn resume(client: &Weft, request: pb::ResumeRunRequest) -> Result<pb::Run, tonic::Status> {
    Ok(client.runs().resume_run(request).await?.into_inner().run.expect("the resumed run"))
}

/// The run, which must exist.
pub async fn get_run(client: &Weft, run_id: &str) -> pb::Run {
    client.runs().get_run(pb::GetRunRequest { run_id: run_id.into() }).await.unwrap().into_inner().run.unwrap()
}

/// Polls until the run's status is one of `statuses`; fails the test after
/// `secs` seconds.
pub async fn wait_for(client: &Weft, run_id: &str, statuses: &[pb::RunStatus], secs: u64) -> pb::Run {
    let what = format!("run {run_id} reaches {statuses:?}");
    eventually(&what, secs, || async move {
        let run = get_run(client, run_id).await;
        if statuses.iter().any(|s| *s as i32 == run.status) { Ok(run) } else { Err(run) }
    })
    .await
}

/// Polls until the run leaves queued, pending and running; fails the test after
/// `secs` seconds.
pub async fn wait_finished(client: &Weft, run_id: &str, secs: u64) -> pb::Run {
    let what = format!("run {run_id} finishes");
    eventually(&what, secs, || async move {
        let run = get_run(client, run_id).await;
        let open = [pb::RunStatus::Queued as i32, pb::RunStatus::Pending as i32, pb::RunStatus::Running as i32]
            .contains(&run.status);
        if open { Err(run) } else { Ok(run) }
    })
    .await
}

/// The first page of the run's events, oldest first.
pub async fn events(client: &Weft, run_id: &str) -> Vec<pb::RunEvent> {
    let request = pb::ListRunEventsRequest { run_id: run_id.into(), ..Default::default() };
    client.runs().list_run_events(request).await.unwrap().into_inner().events
}

/// "type stepId" (just "type" for a run event) of the run's first 1,000
/// events, in sequence order.
pub async fn trace(client: &Weft, run_id: &str) -> Vec<String> {
    let request = pb::ListRunEventsRequest { run_id: run_id.into(), page_size: 1000, ..Default::default() };
    let events = client.runs().list_run_events(request).await.unwrap().into_inner().events;
    events.iter().map(|e| format!("{} {}", e.r#type, e.step_id).trim_end().to_owned()).collect()
}

/// The step result `id` of the run, which must be there.
pub fn step<'a>(run: &'a pb::Run, id: &str) -> &'a pb::StepRun {
    run.steps.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("no step {id} in {run:?}"))
}

/// A set `google.protobuf.Value` as JSON.
pub fn json_of(value: &Option<prost_types::Value>) -> Value {
    weft_server::api::convert_runs::value_from_pb(value.as_ref().expect("value set"))
}
