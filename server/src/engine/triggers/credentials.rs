//! Webhook ids and secrets: made fresh from the OS random source, and
//! stamped on a definition's trigger block on every save (the pure rule is
//! `compile::trigger::assign_credentials`; this supplies the randomness).

use crate::engine::EngineError;
use crate::engine::compile::trigger::{self, WEBHOOK_SECRET_KEY, WebhookCredentials};
use crate::model::Definition;

/// What webhook ids start with.
pub const WEBHOOK_ID_PREFIX: &str = "wh_";
/// What webhook secrets start with.
const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a webhook id (26 base-32 characters after the prefix).
const ID_BYTES: usize = 16;
/// Random bytes in a secret.
const SECRET_BYTES: usize = 32;

fn random<const N: usize>() -> Result<[u8; N], EngineError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|_| EngineError::Unavailable("the OS random source failed"))?;
    Ok(bytes)
}

/// A fresh webhook id: `wh_` and 26 lower-case characters holding 128
/// random bits, so it cannot be guessed.
pub fn fresh_webhook_id() -> Result<String, EngineError> {
    let id = ulid::Ulid::from_bytes(random::<ID_BYTES>()?);
    Ok(format!("{WEBHOOK_ID_PREFIX}{}", id.to_string().to_lowercase()))
}

/// A fresh secret: `whsec_` and 64 hex digits (256 random bits).
pub fn fresh_secret() -> Result<String, EngineError> {
    Ok(format!("{SECRET_PREFIX}{}", hex::encode(random::<SECRET_BYTES>()?)))
}

/// A fresh pair.
pub fn fresh_credentials() -> Result<WebhookCredentials, EngineError> {
    Ok(WebhookCredentials { webhook_id: fresh_webhook_id()?, secret: fresh_secret()? })
}

/// Writes credentials on `definition`'s trigger blocks: those the same
/// block had in `previous`, else fresh ones.
pub fn stamp_credentials(definition: &mut Definition, previous: Option<&Definition>) -> Result<(), EngineError> {
    let mut failed = None;
    let mut fresh = || {
        fresh_credentials().unwrap_or_else(|err| {
            failed = Some(err);
            WebhookCredentials { webhook_id: String::new(), secret: String::new() }
        })
    };
    trigger::assign_credentials(definition, previous, &mut fresh);
    match failed {
        Some(err) => Err(err),
        None => Ok(()),
    }
}

/// Gives `definition`'s trigger block a fresh secret, keeping its id.
pub fn rotate_secret(definition: &mut Definition) -> Result<(), EngineError> {
    let edges = definition.edges.clone();
    let secret = fresh_secret()?;
    if let Some(block) = definition.blocks.iter_mut().find(|b| trigger::is_trigger(b, &edges)) {
        let config = block.config.get_or_insert_with(Default::default);
        config.insert(WEBHOOK_SECRET_KEY.into(), serde_json::Value::String(secret));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_and_secrets_have_their_documented_form() {
        let id = fresh_webhook_id().unwrap();
        assert_eq!(id.len(), 3 + 26, "{id}");
        assert!(id.starts_with("wh_") && id[3..].chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        let secret = fresh_secret().unwrap();
        assert_eq!(secret.len(), 6 + 64);
        assert_ne!(fresh_secret().unwrap(), secret);
    }
}
