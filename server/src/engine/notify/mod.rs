//! Notification webhooks: a tenant's subscriptions get the events of its
//! runs (`run.completed`, `run.failed`, `run.partial`, `approval.pending`,
//! `workflow.step.cost_exceeded`) POSTed to a URL, signed, retried with
//! backoff, and logged.
//!
//! # Why nothing is lost
//!
//! The outbox row of an event is written by the database itself, in the
//! transaction that writes the event's `run_events` row (a trigger,
//! migration 0014): the group commit that records a run's end, an opened
//! approval or a cost overrun records its notification too, and no code
//! path that writes events can forget it. The run writer is not touched,
//! so its multi-row statements and their measured throughput stay as
//! they are. The dispatcher then turns each outbox row into deliveries
//! and removes it in one transaction, and every attempt is recorded in
//! the store; a stop or a crash at any point leaves either the outbox row
//! or pending deliveries, which the next dispatcher round (on any
//! replica, after a restart too) picks up.
//!
//! # Layout
//!
//! - [`events`]: the notified events, their public names, the body.
//! - [`subscriptions`]: managing subscriptions and reading the log, with
//!   every bound checked.
//! - [`dispatcher`]: the background fan-out and send loop.
//! - [`attempt`]: one signed POST and what its answer means.

pub mod attempt;
pub mod dispatcher;
pub mod events;
pub mod subscriptions;

pub use dispatcher::NotificationDispatcher;
pub use events::NotifyEvent;
pub use subscriptions::{NewSubscription, Subscriptions};
