//! HMAC-SHA256 signatures, one construction per direction so that a
//! signature made for one can never pass as the other:
//!
//! - a **delivery** (Weft to a receiver) signs
//!   `"weft-delivery.v1\n<unix seconds>\n<body>"`;
//! - a **callback** (a receiver answering `POST /v1/callbacks/<token>`)
//!   signs `"weft-callback.v1\n<token>\n<unix seconds>\n<body>"`.
//!
//! The label keeps a delivery's own signature from being posted back as
//! its callback (a receiver must hold the secret to answer), and the token
//! keeps a callback signed for one step from completing another. The
//! timestamp bounds replays to [`TOLERANCE_SECS`]. Each MAC is written two
//! ways: Stripe/Svix style as `Weft-Signature: t=<unix>,v1=<hex>`, and as
//! `X-Weft-Signature: sha256=<hex>` with `X-Weft-Timestamp: <unix>`.
//! Deliveries carry both; a callback may use either. The same secret also
//! signs the callback tokens that name a waiting step, under a third label.

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
/// What a delivery's MAC starts with.
const DELIVERY_LABEL: &[u8] = b"weft-delivery.v1\n";
/// What a callback's MAC starts with.
const CALLBACK_LABEL: &[u8] = b"weft-callback.v1\n";

type HmacSha256 = Hmac<Sha256>;

/// What a signature vouches for: the direction, and for a callback the
/// token it answers.
#[derive(Debug, Clone, Copy)]
enum Signed<'a> {
    /// A request Weft sends to a receiver.
    Delivery,
    /// A receiver's callback to the URL holding `token`.
    Callback { token: &'a str },
}

/// The shared webhook secret; Debug never shows it.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A parsed signature header: the signed time and every `v1` value.
struct Header<'h> {
    t: i64,
    signatures: Vec<&'h str>,
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

    /// The MAC of `body` signed at `t` for `what`.
    fn message_mac(&self, what: Signed<'_>, t: i64, body: &[u8]) -> [u8; 32] {
        let t = t.to_string();
        match what {
            Signed::Delivery => self.mac(&[DELIVERY_LABEL, t.as_bytes(), b"\n", body]),
            Signed::Callback { token } => {
                self.mac(&[CALLBACK_LABEL, token.as_bytes(), b"\n", t.as_bytes(), b"\n", body])
            }
        }
    }

    /// The `Weft-Signature` value of a delivery of `body` at `unix_secs`.
    pub fn sign_delivery(&self, unix_secs: i64, body: &[u8]) -> String {
        format!("t={unix_secs},v1={}", hex::encode(self.message_mac(Signed::Delivery, unix_secs, body)))
    }

    /// The same delivery signature as the proto's headers: (`X-Weft-Signature`,
    /// `X-Weft-Timestamp`) values.
    pub fn sign_delivery_x(&self, unix_secs: i64, body: &[u8]) -> (String, String) {
        let mac = self.message_mac(Signed::Delivery, unix_secs, body);
        (format!("sha256={}", hex::encode(mac)), unix_secs.to_string())
    }

    /// The `Weft-Signature` value of a callback of `body` to `token` at
    /// `unix_secs`, as a receiver makes it.
    pub fn sign_callback(&self, token: &str, unix_secs: i64, body: &[u8]) -> String {
        format!("t={unix_secs},v1={}", hex::encode(self.message_mac(Signed::Callback { token }, unix_secs, body)))
    }

    /// Checks a callback to `token`: whichever signature it carries
    /// (`Weft-Signature`, or else `X-Weft-Signature` with
    /// `X-Weft-Timestamp`) must be the callback MAC over this token, its
    /// timestamp and `body`, signed within [`TOLERANCE_SECS`] of now.
    pub fn verify_callback(
        &self,
        token: &str,
        weft_signature: Option<&str>,
        x_signature: Option<&str>,
        x_timestamp: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), SignatureError> {
        let header = match (weft_signature, x_signature) {
            (None, Some(x)) => {
                let hex = x.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
                let t = x_timestamp.ok_or(SignatureError::Malformed)?.trim();
                let t = t.parse::<i64>().map_err(|_| SignatureError::Malformed)?;
                Header { t, signatures: vec![hex] }
            }
            (header, _) => parse(header.ok_or(SignatureError::Missing)?)?,
        };
        let matches = |what| {
            let expected = self.message_mac(what, header.t, body);
            header.signatures.iter().any(|s| hex::decode(s).is_ok_and(|s| constant_time_eq(&s, &expected)))
        };
        if !matches(Signed::Callback { token }) {
            // Named, so a receiver echoing the delivery's headers learns why.
            return Err(if matches(Signed::Delivery) {
                SignatureError::DeliverySignature
            } else {
                SignatureError::Mismatch
            });
        }
        if (now_secs - header.t).abs() > TOLERANCE_SECS {
            return Err(SignatureError::Expired { age_secs: now_secs - header.t });
        }
        Ok(())
    }

    /// A token naming one lease of one task of one tenant, unforgeable
    /// without the secret: `<tenant>.<task id>.<lease token>.<signature>`.
    /// The tenant is in the token so the callback, which carries no key,
    /// completes the task in its own tenant; it is also under the MAC, so
    /// a token cannot be moved to another tenant. Tenant and task ids hold
    /// no dots.
    pub fn callback_token(&self, tenant: &str, task_id: &str, lease_token: u64) -> String {
        let sig = self.token_mac(tenant, task_id, lease_token);
        format!("{tenant}.{task_id}.{lease_token}.{sig}")
    }

    /// The (tenant, task id, lease token) a token names, if this secret
    /// signed it. A token of the older three-part form
    /// (`<task id>.<lease>.<sig>`) is not one.
    pub fn open_callback_token(&self, token: &str) -> Option<CallbackTarget> {
        let mut parts = token.split('.');
        let (tenant, task_id, lease, sig) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || tenant.is_empty() || task_id.is_empty() {
            return None;
        }
        let lease: u64 = lease.parse().ok()?;
        let expected = self.token_mac(tenant, task_id, lease);
        constant_time_eq(sig.as_bytes(), expected.as_bytes()).then(|| CallbackTarget {
            tenant: tenant.to_owned(),
            task_id: task_id.to_owned(),
            lease_token: lease,
        })
    }

    fn token_mac(&self, tenant: &str, task_id: &str, lease_token: u64) -> String {
        let lease = lease_token.to_string();
        let mac = self.mac(&[b"callback\0", tenant.as_bytes(), b"\0", task_id.as_bytes(), b"\0", lease.as_bytes()]);
        hex::encode(&mac[..16])
    }
}

/// What a callback token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTarget {
    /// The task's tenant.
    pub tenant: String,
    /// `task_…`.
    pub task_id: String,
    /// The lease the token was issued for.
    pub lease_token: u64,
}

/// Parses `t=<unix>,v1=<hex>[,v1=<hex>…]`.
fn parse(header: &str) -> Result<Header<'_>, SignatureError> {
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
    Ok(Header { t, signatures })
}

/// Why a callback's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header.
    #[error("the Weft-Signature header (or X-Weft-Signature with X-Weft-Timestamp) is missing")]
    Missing,
    /// Not `t=<unix>,v1=<hex>`.
    #[error("the Weft-Signature header is malformed; expected t=<unix seconds>,v1=<hex HMAC-SHA256>")]
    Malformed,
    /// No signature matches this token, timestamp and body.
    #[error(
        "the Weft-Signature does not match this callback; sign HMAC-SHA256(secret, \"weft-callback.v1\\n<token>\\n<t>\\n<body>\") with the token of this callback URL"
    )]
    Mismatch,
    /// The signature is a delivery's: a receiver echoed what it was sent.
    #[error(
        "the Weft-Signature is a delivery signature (weft-delivery.v1), not a callback's; sign HMAC-SHA256(secret, \"weft-callback.v1\\n<token>\\n<t>\\n<body>\")"
    )]
    DeliverySignature,
    /// Signed too long ago (or too far ahead).
    #[error("the Weft-Signature timestamp is {age_secs} s from now; at most 300 s is accepted")]
    Expired {
        /// Now minus the signed time, seconds.
        age_secs: i64,
    },
}

/// Whether `a` and `b` are equal, compared without stopping at the first
/// difference (signatures here, API key hashes in `engine::keys`).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "task_1.7.abcd";

    fn verify(secret: &Secret, token: &str, header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
        secret.verify_callback(token, Some(header), None, None, body, now)
    }

    #[test]
    fn a_callback_signature_verifies_within_five_minutes_only() {
        let secret = Secret::new("s3cret");
        let header = secret.sign_callback(TOKEN, 1_000, b"{\"a\":1}");
        assert!(header.starts_with("t=1000,v1="));
        assert_eq!(verify(&secret, TOKEN, &header, b"{\"a\":1}", 1_100), Ok(()));
        assert_eq!(verify(&secret, TOKEN, &header, b"{\"a\":2}", 1_100), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(&secret, TOKEN, &header, b"{\"a\":1}", 1_301),
            Err(SignatureError::Expired { age_secs: 301 })
        );
        assert_eq!(verify(&Secret::new("other"), TOKEN, &header, b"{\"a\":1}", 1_000), Err(SignatureError::Mismatch));
        assert_eq!(secret.verify_callback(TOKEN, None, None, None, b"", 1_000), Err(SignatureError::Missing));
        assert_eq!(verify(&secret, TOKEN, "v1=00", b"", 1_000), Err(SignatureError::Malformed));
    }

    #[test]
    fn a_callback_signature_is_bound_to_its_token() {
        let secret = Secret::new("s3cret");
        let header = secret.sign_callback(TOKEN, 1_000, b"{}");
        assert_eq!(verify(&secret, "task_2.7.ef01", &header, b"{}", 1_000), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_delivery_signature_never_passes_as_a_callback() {
        let secret = Secret::new("s3cret");
        let delivery = secret.sign_delivery(1_000, b"{}");
        assert_eq!(verify(&secret, TOKEN, &delivery, b"{}", 1_000), Err(SignatureError::DeliverySignature));
        let (x_sig, x_ts) = secret.sign_delivery_x(1_000, b"{}");
        let refused = secret.verify_callback(TOKEN, None, Some(&x_sig), Some(&x_ts), b"{}", 1_000);
        assert_eq!(refused, Err(SignatureError::DeliverySignature));
        assert_ne!(delivery, secret.sign_callback(TOKEN, 1_000, b"{}"));
    }

    #[test]
    fn the_proto_header_form_carries_the_same_signature() {
        let secret = Secret::new("s3cret");
        let (x_sig, x_ts) = secret.sign_delivery_x(1_000, b"{}");
        assert_eq!(
            secret.sign_delivery(1_000, b"{}"),
            format!("t={x_ts},v1={}", x_sig.strip_prefix("sha256=").unwrap())
        );
        let callback = secret.sign_callback(TOKEN, 1_000, b"{}");
        let x_sig = format!("sha256={}", callback.split("v1=").nth(1).unwrap());
        let x = |sig: Option<&str>, ts: Option<&str>| secret.verify_callback(TOKEN, None, sig, ts, b"{}", 1_010);
        assert_eq!(x(Some(&x_sig), Some("1000")), Ok(()));
        assert_eq!(x(Some(&x_sig), Some("999")), Err(SignatureError::Mismatch));
        assert_eq!(x(Some(&x_sig), None), Err(SignatureError::Malformed));
        assert_eq!(x(None, None), Err(SignatureError::Missing));
    }

    #[test]
    fn known_vectors_match() {
        // HMAC-SHA256("key", …) over the documented strings, computed with
        // Python's hmac module, as the README's receiver snippet does.
        let secret = Secret::new("key");
        assert_eq!(
            secret.sign_delivery(1, b"{}"),
            "t=1,v1=8efc2fdcf2f2d1c21dd5d8c5f99771b436c51c9bb881cab36c656c9d49b1cc72"
        );
        assert_eq!(
            secret.sign_callback("tok", 1, b"{}"),
            "t=1,v1=a4c14e3f5731d2e87333558d018c946c8634a5ad70d79c7b6d7197a7f4c1fb86"
        );
    }

    #[test]
    fn callback_tokens_open_only_with_their_secret_and_name_their_tenant() {
        let secret = Secret::new("s");
        let token = secret.callback_token("t2", "task_1", 7);
        assert!(token.starts_with("t2.task_1.7."), "{token}");
        let target = CallbackTarget { tenant: "t2".into(), task_id: "task_1".into(), lease_token: 7 };
        assert_eq!(secret.open_callback_token(&token), Some(target));
        assert_eq!(Secret::new("t").open_callback_token(&token), None);
        assert_eq!(secret.open_callback_token(&token.replace(".7.", ".8.")), None);
        assert_eq!(secret.open_callback_token(&token.replacen("t2.", "default.", 1)), None, "moved tenant");
        assert_eq!(secret.open_callback_token(&format!("{token}.x")), None);
        // The three-part form of earlier versions is refused.
        let old = token.split_once('.').unwrap().1;
        assert_eq!(secret.open_callback_token(old), None);
    }
}
