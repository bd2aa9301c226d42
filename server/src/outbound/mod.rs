//! Talking to the outside world safely: the SSRF rules for outbound
//! addresses ([`address`]), the guarded HTTP client webhook and
//! http_request steps use ([`client`]), and HMAC signatures of webhooks,
//! callbacks and callback tokens ([`signing`]). Nothing here knows the
//! engine; the engine's built-in executors call it.

pub mod address;
pub mod client;
pub mod sealing;
pub mod signing;

pub use address::{AllowList, Refusal};
pub use client::{ClientLimits, OutboundClient, OutboundError, OutboundRequest, OutboundResponse};
pub use sealing::{SealError, SealingKey};
pub use signing::{CallbackTarget, SIGNATURE_HEADER, Secret, SignatureError, X_SIGNATURE_HEADER, X_TIMESTAMP_HEADER};
