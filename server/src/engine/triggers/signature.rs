//! How an inbound webhook call proves it knows the webhook's secret: the
//! secret itself in `X-Weft-Webhook-Secret`, or an HMAC-SHA256 signature
//! with it over `<unix seconds>.<raw body>`, hex, in `X-Weft-Signature:
//! sha256=<hex>` with the seconds in `X-Weft-Timestamp`, at most five
//! minutes from the server's clock. Both compare in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The secret header.
pub const SECRET_HEADER: &str = "x-weft-webhook-secret";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-weft-signature";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-weft-timestamp";
/// Largest distance of a signature's timestamp from now, seconds.
pub const MAX_SKEW_SECS: i64 = 300;
/// Longest secret or signature header value read, bytes.
pub const MAX_HEADER_BYTES: usize = 512;

/// What a call presents.
#[derive(Debug, Clone, Copy, Default)]
pub struct Presented<'a> {
    /// `X-Weft-Webhook-Secret`.
    pub secret: Option<&'a str>,
    /// `X-Weft-Signature`.
    pub signature: Option<&'a str>,
    /// `X-Weft-Timestamp`, Unix seconds.
    pub timestamp: Option<i64>,
}

/// Why a call is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFault {
    /// Neither a secret nor a signature.
    #[error(
        "the call carries no credentials: send the webhook secret in X-Weft-Webhook-Secret, or sign the body \
         (X-Weft-Signature: sha256=<hex of HMAC-SHA256 over '<timestamp>.<body>'> with X-Weft-Timestamp)"
    )]
    Missing,
    /// A wrong secret.
    #[error("the webhook secret is wrong")]
    WrongSecret,
    /// A signature without its timestamp, or not `sha256=<hex>`.
    #[error("{0}")]
    Malformed(&'static str),
    /// A signature that does not verify.
    #[error("the signature does not match the body and timestamp")]
    WrongSignature,
    /// A timestamp too far from now.
    #[error("the X-Weft-Timestamp is {0} s from the server's clock; at most 300 s is accepted")]
    Stale(i64),
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The signature of `body` at `unix_secs` with `secret`: `sha256=<hex>`.
pub fn sign(secret: &str, unix_secs: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks what a call presents against `secret`, the call's body being
/// `body`, at `now_secs`. A secret, when sent, is what is checked.
pub fn verify(secret: &str, presented: Presented<'_>, body: &[u8], now_secs: i64) -> Result<(), AuthFault> {
    if let Some(sent) = presented.secret.filter(|s| !s.is_empty()) {
        // Both sides hashed first, so the comparison takes the same time
        // whatever the lengths.
        let (sent, expected) = (Sha256::digest(sent.as_bytes()), Sha256::digest(secret.as_bytes()));
        return if constant_time_eq(&sent, &expected) { Ok(()) } else { Err(AuthFault::WrongSecret) };
    }
    let Some(signature) = presented.signature.filter(|s| !s.is_empty()) else {
        return Err(AuthFault::Missing);
    };
    let Some(timestamp) = presented.timestamp else {
        return Err(AuthFault::Malformed("a signed call needs X-Weft-Timestamp (Unix seconds)"));
    };
    let hex_part =
        signature.strip_prefix("sha256=").ok_or(AuthFault::Malformed("X-Weft-Signature must read sha256=<hex>"))?;
    let sent = hex::decode(hex_part).map_err(|_| AuthFault::Malformed("X-Weft-Signature must read sha256=<hex>"))?;
    let age = now_secs.saturating_sub(timestamp);
    if age.unsigned_abs() > MAX_SKEW_SECS.unsigned_abs() {
        return Err(AuthFault::Stale(age));
    }
    let expected = sign(secret, timestamp, body);
    let expected = hex::decode(&expected["sha256=".len()..]).expect("hex we wrote");
    if constant_time_eq(&sent, &expected) { Ok(()) } else { Err(AuthFault::WrongSignature) }
}

/// A fingerprint of a signed delivery (its timestamp and signature), so
/// that a repeat of the call that fired answers the same run.
pub fn delivery_fingerprint(presented: Presented<'_>) -> Option<String> {
    let signature = presented.signature.filter(|s| !s.is_empty() && presented.secret.is_none_or(str::is_empty))?;
    let timestamp = presented.timestamp?;
    Some(hex::encode(Sha256::digest(format!("{timestamp}.{signature}").as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    fn signed(t: i64, body: &[u8]) -> String {
        sign(SECRET, t, body)
    }

    #[test]
    fn a_signature_verifies_only_for_its_body_time_and_secret() {
        let body = br#"{"a":1}"#;
        let sig = signed(1000, body);
        fn call(signature: &str, t: i64) -> Presented<'_> {
            Presented { secret: None, signature: Some(signature), timestamp: Some(t) }
        }
        assert_eq!(verify(SECRET, call(&sig, 1000), body, 1010), Ok(()));
        assert_eq!(verify(SECRET, call(&sig, 1000), b"{}", 1010), Err(AuthFault::WrongSignature));
        assert_eq!(verify(SECRET, call(&sig, 1001), body, 1010), Err(AuthFault::WrongSignature));
        assert_eq!(verify("whsec_other", call(&sig, 1000), body, 1010), Err(AuthFault::WrongSignature));
        assert_eq!(verify(SECRET, call(&sig, 1000), body, 1400), Err(AuthFault::Stale(400)));
        assert!(matches!(verify(SECRET, call("abc", 1000), body, 1000), Err(AuthFault::Malformed(_))));
    }

    #[test]
    fn the_secret_header_is_compared_whole() {
        let call = |secret| Presented { secret: Some(secret), signature: None, timestamp: None };
        assert_eq!(verify(SECRET, call(SECRET), b"", 0), Ok(()));
        assert_eq!(verify(SECRET, call("whsec_tes"), b"", 0), Err(AuthFault::WrongSecret));
        assert_eq!(verify(SECRET, Presented::default(), b"", 0), Err(AuthFault::Missing));
    }
}
