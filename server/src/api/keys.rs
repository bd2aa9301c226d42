//! `weft.v1.KeyService`: API keys of the caller's tenant. The key ring
//! (`engine/keys.rs`) makes and checks them; this module maps the wire
//! types. Only `admin` keys (or anonymous loopback use) reach it.

use std::sync::Arc;

use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::key_service_server::KeyService;

use crate::api::auth;
use crate::api::convert::timestamp;
use crate::api::error;
use crate::api::request_checks::required_id;
use crate::engine::keys::KeyRing;
use crate::engine::scheduler::now_ms;
use crate::model::KeyScope;
use crate::store::KeyRecord;

/// The KeyService implementation.
pub struct KeyApi {
    keys: Arc<KeyRing>,
}

impl KeyApi {
    /// A service over `keys`.
    pub fn new(keys: Arc<KeyRing>) -> Self {
        Self { keys }
    }
}

fn scope_to_pb(scope: KeyScope) -> pb::KeyScope {
    match scope {
        KeyScope::Read => pb::KeyScope::Read,
        KeyScope::Write => pb::KeyScope::Write,
        KeyScope::Worker => pb::KeyScope::Worker,
        KeyScope::Admin => pb::KeyScope::Admin,
    }
}

/// The scope a request names; unset or unknown is INVALID_ARGUMENT.
fn scope_from_pb(value: i32) -> Result<KeyScope, Status> {
    match pb::KeyScope::try_from(value) {
        Ok(pb::KeyScope::Read) => Ok(KeyScope::Read),
        Ok(pb::KeyScope::Write) => Ok(KeyScope::Write),
        Ok(pb::KeyScope::Worker) => Ok(KeyScope::Worker),
        Ok(pb::KeyScope::Admin) => Ok(KeyScope::Admin),
        Ok(pb::KeyScope::Unspecified) | Err(_) => {
            Err(error::invalid_argument("scope", "is required: one of read, write, worker, admin"))
        }
    }
}

/// A key as the API shows it (never its secret or hash).
fn key_to_pb(key: &KeyRecord) -> pb::ApiKey {
    pb::ApiKey {
        key_id: key.id.clone(),
        tenant: key.tenant_id.clone(),
        name: key.name.clone(),
        scope: scope_to_pb(key.scope).into(),
        create_time: Some(timestamp(key.created_ms)),
        revoke_time: key.revoked_ms.map(timestamp),
    }
}

#[tonic::async_trait]
impl KeyService for KeyApi {
    async fn create_key(
        &self,
        request: Request<pb::CreateKeyRequest>,
    ) -> Result<Response<pb::CreateKeyResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let scope = scope_from_pb(r.scope)?;
        let made = self.keys.create(&tenant, scope, &r.name, now_ms()).await?;
        tracing::info!(key_id = %made.record.id, tenant = %tenant, scope = %scope, "an API key was created");
        Ok(Response::new(pb::CreateKeyResponse { key: Some(key_to_pb(&made.record)), secret: made.token }))
    }

    async fn list_keys(&self, request: Request<pb::ListKeysRequest>) -> Result<Response<pb::ListKeysResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let keys = self.keys.list(&tenant).await?;
        Ok(Response::new(pb::ListKeysResponse { keys: keys.iter().map(key_to_pb).collect() }))
    }

    async fn revoke_key(
        &self,
        request: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::RevokeKeyResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        required_id(&r.key_id, "key_id")?;
        let revoked = self.keys.revoke(&tenant, &r.key_id, now_ms()).await?;
        tracing::info!(key_id = %revoked.id, tenant = %tenant, "an API key was revoked");
        Ok(Response::new(pb::RevokeKeyResponse { key: Some(key_to_pb(&revoked)) }))
    }
}
