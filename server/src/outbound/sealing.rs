//! Sealing tenant secrets at rest: XChaCha20-Poly1305 under the
//! `[secrets] key` (32 bytes), a fresh random 24-byte nonce per value
//! (large enough that random nonces never repeat in practice, so no
//! counter has to be kept across replicas), and the tenant and name as
//! associated data, so a sealed value copied to another row does not open.
//! Written as `v1.<base64 of nonce ‖ ciphertext ‖ tag>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Bytes of a key.
pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;
const VERSION: &str = "v1.";

/// The sealing key; Debug never shows it.
#[derive(Clone)]
pub struct SealingKey([u8; KEY_BYTES]);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

/// Why a value could not be sealed or opened. Never carries the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key is not base64 of 32 bytes.
    #[error("the key must be 32 bytes written in base64 (e.g. `openssl rand -base64 32`)")]
    BadKey,
    /// No randomness for a nonce.
    #[error("cannot read random bytes for a nonce: {0}")]
    Random(String),
    /// The stored text is not a value this key sealed for this tenant and
    /// name (another key, altered, or moved).
    #[error("the stored secret cannot be opened with the configured [secrets] key")]
    Unopenable,
}

fn aad(tenant: &str, name: &str) -> Vec<u8> {
    [b"weft-secret.v1\0", tenant.as_bytes(), b"\0", name.as_bytes()].concat()
}

impl SealingKey {
    /// A key from its base64 text.
    pub fn from_base64(text: &str) -> Result<Self, SealError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| SealError::BadKey)?;
        let key: [u8; KEY_BYTES] = bytes.try_into().map_err(|_| SealError::BadKey)?;
        Ok(Self(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// `value` sealed for (tenant, name).
    pub fn seal(&self, tenant: &str, name: &str, value: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_BYTES];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut nonce))
            .map_err(|e| SealError::Random(e.to_string()))?;
        let aad = aad(tenant, name);
        let sealed = self
            .cipher()
            .encrypt(&XNonce::from(nonce), Payload { msg: value.as_bytes(), aad: &aad })
            .map_err(|_| SealError::Unopenable)?;
        Ok(format!("{VERSION}{}", STANDARD.encode([nonce.as_slice(), &sealed].concat())))
    }

    /// The value sealed for (tenant, name).
    pub fn open(&self, tenant: &str, name: &str, sealed: &str) -> Result<String, SealError> {
        let bytes = sealed.strip_prefix(VERSION).and_then(|b| STANDARD.decode(b).ok()).ok_or(SealError::Unopenable)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SealError::Unopenable);
        }
        let (nonce, body) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SealError::Unopenable)?;
        let aad = aad(tenant, name);
        let plain = self
            .cipher()
            .decrypt(&XNonce::from(nonce), Payload { msg: body, aad: &aad })
            .map_err(|_| SealError::Unopenable)?;
        String::from_utf8(plain).map_err(|_| SealError::Unopenable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    #[test]
    fn a_sealed_value_opens_only_with_its_key_tenant_and_name() {
        let key = SealingKey::from_base64(KEY).unwrap();
        let sealed = key.seal("t1", "TOKEN", "hunter2-canary").unwrap();
        assert!(sealed.starts_with("v1.") && !sealed.contains("hunter2"), "{sealed}");
        assert_ne!(sealed, key.seal("t1", "TOKEN", "hunter2-canary").unwrap(), "a fresh nonce each time");
        assert_eq!(key.open("t1", "TOKEN", &sealed).unwrap(), "hunter2-canary");
        assert_eq!(key.open("t2", "TOKEN", &sealed), Err(SealError::Unopenable), "moved to another tenant");
        assert_eq!(key.open("t1", "OTHER", &sealed), Err(SealError::Unopenable), "moved to another name");
        let other = SealingKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        assert_eq!(other.open("t1", "TOKEN", &sealed), Err(SealError::Unopenable));
        assert_eq!(key.open("t1", "TOKEN", "v1.AAAA"), Err(SealError::Unopenable));
        assert_eq!(format!("{key:?}"), "SealingKey(…)");
    }

    #[test]
    fn a_key_must_be_32_bytes_of_base64() {
        assert_eq!(SealingKey::from_base64("short").unwrap_err(), SealError::BadKey);
        assert_eq!(SealingKey::from_base64(&STANDARD.encode([1u8; 31])).unwrap_err(), SealError::BadKey);
    }
}
