//! Playing the worker in end-to-end tests: register, poll, heartbeat and
//! complete over gRPC, with the request shapes most tests share. A test that
//! needs an unusual request builds it from the `*_request` function and
//! changes the field it cares about.

use serde_json::Value;
use weft_sdk::{Weft, pb};
use weft_server::api::convert::value_to_pb;

/// `cents` US cents.
pub fn usd(cents: i64) -> pb::Money {
    pb::Money { amount: cents, currency: "usd".into() }
}

/// Worker `worker_id` on host "test-host" serving `agents`, four at a time,
/// with no cost hints.
pub fn register_request(worker_id: &str, agents: &[&str]) -> pb::RegisterWorkerRequest {
    pb::RegisterWorkerRequest {
        worker_id: worker_id.into(),
        name: "test-host".into(),
        agents: agents.iter().map(|agent| (*agent).to_owned()).collect(),
        concurrency: 4,
        cost_hints: vec![],
    }
}

/// Registers worker `worker_id` for `agents` (see [`register_request`]);
/// the registration must be accepted.
pub async fn register(client: &Weft, worker_id: &str, agents: &[&str]) -> pb::RegisterWorkerResponse {
    register_with(client, register_request(worker_id, agents)).await
}

/// Sends `request`, which must be accepted.
pub async fn register_with(client: &Weft, request: pb::RegisterWorkerRequest) -> pb::RegisterWorkerResponse {
    client.workers().register_worker(request).await.expect("RegisterWorker").into_inner()
}

/// One poll by `worker_id` for any of its agents, waiting up to
/// `wait_seconds` for a task.
pub async fn poll(client: &Weft, worker_id: &str, wait_seconds: u32) -> Option<pb::Task> {
    let request = pb::PollTaskRequest { worker_id: worker_id.into(), agents: vec![], wait_seconds };
    client.workers().poll_task(request).await.expect("PollTask").into_inner().task
}

/// The task waiting for `worker_id`, which must come within 5 s.
pub async fn poll_one(client: &Weft, worker_id: &str) -> pb::Task {
    poll(client, worker_id, 5).await.expect("a task is waiting")
}

/// Completes `task` (under the lease it was handed out with) with `output`
/// and `cost`.
pub fn complete_request(task: &pb::Task, output: &Value, cost: Option<pb::Money>) -> pb::CompleteTaskRequest {
    pb::CompleteTaskRequest {
        task_id: task.task_id.clone(),
        lease_token: task.lease_token,
        output: Some(value_to_pb(output)),
        cost,
        state_writes: None,
    }
}

/// Completes `task` with `output` and no cost; the completion must be
/// recorded.
pub async fn complete(client: &Weft, task: &pb::Task, output: &Value) {
    client.workers().complete_task(complete_request(task, output, None)).await.expect("the completion is recorded");
}

/// A heartbeat for `task` under lease `token`, reporting `cost_so_far`.
pub fn heartbeat_request(task: &pb::Task, token: u64, cost_so_far: Option<pb::Money>) -> pb::HeartbeatRequest {
    pb::HeartbeatRequest { task_id: task.task_id.clone(), lease_token: token, cost_so_far }
}

/// A heartbeat for `task` under its own lease, reporting `cost_so_far`;
/// it must be answered.
pub async fn heartbeat(client: &Weft, task: &pb::Task, cost_so_far: Option<pb::Money>) -> pb::HeartbeatResponse {
    let request = heartbeat_request(task, task.lease_token, cost_so_far);
    client.workers().heartbeat(request).await.expect("Heartbeat").into_inner()
}
