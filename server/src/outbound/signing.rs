//! HMAC-SHA256 signatures over `"<unix seconds>.<body>"`, so a receiver
//! can check both who sent a body and how old it is. One MAC, written two
//! ways: Stripe/Svix style as `Weft-Signature: t=<unix>,v1=<hex>`, and as
//! the proto's TriggerService documents it, `X-Weft-Signature:
//! sha256=<hex>` with `X-Weft-Timestamp: <unix>`. Outbound webhooks carry
//! both; a callback may use either. The same code signs the callback
//! tokens that name a waiting step.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The signature header's name (`t=<unix>,v1=<hex>`).
pub const SIGNATURE_HEADER: &str = "weft-signature";
/// The proto's signature header (`sha256=<hex>`).
pub const X_SIGNATURE_HEADER: &str = "x-weft-signature";
/// The proto's timestamp header (Unix seconds).
pub const X_TIMESTAMP_HEADER: &str = "x-weft-timestamp";
/// How far a signed timestamp may lie from now, either way, in seconds.
pub const TOLERANCE_SECS: i64 = 5 * 60;

type HmacSha256 = Hmac<Sha256>;

/// The shared webhook secret; Debug never shows it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// A secret from its text (used as bytes, as receivers will).
    pub fn new(text: &str) -> Self {
        Self(text.as_bytes().to_vec())
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The header value signing `body` at `unix_secs`.
    pub fn sign(&self, unix_secs: i64, body: &[u8]) -> String {
        let t = unix_secs.to_string();
        format!("t={t},v1={}", hex::encode(self.mac(&[t.as_bytes(), b".", body])))
    }

    /// The same signature as the proto's headers: (`X-Weft-Signature`,
    /// `X-Weft-Timestamp`) values.
    pub fn sign_x(&self, unix_secs: i64, body: &[u8]) -> (String, String) {
        let t = unix_secs.to_string();
        (format!("sha256={}", hex::encode(self.mac(&[t.as_bytes(), b".", body]))), t)
    }

    /// Checks whichever signature a request carries: `Weft-Signature`, or
    /// else `X-Weft-Signature` with `X-Weft-Timestamp`.
    pub fn verify_either(
        &self,
        weft_signature: Option<&str>,
        x_signature: Option<&str>,
        x_timestamp: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), SignatureError> {
        match (weft_signature, x_signature) {
            (None, Some(x)) => {
                let hex = x.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
                let t = x_timestamp.ok_or(SignatureError::Malformed)?.trim();
                self.verify(Some(&format!("t={t},v1={hex}")), body, now_secs)
            }
            (header, _) => self.verify(header, body, now_secs),
        }
    }

    /// Checks a header value against `body` at `now_secs`: one of its `v1`
    /// signatures must match and its `t` must be within
    /// [`TOLERANCE_SECS`] of now.
    pub fn verify(&self, header: Option<&str>, body: &[u8], now_secs: i64) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing)?;
        let mut t = None;
        let mut signatures = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", value)) => t = value.parse::<i64>().ok(),
                Some(("v1", value)) => signatures.push(value),
                _ => {}
            }
        }
        let t = t.ok_or(SignatureError::Malformed)?;
        if signatures.is_empty() {
            return Err(SignatureError::Malformed);
        }
        let expected = self.mac(&[t.to_string().as_bytes(), b".", body]);
        let matches = signatures.iter().any(|s| hex::decode(s).is_ok_and(|s| constant_time_eq(&s, &expected)));
        if !matches {
            return Err(SignatureError::Mismatch);
        }
        if (now_secs - t).abs() > TOLERANCE_SECS {
            return Err(SignatureError::Expired { age_secs: now_secs - t });
        }
        Ok(())
    }

    /// A token naming one lease of one task, unforgeable without the
    /// secret: `<task id>.<lease token>.<signature>`.
    pub fn callback_token(&self, tenant: &str, task_id: &str, lease_token: u64) -> String {
        let sig = self.token_mac(tenant, task_id, lease_token);
        format!("{task_id}.{lease_token}.{sig}")
    }

    /// The (task id, lease token) a token names, if this secret signed it.
    pub fn open_callback_token(&self, tenant: &str, token: &str) -> Option<(String, u64)> {
        let mut parts = token.splitn(3, '.');
        let (task_id, lease, sig) = (parts.next()?, parts.next()?, parts.next()?);
        let lease: u64 = lease.parse().ok()?;
        let expected = self.token_mac(tenant, task_id, lease);
        constant_time_eq(sig.as_bytes(), expected.as_bytes()).then(|| (task_id.to_owned(), lease))
    }

    fn token_mac(&self, tenant: &str, task_id: &str, lease_token: u64) -> String {
        let lease = lease_token.to_string();
        let mac = self.mac(&[b"callback\0", tenant.as_bytes(), b"\0", task_id.as_bytes(), b"\0", lease.as_bytes()]);
        hex::encode(&mac[..16])
    }
}

/// Why a signature header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header.
    #[error("the Weft-Signature header (or X-Weft-Signature with X-Weft-Timestamp) is missing")]
    Missing,
    /// Not `t=<unix>,v1=<hex>`.
    #[error("the Weft-Signature header is malformed; expected t=<unix seconds>,v1=<hex HMAC-SHA256>")]
    Malformed,
    /// No signature matches the body.
    #[error("the Weft-Signature does not match the body")]
    Mismatch,
    /// Signed too long ago (or too far ahead).
    #[error("the Weft-Signature timestamp is {age_secs} s from now; at most 300 s is accepted")]
    Expired {
        /// Now minus the signed time, seconds.
        age_secs: i64,
    },
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_within_five_minutes_only() {
        let secret = Secret::new("s3cret");
        let header = secret.sign(1_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1000,v1="));
        assert_eq!(secret.verify(Some(&header), b"{\"a\":1}", 1_100), Ok(()));
        assert_eq!(secret.verify(Some(&header), b"{\"a\":2}", 1_100), Err(SignatureError::Mismatch));
        assert_eq!(secret.verify(Some(&header), b"{\"a\":1}", 1_301), Err(SignatureError::Expired { age_secs: 301 }));
        assert_eq!(Secret::new("other").verify(Some(&header), b"{\"a\":1}", 1_000), Err(SignatureError::Mismatch));
        assert_eq!(secret.verify(None, b"", 1_000), Err(SignatureError::Missing));
        assert_eq!(secret.verify(Some("v1=00"), b"", 1_000), Err(SignatureError::Malformed));
    }

    #[test]
    fn the_proto_header_form_carries_the_same_signature() {
        let secret = Secret::new("s3cret");
        let (x_sig, x_ts) = secret.sign_x(1_000, b"{}");
        assert_eq!(secret.sign(1_000, b"{}"), format!("t={x_ts},v1={}", x_sig.strip_prefix("sha256=").unwrap()));
        assert_eq!(secret.verify_either(None, Some(&x_sig), Some(&x_ts), b"{}", 1_010), Ok(()));
        assert_eq!(secret.verify_either(None, Some(&x_sig), Some("999"), b"{}", 1_010), Err(SignatureError::Mismatch));
        assert_eq!(secret.verify_either(None, Some(&x_sig), None, b"{}", 1_010), Err(SignatureError::Malformed));
        assert_eq!(secret.verify_either(None, None, None, b"{}", 1_010), Err(SignatureError::Missing));
    }

    #[test]
    fn a_known_vector_matches() {
        // HMAC-SHA256("key", "1.{}"), computed independently.
        let header = Secret::new("key").sign(1, b"{}");
        let expected = {
            let mut mac = HmacSha256::new_from_slice(b"key").unwrap();
            mac.update(b"1.{}");
            hex::encode(mac.finalize().into_bytes())
        };
        assert_eq!(header, format!("t=1,v1={expected}"));
    }

    #[test]
    fn callback_tokens_open_only_with_their_secret_and_tenant() {
        let secret = Secret::new("s");
        let token = secret.callback_token("default", "task_1", 7);
        assert_eq!(secret.open_callback_token("default", &token), Some(("task_1".into(), 7)));
        assert_eq!(secret.open_callback_token("other", &token), None);
        assert_eq!(Secret::new("t").open_callback_token("default", &token), None);
        let forged = token.replace(".7.", ".8.");
        assert_eq!(secret.open_callback_token("default", &forged), None);
    }
}
