//! Webhook steps: POST (or the step's method) the step's input — its
//! resolved `inputMap` — as JSON, with a delivery signature
//! (`Weft-Signature`, and the same MAC as `X-Weft-Signature` +
//! `X-Weft-Timestamp`; a callback must be signed differently) and carrying an
//! `Idempotency-Key` that is the same on every attempt of the step.
//!
//! Without `waitForCallback` a 2xx completes the step (output
//! `{statusCode, body}`). With it, the request also carries
//! `Weft-Callback-Url`, whose single-use signed token names this attempt's
//! lease; after a 2xx the lease is held until the step's timeout (default
//! from config) and the step completes when the callback arrives
//! (`callback.rs`), its JSON body as the output. If none arrives in time
//! the attempt fails (retryable, so the step's retries re-send it). The
//! lease is held before the request leaves, as long as the request and the
//! callback together may take, so after a stop or crash at any point the
//! stored lease outlasts the callback deadline; after a restart it expires
//! then, and the attempt is retried or failed as an expired lease.
//!
//! A non-2xx answer fails the attempt: retryable for 408, 429 and 5xx, not
//! for other codes (the receiver refused this body; sending it again will
//! not help).

use std::time::Duration;

use serde_json::json;

use super::{Finish, Job, json_or_text, report, whole_numbers};
use crate::engine::TaskQueue;
use crate::engine::scheduler::now_ms;
use crate::outbound::{
    OutboundError, OutboundRequest, OutboundResponse, SIGNATURE_HEADER, X_SIGNATURE_HEADER, X_TIMESTAMP_HEADER,
};

/// The header naming the callback URL.
pub const CALLBACK_HEADER: &str = "weft-callback-url";
/// Headers the step may not set: Weft's own.
const RESERVED_HEADERS: [&str; 8] = [
    SIGNATURE_HEADER,
    X_SIGNATURE_HEADER,
    X_TIMESTAMP_HEADER,
    "idempotency-key",
    CALLBACK_HEADER,
    "weft-run-id",
    "weft-step-id",
    "weft-attempt",
];
/// How long a held lease outlives the callback deadline, so the executor's
/// own timeout (with its clear message) fires first.
const HOLD_GRACE_MS: i64 = 5_000;

pub(super) async fn run(job: &Job) -> Finish {
    let spec = &job.spec;
    let leased = &job.leased;
    let method = if spec.method.is_empty() { "POST".to_owned() } else { spec.method.clone() };
    let body = match method.as_str() {
        "GET" | "HEAD" => Vec::new(),
        _ => serde_json::to_vec(&whole_numbers(leased.input.clone())).unwrap_or_default(),
    };
    let now_secs = now_ms() / 1000;
    let reserved = |name: &str| RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str());
    let mut headers = match super::headers::resolve(job, |name| !reserved(name)).await {
        Ok(headers) => headers,
        Err(finish) => return finish,
    };
    if !body.is_empty() && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
        headers.push(("content-type".into(), "application/json".into()));
    }
    headers.push((SIGNATURE_HEADER.into(), job.settings.secret.sign_delivery(now_secs, &body)));
    let (x_signature, x_timestamp) = job.settings.secret.sign_delivery_x(now_secs, &body);
    headers.push((X_SIGNATURE_HEADER.into(), x_signature));
    headers.push((X_TIMESTAMP_HEADER.into(), x_timestamp));
    headers.push(("idempotency-key".into(), job.idempotency_key()));
    headers.push(("weft-run-id".into(), leased.run_id.clone()));
    headers.push(("weft-step-id".into(), leased.step_key.clone()));
    headers.push(("weft-attempt".into(), leased.attempt.to_string()));
    if spec.wait_for_callback {
        let token = job.settings.secret.callback_token(&leased.tenant_id, &leased.task_id, leased.lease_token);
        headers.push((CALLBACK_HEADER.into(), format!("{}/v1/callbacks/{token}", job.settings.public_url)));
    }
    // A webhook's timeout is its callback's when it waits for one, else
    // the request's.
    let timeout = if spec.wait_for_callback { None } else { spec.timeout_ms.map(Duration::from_millis) };
    let request = OutboundRequest { method, url: spec.url.clone(), headers, body: Some(body), timeout };
    let response = match send(job, request).await {
        Ok(response) => response,
        Err(finish) => return finish,
    };
    let status = response.status;
    if !(200..300).contains(&status) {
        let retryable = response.is_transient_refusal();
        let error = format!("the webhook receiver answered HTTP {status}{}", response.snippet());
        return Finish::Failed { error, retryable };
    }
    if spec.wait_for_callback {
        let deadline_ms = now_ms().saturating_add(millis(callback_timeout(job)));
        return Finish::AwaitCallback { deadline_ms };
    }
    match json_or_text(&response.body, "output.body") {
        Ok(body) => Finish::Done(json!({ "statusCode": status, "body": body })),
        Err(fault) => Finish::Refused(fault),
    }
}

/// How long a webhook waits for its callback: the step's timeout, else
/// the configured default.
fn callback_timeout(job: &Job) -> Duration {
    job.spec.timeout_ms.map_or(job.settings.callback_timeout, Duration::from_millis)
}

fn millis(duration: Duration) -> i64 {
    duration.as_millis().min(i64::MAX as u128) as i64
}

/// Before a webhook that waits for its callback sends: holds the lease
/// until the latest its callback deadline can fall (the whole request
/// timeout, then the callback timeout, then the grace). The receiver may
/// hold a callback token from the moment the request leaves, so a server
/// that stops or dies before it reads the answer must not leave the
/// shorter claim lease behind: after a restart the attempt would fail,
/// and be sent again, while its callback was still due. The lease is
/// moved back to the real deadline once the answer is read. False when
/// the lease is no longer live.
pub(super) async fn hold_through_send(tasks: &TaskQueue, job: &Job) -> bool {
    let longest = job.settings.client.limits().timeout + callback_timeout(job);
    let until = now_ms().saturating_add(millis(longest)).saturating_add(HOLD_GRACE_MS);
    let (tenant, task_id, token) = (job.leased.tenant_id.as_str(), job.leased.task_id.as_str(), job.leased.lease_token);
    matches!(tasks.hold_lease(tenant, task_id, token, until).await, Ok(true))
}

/// Holds the lease past `deadline_ms` and fails the attempt at that time
/// unless the callback (or a cancel) ended it first.
pub(super) async fn await_callback(tasks: &TaskQueue, job: &Job, deadline_ms: i64) {
    let (tenant, task_id, token) = (job.leased.tenant_id.as_str(), job.leased.task_id.as_str(), job.leased.lease_token);
    match tasks.hold_lease(tenant, task_id, token, deadline_ms.saturating_add(HOLD_GRACE_MS)).await {
        Ok(true) => {}
        // The callback came before the answer did, or the run was cancelled.
        Ok(false) | Err(_) => return,
    }
    // Looks every few seconds whether the callback came, so this task does
    // not linger until the deadline.
    loop {
        let left = deadline_ms - now_ms();
        if left <= 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(left.clamp(1, 2_000) as u64)).await;
        if tasks.check_lease(tenant, task_id, token).await.is_err() {
            return;
        }
    }
    let error = format!("no callback arrived within {}", humantime::format_duration(callback_timeout(job)));
    report(tasks, tenant, task_id, token, Finish::Failed { error, retryable: true }).await;
}

/// Sends the attempt's request unless its run is cancelled first: the
/// answer, or the attempt's outcome when there is none.
pub(super) async fn send(job: &Job, request: OutboundRequest) -> Result<OutboundResponse, Finish> {
    let mut cancelled = job.cancelled.clone();
    tokio::select! {
        response = job.settings.client.send(request) => response.map_err(failed_request),
        _ = cancelled.wait_for(|c| *c) => Err(Finish::Abandoned),
    }
}

/// An attempt whose request got no answer: a refused address will be
/// refused again, so only transport trouble and timeouts are retryable.
fn failed_request(err: OutboundError) -> Finish {
    if let OutboundError::TooLarge { .. } = err {
        return Finish::TooLarge(err.to_string());
    }
    let retryable = err.is_transient();
    Finish::Failed { error: err.to_string(), retryable }
}
