//! The inbound webhook call (`POST /hooks/{webhook_id}`, or FireWebhook
//! over gRPC): every check that can refuse comes before the one-call window
//! is claimed, each refusal has its own code, and none starts anything.
//!
//! Order: the id's form (400), the webhook (404), the secret or signature
//! (401), deployment (409 `WORKFLOW_NOT_DEPLOYED`), the body (400, 413)
//! and the workflow's input schema (422); then the claim: no open window is
//! 409 `WEBHOOK_NOT_ARMED`, or 410 `WEBHOOK_WINDOW_EXPIRED` when the last
//! window ran out unused. A repeat of the signed call that fired answers
//! that call's run (within 24 hours) and starts nothing.

use serde_json::Value;

use super::Triggers;
use super::credentials::WEBHOOK_ID_PREFIX;
use super::signature::{self, AuthFault, Presented};
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::engine::compile::trigger;
use crate::engine::runs::StartRun;
use crate::model::json_limits;
use crate::store::triggers::TriggerRecord;

/// Largest body of an inbound call, bytes (the callback body's bound).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest webhook id, characters.
pub const MAX_WEBHOOK_ID_CHARS: usize = 64;
/// How long a repeat of the signed call that fired answers its run.
const REPEAT_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// The trigger runs started here carry.
pub const WEBHOOK_TRIGGER: &str = "webhook";

/// The body of a call.
#[derive(Debug, Clone)]
pub enum InboundBody<'a> {
    /// The bytes as received (REST, or gRPC `raw_body`): parsed as JSON,
    /// and what a signature covers.
    Raw(&'a [u8]),
    /// An already decoded payload (gRPC `payload`, which no signature can
    /// cover: such calls must present the secret).
    Value(Value),
}

/// One inbound call.
#[derive(Debug, Clone)]
pub struct InboundCall<'a> {
    /// From the URL.
    pub webhook_id: &'a str,
    /// What it presents.
    pub presented: Presented<'a>,
    /// Its body.
    pub body: InboundBody<'a>,
}

/// Why a call started nothing.
#[derive(Debug, thiserror::Error)]
pub enum InboundRefusal {
    /// A malformed request field.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such webhook (never made, its workflow deleted, or the trigger
    /// block that had it gone).
    #[error("webhook '{0}' not found")]
    UnknownWebhook(String),
    /// Not authenticated.
    #[error("{0}")]
    Unauthenticated(AuthFault),
    /// The workflow is not deployed.
    #[error("the workflow of this webhook is not deployed")]
    NotDeployed,
    /// No open window: never armed, or already used.
    #[error("the webhook is not armed (it takes one call per arm: arm it again for the next)")]
    NotArmed,
    /// The window ran out unused.
    #[error("the webhook's armed window ended unused; arm it again")]
    WindowExpired,
    /// The body is over [`MAX_BODY_BYTES`].
    #[error("the body is {0} bytes; at most {MAX_BODY_BYTES} are accepted")]
    TooLarge(usize),
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// The engine refused the start (input schema, a limit) or failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl InboundRefusal {
    /// The UPPER_SNAKE code of the refusal (engine errors carry their own).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "INVALID_ARGUMENT",
            Self::UnknownWebhook(_) => "WEBHOOK_NOT_FOUND",
            Self::Unauthenticated(AuthFault::Missing) => "WEBHOOK_AUTH_REQUIRED",
            Self::Unauthenticated(AuthFault::WrongSecret) => "WEBHOOK_SECRET_INVALID",
            Self::Unauthenticated(AuthFault::Malformed(_) | AuthFault::WrongSignature) => "WEBHOOK_SIGNATURE_INVALID",
            Self::Unauthenticated(AuthFault::Stale(_)) => "WEBHOOK_TIMESTAMP_STALE",
            Self::NotDeployed => "WORKFLOW_NOT_DEPLOYED",
            Self::NotArmed => "WEBHOOK_NOT_ARMED",
            Self::WindowExpired => "WEBHOOK_WINDOW_EXPIRED",
            Self::TooLarge(_) => "BODY_TOO_LARGE",
            Self::NotJson(_) => "WEBHOOK_BODY_INVALID",
            Self::Engine(_) => "ENGINE",
        }
    }
}

fn check_webhook_id(id: &str) -> Result<(), InboundRefusal> {
    if id.is_empty() {
        return Err(InboundRefusal::Invalid {
            field: "webhook_id", message: "a webhook id (wh_…) is required".into()
        });
    }
    if id.chars().count() > MAX_WEBHOOK_ID_CHARS || id.chars().any(char::is_control) {
        let message = format!("a webhook id is at most {MAX_WEBHOOK_ID_CHARS} characters, without control characters");
        return Err(InboundRefusal::Invalid { field: "webhook_id", message });
    }
    Ok(())
}

/// The run input a body carries: JSON (null when empty), within the bounds
/// of every stored value.
fn input_of(body: &InboundBody<'_>) -> Result<Value, InboundRefusal> {
    match body {
        InboundBody::Raw(bytes) if bytes.len() > MAX_BODY_BYTES => Err(InboundRefusal::TooLarge(bytes.len())),
        InboundBody::Raw(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Value::Null),
        InboundBody::Raw(bytes) => match json_limits::parse_network(bytes, "body") {
            Ok(Some(value)) => Ok(value),
            Ok(None) => {
                let why = serde_json::from_slice::<Value>(bytes).err().map(|e| e.to_string()).unwrap_or_default();
                Err(InboundRefusal::NotJson(why))
            }
            Err(fault) => Err(InboundRefusal::Invalid {
                field: "body",
                message: format!("{} {}", fault.path(), fault.description()),
            }),
        },
        InboundBody::Value(value) => {
            json_limits::check_depth(value, "payload").map_err(|fault| InboundRefusal::Invalid {
                field: "payload",
                message: format!("{} {}", fault.path(), fault.description()),
            })?;
            Ok(value.clone())
        }
    }
}

impl Triggers {
    /// Takes one inbound call: answers the id of the run it started.
    pub async fn fire(&self, call: InboundCall<'_>) -> Result<String, InboundRefusal> {
        check_webhook_id(call.webhook_id)?;
        let unknown = || InboundRefusal::UnknownWebhook(call.webhook_id.to_owned());
        // Ids are made by the server; anything else names nothing.
        if !call.webhook_id.starts_with(WEBHOOK_ID_PREFIX) {
            return Err(unknown());
        }
        let row = self.store.find_webhook(call.webhook_id).await.map_err(EngineError::from)?.ok_or_else(unknown)?;
        let workflow = match self.catalog.get(&row.tenant_id, &row.workflow_id).await {
            Ok(workflow) => workflow,
            Err(EngineError::NotFound { .. }) => return Err(unknown()),
            Err(err) => return Err(err.into()),
        };
        // The latest version's trigger block is the truth when it holds a
        // pair (a version saved before triggers existed may not).
        let secret = match trigger::trigger_block(&workflow.definition).and_then(trigger::credentials) {
            Some(pair) if pair.webhook_id == call.webhook_id => pair.secret,
            Some(_) => return Err(unknown()),
            None => row.webhook_secret.clone(),
        };
        let signed: &[u8] = match &call.body {
            InboundBody::Raw(bytes) => bytes,
            InboundBody::Value(_) => b"",
        };
        if matches!(call.body, InboundBody::Value(_)) && call.presented.secret.is_none_or(str::is_empty) {
            // A signature covers bytes; a decoded payload has none to cover.
            let message = "a signed call sends the signed bytes as raw_body; a payload needs the secret".into();
            return Err(InboundRefusal::Invalid { field: "raw_body", message });
        }
        signature::verify(&secret, call.presented, signed, now_ms() / 1000).map_err(InboundRefusal::Unauthenticated)?;
        if !row.deployed {
            return Err(InboundRefusal::NotDeployed);
        }
        let delivery = signature::delivery_fingerprint(call.presented);
        if let Some(run_id) = repeat_of(&row, delivery.as_deref()) {
            return Ok(run_id);
        }
        let input = input_of(&call.body)?;
        self.runs.check_start(&row.tenant_id, &workflow, &input).await?;

        let now = now_ms();
        let Some(window) = self.store.claim_window(call.webhook_id, now).await.map_err(EngineError::from)? else {
            return Err(self.why_unclaimed(&row, now).await);
        };
        let start = StartRun {
            workflow_id: workflow.id.clone(),
            version: None,
            input,
            shared_state: Value::Null,
            user_id: String::new(),
            trigger: WEBHOOK_TRIGGER.into(),
            // One run per arm, whatever happens between claim and start.
            idempotency_key: format!("webhook:{}:{}", call.webhook_id, window.arm_sequence),
            ..StartRun::default()
        };
        let run_id = match self.runs.start_run_id(&row.tenant_id, start).await {
            Ok(run_id) => run_id,
            Err(err) => {
                // Nothing started: the caller may try again in the window.
                if let Err(store) = self.store.release_window(call.webhook_id, window).await {
                    tracing::warn!(error = %store, webhook = call.webhook_id, "a claimed window was not given back");
                }
                return Err(err.into());
            }
        };
        // The run started whatever happens here, so the caller hears so;
        // only the status's last fire (and a repeat's answer) would lag.
        if let Err(err) = self.store.record_webhook_fire(call.webhook_id, &run_id, now_ms(), delivery.as_deref()).await
        {
            tracing::warn!(error = %err, webhook = call.webhook_id, run = %run_id, "the fire was not recorded");
        }
        Ok(run_id)
    }

    /// Why the claim found no open window.
    async fn why_unclaimed(&self, before: &TriggerRecord, now: i64) -> InboundRefusal {
        let row = match self.store.find_webhook(&before.webhook_id).await {
            Ok(Some(row)) => row,
            Ok(None) => return InboundRefusal::UnknownWebhook(before.webhook_id.clone()),
            Err(err) => return InboundRefusal::Engine(err.into()),
        };
        match row.armed_until_ms {
            _ if !row.deployed => InboundRefusal::NotDeployed,
            Some(until) if until <= now => InboundRefusal::WindowExpired,
            _ => InboundRefusal::NotArmed,
        }
    }
}

/// The run of the signed call that fired last, when this call repeats it.
fn repeat_of(row: &TriggerRecord, delivery: Option<&str>) -> Option<String> {
    let (delivery, last) = (delivery?, row.last_delivery.as_deref()?);
    let recent = row.last_fired_ms.is_some_and(|at| now_ms() - at < REPEAT_WINDOW_MS);
    (delivery == last && recent).then(|| row.last_run_id.clone()).flatten()
}
