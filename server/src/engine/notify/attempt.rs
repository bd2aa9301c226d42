//! One attempt of one delivery: POST the stored body to the
//! subscription's URL, signed as webhook steps sign their requests
//! (`outbound::signing`, the delivery construction) but with the
//! subscription's own secret, and decide what the answer means.
//!
//! - a 2xx delivers;
//! - 408, 429, 5xx, a timeout or a transport failure is retried after
//!   the backoff, until `max_attempts` is spent;
//! - any other answer (a 3xx the client did not follow, a 4xx) and an
//!   address the SSRF rules refuse fail at once: another attempt would
//!   meet the same answer.

use std::time::Duration;

use crate::config::NotifySettings;
use crate::engine::clock::now_ms;
use crate::outbound::{
    OutboundClient, OutboundError, OutboundRequest, SIGNATURE_HEADER, Secret, X_SIGNATURE_HEADER, X_TIMESTAMP_HEADER,
};
use crate::store::notifications::{AttemptRecord, ClaimedDelivery, DeliveryStatus};

/// The header naming the event type.
pub const EVENT_HEADER: &str = "weft-event";
/// The header naming the delivery (also sent as `Idempotency-Key`).
pub const DELIVERY_HEADER: &str = "weft-delivery-id";
/// The header naming the subscription.
pub const SUBSCRIPTION_HEADER: &str = "weft-subscription-id";
/// The header numbering the attempt, from 1.
pub const ATTEMPT_HEADER: &str = "weft-attempt";

/// How an attempt ended, before it is written down.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Delivered(u16),
    Retry { status: Option<u16>, error: String },
    GiveUp { status: Option<u16>, error: String },
}

/// Makes the attempt of `claimed` and says what to record.
pub async fn attempt(client: &OutboundClient, settings: &NotifySettings, claimed: &ClaimedDelivery) -> AttemptRecord {
    let delivery = &claimed.delivery;
    let attempt = delivery.attempts.saturating_add(1);
    let body = delivery.body.clone().into_bytes();
    let secret = Secret::new(&claimed.secret);
    let now_secs = now_ms() / 1000;
    let (x_signature, x_timestamp) = secret.sign_delivery_x(now_secs, &body);
    let headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        (SIGNATURE_HEADER.to_owned(), secret.sign_delivery(now_secs, &body)),
        (X_SIGNATURE_HEADER.to_owned(), x_signature),
        (X_TIMESTAMP_HEADER.to_owned(), x_timestamp),
        ("idempotency-key".to_owned(), delivery.id.clone()),
        (DELIVERY_HEADER.to_owned(), delivery.id.clone()),
        (EVENT_HEADER.to_owned(), delivery.event_type.clone()),
        (SUBSCRIPTION_HEADER.to_owned(), delivery.subscription_id.clone()),
        (ATTEMPT_HEADER.to_owned(), attempt.to_string()),
    ];
    let request = OutboundRequest {
        method: "POST".into(),
        url: claimed.url.clone(),
        headers,
        body: Some(body),
        timeout: Some(Duration::from_millis(settings.request_timeout_ms)),
    };
    let answer = judge(client.send(request).await);
    record(settings, attempt, answer, now_ms())
}

fn judge(sent: Result<crate::outbound::OutboundResponse, OutboundError>) -> Answer {
    match sent {
        Ok(response) if (200..300).contains(&response.status) => Answer::Delivered(response.status),
        Ok(response) => {
            let status = Some(response.status);
            let error = format!("the receiver answered HTTP {}{}", response.status, response.snippet());
            if response.is_transient_refusal() {
                Answer::Retry { status, error }
            } else {
                Answer::GiveUp { status, error }
            }
        }
        // A receiver answering more than the cap may answer less next time.
        Err(err) if err.is_transient() || matches!(err, OutboundError::TooLarge { .. }) => {
            Answer::Retry { status: None, error: err.to_string() }
        }
        Err(err) => Answer::GiveUp { status: None, error: err.to_string() },
    }
}

/// What to store after attempt number `attempt` was answered `answer`.
fn record(settings: &NotifySettings, attempt: u32, answer: Answer, now_ms: i64) -> AttemptRecord {
    let base = AttemptRecord {
        status: DeliveryStatus::Failed,
        attempts: attempt,
        status_code: None,
        error: None,
        next_attempt_ms: None,
        now_ms,
    };
    match answer {
        Answer::Delivered(status) => {
            AttemptRecord { status: DeliveryStatus::Delivered, status_code: Some(status), ..base }
        }
        Answer::Retry { status, error } if attempt < settings.max_attempts => {
            let wait = i64::try_from(settings.backoff(attempt).as_millis()).unwrap_or(i64::MAX);
            AttemptRecord {
                status: DeliveryStatus::Pending,
                status_code: status,
                error: Some(error),
                next_attempt_ms: Some(now_ms.saturating_add(wait)),
                ..base
            }
        }
        Answer::Retry { status, error } => AttemptRecord {
            status_code: status,
            error: Some(format!("{error} (gave up after {attempt} attempts)")),
            ..base
        },
        Answer::GiveUp { status, error } => AttemptRecord { status_code: status, error: Some(error), ..base },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> NotifySettings {
        NotifySettings { max_attempts: 3, initial_backoff_ms: 100, max_backoff_ms: 1_000, ..Default::default() }
    }

    #[test]
    fn a_retryable_answer_waits_the_backoff_until_the_attempts_run_out() {
        let retry = || Answer::Retry { status: Some(503), error: "busy".into() };
        let first = record(&settings(), 1, retry(), 10_000);
        assert_eq!((first.status, first.next_attempt_ms), (DeliveryStatus::Pending, Some(10_100)));
        let second = record(&settings(), 2, retry(), 20_000);
        assert_eq!(second.next_attempt_ms, Some(20_200));
        let last = record(&settings(), 3, retry(), 30_000);
        assert_eq!((last.status, last.next_attempt_ms), (DeliveryStatus::Failed, None));
        assert_eq!(last.error.as_deref(), Some("busy (gave up after 3 attempts)"));
        assert_eq!(last.status_code, Some(503));
    }

    #[test]
    fn a_2xx_delivers_and_a_4xx_gives_up_at_once() {
        let done = record(&settings(), 1, Answer::Delivered(204), 5);
        assert_eq!((done.status, done.status_code, done.error), (DeliveryStatus::Delivered, Some(204), None));
        let refused = record(&settings(), 1, Answer::GiveUp { status: Some(404), error: "gone".into() }, 5);
        assert_eq!((refused.status, refused.next_attempt_ms), (DeliveryStatus::Failed, None));
    }

    #[test]
    fn answers_are_judged_by_status_and_by_kind_of_failure() {
        let answered =
            |status| judge(Ok(crate::outbound::OutboundResponse { status, headers: vec![], body: b" no ".to_vec() }));
        assert_eq!(answered(200), Answer::Delivered(200));
        assert!(matches!(answered(429), Answer::Retry { status: Some(429), .. }));
        assert!(matches!(answered(500), Answer::Retry { .. }));
        assert_eq!(
            answered(410),
            Answer::GiveUp { status: Some(410), error: "the receiver answered HTTP 410: no".into() }
        );
        assert!(matches!(judge(Err(OutboundError::Invalid("x".into()))), Answer::GiveUp { status: None, .. }));
        let timeout = OutboundError::Timeout { url: "u".into(), after: "1s".into() };
        assert!(matches!(judge(Err(timeout)), Answer::Retry { status: None, .. }));
    }
}
