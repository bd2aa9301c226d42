//! Callbacks to webhooks that wait for one (`POST /v1/callbacks/{token}`).
//! Three checks, each refusing with nothing changed: the token must carry
//! this server's signature (else it is unknown); the request must carry a
//! callback signature by the shared secret over this token, its timestamp
//! and its body (`Weft-Signature`, or `X-Weft-Signature` with
//! `X-Weft-Timestamp`; see `outbound::signing`), at most five minutes old,
//! so neither a delivery's own signature nor a callback signed for another
//! token passes; and the token's lease must still be live. The last makes a
//! token single-use: the callback completes the task, so the same token a
//! second time finds the task done; a token of an attempt that timed out
//! or was retried names a lease that is gone.

use super::TaskQueue;
use crate::engine::EngineError;
use crate::engine::scheduler::now_ms;
use crate::engine::tasks::{MAX_OUTPUT_BYTES, TaskOutput};
use crate::model::json_limits;
use crate::outbound::{Secret, SignatureError};

/// Why a callback was refused.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// Not a token this server signed.
    #[error("unknown callback token (it was not issued by this server, or was altered)")]
    UnknownToken,
    /// The signature is missing, wrong (another token, body or
    /// direction) or too old.
    #[error("{0}; the callback was refused")]
    Signature(SignatureError),
    /// The body is not JSON.
    #[error("the callback body is not JSON: {0}")]
    NotJson(String),
    /// The body is JSON Weft will not keep (nested too deep, or an integer
    /// beyond ±2^53); the step failed saying so.
    #[error("the callback body was refused: {0}")]
    Refused(String),
    /// The body is over the output cap.
    #[error("the callback body is {0} bytes; at most {MAX_OUTPUT_BYTES} are accepted")]
    TooLarge(usize),
    /// The token was used, or its attempt ended (timed out, retried, the
    /// run cancelled).
    #[error("this callback token was already used or its attempt has ended ({0}); nothing changed")]
    Spent(String),
    /// The engine could not take it now.
    #[error(transparent)]
    Engine(EngineError),
}

/// One callback request, as received.
#[derive(Debug, Clone, Copy)]
pub struct Callback<'a> {
    /// The token from the URL.
    pub token: &'a str,
    /// `Weft-Signature`.
    pub signature: Option<&'a str>,
    /// `X-Weft-Signature`.
    pub x_signature: Option<&'a str>,
    /// `X-Weft-Timestamp`.
    pub x_timestamp: Option<&'a str>,
    /// The raw body.
    pub body: &'a [u8],
}

/// Takes callbacks; cheap to clone.
#[derive(Clone)]
pub struct CallbackReceiver {
    tasks: TaskQueue,
    secret: Secret,
}

impl CallbackReceiver {
    /// A receiver completing tasks of `tasks`, checking with `secret`.
    pub fn new(tasks: TaskQueue, secret: Secret) -> Self {
        Self { tasks, secret }
    }

    /// Checks a callback and completes the waiting step with its JSON body
    /// (an empty body is null). Answers the run id and step key.
    pub async fn deliver(&self, callback: Callback<'_>) -> Result<(String, String), CallbackError> {
        let Callback { token, signature, x_signature, x_timestamp, body } = callback;
        // The tenant comes from the (signed) token: a callback carries no key.
        let target = self.secret.open_callback_token(token).ok_or(CallbackError::UnknownToken)?;
        let (tenant, task_id, lease) = (target.tenant.as_str(), target.task_id.as_str(), target.lease_token);
        let now = now_ms() / 1000;
        self.secret
            .verify_callback(token, signature, x_signature, x_timestamp, body, now)
            .map_err(CallbackError::Signature)?;
        if body.len() > MAX_OUTPUT_BYTES {
            return Err(CallbackError::TooLarge(body.len()));
        }
        let output = if body.iter().all(u8::is_ascii_whitespace) {
            TaskOutput::Json(serde_json::Value::Null)
        } else {
            // Too deep, or an integer that would change: the step fails
            // (OUTPUT_TOO_DEEP, OUTPUT_NUMBER_TOO_LARGE) and the body is not kept.
            match json_limits::parse_network(body, "output") {
                Ok(Some(value)) => TaskOutput::Json(value),
                Ok(None) => {
                    let err = serde_json::from_slice::<serde_json::Value>(body).err();
                    return Err(CallbackError::NotJson(err.map(|e| e.to_string()).unwrap_or_default()));
                }
                Err(fault) => TaskOutput::Refused(fault),
            }
        };
        let row = self.tasks.task_row(tenant, task_id).await.map_err(CallbackError::Engine)?;
        let Some(row) = row else { return Err(CallbackError::UnknownToken) };
        match self.tasks.complete(tenant, task_id, lease, output, 0).await {
            Ok(()) => Ok((row.run_id, row.step_key)),
            Err(EngineError::InvalidArgument { message, .. }) => Err(CallbackError::Refused(message)),
            Err(err @ (EngineError::StaleLease(_) | EngineError::FailedPrecondition { .. })) => {
                Err(CallbackError::Spent(err.to_string()))
            }
            Err(EngineError::NotFound { .. }) => Err(CallbackError::UnknownToken),
            Err(err) => Err(CallbackError::Engine(err)),
        }
    }
}
