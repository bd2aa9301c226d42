//! Deployable webhook triggers (004): deploying a workflow, arming its
//! webhook for exactly one call within a window, and the inbound call that
//! starts a run.
//!
//! # Where the credentials live
//!
//! A graph whose `webhook` block has no input (no incoming edge, no `url`)
//! has a trigger block; every save writes `webhook_id` and `webhook_secret`
//! on its config ([`credentials`]), readable through GET of the workflow,
//! and the block stays the truth: deploy and arm copy its pair to the
//! trigger row, and an inbound call is checked against the latest
//! version's block. A workflow without a trigger block may be deployed
//! too: its pair is then made on first deploy, kept in the trigger row,
//! and its secret shown once, in the deploy answer.
//!
//! # Exactly one call per arm
//!
//! The inbound call checks everything it can first (the webhook, the
//! secret or signature, deployment, the body and the input schema), so a
//! refused call leaves the window open. Only then does it claim the
//! window with one compare-and-set in the store, which one caller wins
//! even across replicas, and start the run with an idempotency key named
//! after the webhook and the arm: the claim and the start can never make
//! two runs. A start that fails after the claim gives the window back.
//!
//! # Layout
//!
//! - [`credentials`]: fresh ids and secrets, stamped on saves.
//! - [`service`]: deploy, undeploy, arm and status.
//! - [`inbound`]: the inbound call and its refusals.
//! - [`signature`]: the secret header and the HMAC signature.

pub mod credentials;
pub mod inbound;
pub mod service;
pub mod signature;

pub use credentials::{rotate_secret, stamp_credentials};
pub use inbound::{InboundBody, InboundCall, InboundRefusal};
pub use service::{TriggerState, Triggers};
