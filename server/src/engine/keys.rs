//! API keys: making them, checking a presented key, and deciding when a
//! call without a key is allowed.
//!
//! A key reads `wk_<ulid>_<secret>`: the ULID names the stored row
//! (`key_<ulid>`), the secret is 32 random bytes in unpadded base64url.
//! Only SHA-256 of those 32 bytes is stored. Lookups are cached for
//! [`KEY_CACHE_TTL`], so a key revoked on another replica stops working
//! within that interval; on the replica that revoked it, at once.
//!
//! Anonymous calls act for the `default` tenant with every scope, and are
//! allowed only when the server listens on loopback, `auth.required` is
//! off, and no key was ever made: creating the first key turns them off.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::engine::EngineError;
use crate::model::tenancy::is_valid_tenant_id;
use crate::model::{DEFAULT_TENANT, KeyScope};
use crate::outbound::signing::constant_time_eq;
use crate::store::{KeyRecord, Store};

/// How long a key lookup (found, revoked or unknown) is reused before the
/// store is asked again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(2);

/// Most live keys one tenant may hold.
pub const MAX_KEYS_PER_TENANT: u32 = 1000;

/// Most characters of a key's name.
pub const MAX_KEY_NAME_CHARS: usize = 200;

/// Most cached lookups; past it the cache starts over (a flood of made-up
/// key ids cannot grow it without bound).
const MAX_CACHED: usize = 10_000;

/// The prefix of every key's text.
const TOKEN_PREFIX: &str = "wk_";
/// The prefix of key ids.
const ID_PREFIX: &str = "key_";
/// Bytes of randomness in a secret.
const SECRET_BYTES: usize = 32;
/// Characters of a ULID.
const ULID_CHARS: usize = 26;

/// Who is calling, as decided from the presented key (or its absence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The tenant everything the call reads and writes belongs to.
    pub tenant: String,
    /// What the caller may do.
    pub scope: KeyScope,
    /// The key used; `None` for an anonymous call.
    pub key_id: Option<String>,
}

impl Caller {
    /// The caller of anonymous loopback use.
    pub fn anonymous() -> Caller {
        Caller { tenant: DEFAULT_TENANT.to_owned(), scope: KeyScope::Admin, key_id: None }
    }
}

/// Why a call's key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// No key was presented and anonymous calls are off.
    #[error("an API key is required: send `authorization: Bearer wk_…`")]
    Missing,
    /// The text is not a Weft key.
    #[error("the API key is malformed: expected `wk_` followed by the key's id and secret")]
    Malformed,
    /// No live key has this id and secret (unknown, wrong secret, or
    /// revoked: one answer, so a caller learns nothing about other keys).
    #[error("the API key is not valid (unknown or revoked)")]
    Invalid,
    /// The store could not be asked; retrying may work.
    #[error("API keys cannot be checked right now; retry")]
    Unavailable,
}

/// A key just made: its record and the secret text, shown once.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The stored key.
    pub record: KeyRecord,
    /// `wk_…`, the only time it exists outside the caller's hands.
    pub token: String,
}

/// A cached lookup by id.
#[derive(Clone)]
struct Cached {
    key: Option<KeyRecord>,
    at: Instant,
}

/// Makes, lists, revokes and checks API keys; cloned freely.
#[derive(Clone)]
pub struct KeyRing {
    store: Arc<dyn Store>,
    cache: Arc<std::sync::Mutex<HashMap<String, Cached>>>,
    /// Whether anonymous calls may happen at all (loopback, not required).
    anonymous_allowed: bool,
    /// Set once any key is known to exist; never cleared.
    keys_exist: Arc<AtomicBool>,
    /// When the store was last asked whether keys exist.
    keys_checked: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl KeyRing {
    /// A key ring over `store`; `anonymous_allowed` is true when the server
    /// listens on loopback and does not require keys.
    pub fn new(store: Arc<dyn Store>, anonymous_allowed: bool) -> KeyRing {
        KeyRing {
            store,
            cache: Arc::default(),
            anonymous_allowed,
            keys_exist: Arc::new(AtomicBool::new(false)),
            keys_checked: Arc::default(),
        }
    }

    /// Whether a call without a key is served now.
    pub async fn anonymous_now(&self) -> Result<bool, KeyRefusal> {
        if !self.anonymous_allowed {
            return Ok(false);
        }
        Ok(!self.any_key_exists().await?)
    }

    /// Whether any key was ever made (cached; once true, for good).
    async fn any_key_exists(&self) -> Result<bool, KeyRefusal> {
        if self.keys_exist.load(Ordering::Acquire) {
            return Ok(true);
        }
        let fresh = self.keys_checked.lock().expect("key check time").is_some_and(|at| at.elapsed() < KEY_CACHE_TTL);
        if fresh {
            return Ok(false);
        }
        let exists = self.store.any_key_exists().await.map_err(|err| {
            tracing::warn!(error = %err, "cannot check whether API keys exist");
            KeyRefusal::Unavailable
        })?;
        if exists {
            self.keys_exist.store(true, Ordering::Release);
        }
        *self.keys_checked.lock().expect("key check time") = Some(Instant::now());
        Ok(exists)
    }

    /// The caller a request stands for: `token` is the presented key text
    /// (`None` when the request carried none).
    pub async fn verify(&self, token: Option<&str>) -> Result<Caller, KeyRefusal> {
        let Some(token) = token else {
            return if self.anonymous_now().await? { Ok(Caller::anonymous()) } else { Err(KeyRefusal::Missing) };
        };
        let (id, secret) = parse_token(token).ok_or(KeyRefusal::Malformed)?;
        let key = self.lookup(&id).await?.ok_or(KeyRefusal::Invalid)?;
        let presented = hash_secret(&secret);
        if key.revoked_ms.is_some() || !constant_time_eq(presented.as_bytes(), key.secret_hash.as_bytes()) {
            return Err(KeyRefusal::Invalid);
        }
        Ok(Caller { tenant: key.tenant_id, scope: key.scope, key_id: Some(key.id) })
    }

    /// The stored key of this id, from the cache when fresh.
    async fn lookup(&self, id: &str) -> Result<Option<KeyRecord>, KeyRefusal> {
        if let Some(cached) = self.cache.lock().expect("key cache").get(id)
            && cached.at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(cached.key.clone());
        }
        let key = self.store.get_key(id).await.map_err(|err| {
            tracing::warn!(error = %err, "cannot read an API key");
            KeyRefusal::Unavailable
        })?;
        let mut cache = self.cache.lock().expect("key cache");
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(id.to_owned(), Cached { key: key.clone(), at: Instant::now() });
        Ok(key)
    }

    /// Makes a key for `tenant` with `scope`, named `name`.
    pub async fn create(&self, tenant: &str, scope: KeyScope, name: &str, now_ms: i64) -> Result<NewKey, EngineError> {
        if !is_valid_tenant_id(tenant) {
            return Err(EngineError::InvalidArgument {
                field: "tenant".into(),
                message: format!(
                    "'{}' is not a tenant id: use 1 to {} lowercase letters, digits, '-' or '_', \
                     starting with a letter or digit",
                    tenant.chars().take(80).collect::<String>(),
                    crate::model::tenancy::MAX_TENANT_CHARS
                ),
            });
        }
        let name = name.trim();
        if name.chars().count() > MAX_KEY_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(EngineError::InvalidArgument {
                field: "name".into(),
                message: format!("must be at most {MAX_KEY_NAME_CHARS} characters, without control characters"),
            });
        }
        let live = self.store.count_live_keys(tenant).await?;
        if live >= MAX_KEYS_PER_TENANT {
            return Err(EngineError::FailedPrecondition {
                message: format!(
                    "tenant '{tenant}' already has {live} live keys, the most allowed ({MAX_KEYS_PER_TENANT}); \
                     revoke some first"
                ),
                reason: "KEY_LIMIT_REACHED",
            });
        }
        let ulid = ulid::Ulid::new().to_string().to_lowercase();
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|_| EngineError::Unavailable("the OS random source failed"))?;
        let record = KeyRecord {
            id: format!("{ID_PREFIX}{ulid}"),
            tenant_id: tenant.to_owned(),
            name: name.to_owned(),
            scope,
            secret_hash: hash_secret(&secret),
            created_ms: now_ms,
            revoked_ms: None,
        };
        self.store.insert_key(&record).await?;
        self.keys_exist.store(true, Ordering::Release);
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        Ok(NewKey { record, token: format!("{TOKEN_PREFIX}{ulid}_{encoded}") })
    }

    /// A tenant's keys: every live one (at most [`MAX_KEYS_PER_TENANT`]),
    /// then the most a listing shows of the revoked ones, each group oldest
    /// first.
    pub async fn list(&self, tenant: &str) -> Result<Vec<KeyRecord>, EngineError> {
        Ok(self.store.list_keys(tenant, MAX_KEYS_PER_TENANT.saturating_mul(2)).await?)
    }

    /// Revokes a tenant's key; it fails at once on this replica, and
    /// within [`KEY_CACHE_TTL`] on others.
    pub async fn revoke(&self, tenant: &str, id: &str, now_ms: i64) -> Result<KeyRecord, EngineError> {
        let revoked = self.store.revoke_key(tenant, id, now_ms).await?;
        self.cache.lock().expect("key cache").remove(id);
        revoked.ok_or_else(|| EngineError::NotFound {
            what: format!("key '{}'", id.chars().take(80).collect::<String>()),
            reason: "KEY_NOT_FOUND",
        })
    }
}

/// The (key id, secret bytes) a key text names, if it is well formed.
fn parse_token(token: &str) -> Option<(String, [u8; SECRET_BYTES])> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (ulid, encoded) = (rest.get(..ULID_CHARS)?, rest.get(ULID_CHARS..)?.strip_prefix('_')?);
    if !ulid.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()) {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let secret: [u8; SECRET_BYTES] = bytes.try_into().ok()?;
    Some((format!("{ID_PREFIX}{ulid}"), secret))
}

/// SHA-256 of a secret, lowercase hex: what the store keeps.
fn hash_secret(secret: &[u8]) -> String {
    hex::encode(Sha256::digest(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ring(anonymous: bool) -> (KeyRing, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let store = crate::store::OpenStore::open(&url).await.expect("sqlite url").expect("open");
        (KeyRing::new(store.shared(), anonymous), dir)
    }

    #[tokio::test]
    async fn a_made_key_verifies_until_revoked_and_only_its_secret_does() {
        let (ring, _dir) = ring(false).await;
        let made = ring.create("acme", KeyScope::Write, "ci", 1).await.expect("create");
        assert!(made.token.starts_with("wk_"));
        assert!(!made.record.secret_hash.contains(&made.token[30..]), "the secret is not stored");
        let caller = ring.verify(Some(&made.token)).await.expect("verifies");
        assert_eq!(
            caller,
            Caller { tenant: "acme".into(), scope: KeyScope::Write, key_id: Some(made.record.id.clone()) }
        );

        // Same id, another secret.
        let mut forged = made.token.clone();
        let last = forged.pop().expect("non-empty");
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(matches!(ring.verify(Some(&forged)).await, Err(KeyRefusal::Invalid | KeyRefusal::Malformed)));
        assert_eq!(ring.verify(Some("wk_nope")).await, Err(KeyRefusal::Malformed));
        assert_eq!(ring.verify(Some("Bearer x")).await, Err(KeyRefusal::Malformed));
        assert_eq!(ring.verify(None).await, Err(KeyRefusal::Missing));

        ring.revoke("acme", &made.record.id, 2).await.expect("revoke");
        assert_eq!(ring.verify(Some(&made.token)).await, Err(KeyRefusal::Invalid), "fails on its next call");
        assert!(matches!(ring.revoke("other", &made.record.id, 3).await, Err(EngineError::NotFound { .. })));
    }

    #[tokio::test]
    async fn anonymous_calls_end_when_the_first_key_is_made() {
        let (ring, _dir) = ring(true).await;
        assert_eq!(ring.verify(None).await, Ok(Caller::anonymous()));
        let made = ring.create("default", KeyScope::Admin, "", 1).await.expect("create");
        assert_eq!(ring.verify(None).await, Err(KeyRefusal::Missing));
        ring.revoke("default", &made.record.id, 2).await.expect("revoke");
        assert_eq!(ring.verify(None).await, Err(KeyRefusal::Missing), "revoking does not reopen anonymous use");
        let (closed, _dir) = super::tests::ring(false).await;
        assert_eq!(closed.verify(None).await, Err(KeyRefusal::Missing));
    }

    #[tokio::test]
    async fn listings_show_live_keys_before_revoked_ones_and_never_another_tenants() {
        let (ring, _dir) = ring(false).await;
        let old = ring.create("acme", KeyScope::Read, "old", 1).await.expect("create");
        let live = ring.create("acme", KeyScope::Write, "live", 2).await.expect("create");
        ring.create("other", KeyScope::Admin, "theirs", 3).await.expect("create");
        ring.revoke("acme", &old.record.id, 4).await.expect("revoke");
        let listed: Vec<String> = ring.list("acme").await.expect("list").into_iter().map(|k| k.name).collect();
        assert_eq!(listed, ["live", "old"]);
        assert_eq!(ring.verify(Some(&live.token)).await.map(|c| c.tenant), Ok("acme".to_owned()));
    }

    #[tokio::test]
    async fn bad_tenants_and_names_are_refused() {
        let (ring, _dir) = ring(false).await;
        assert!(matches!(ring.create("Acme", KeyScope::Read, "", 1).await, Err(EngineError::InvalidArgument { .. })));
        let long = "n".repeat(MAX_KEY_NAME_CHARS + 1);
        assert!(matches!(
            ring.create("acme", KeyScope::Read, &long, 1).await,
            Err(EngineError::InvalidArgument { .. })
        ));
        assert!(ring.list("acme").await.expect("list").is_empty());
    }
}
