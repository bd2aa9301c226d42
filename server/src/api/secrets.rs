//! `weft.v1.SecretService`: tenants' secrets for step headers. Checks
//! the request, then the engine's [`SecretVault`] seals and stores. No
//! answer ever carries a value, and no error quotes one.

use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::secret_service_server::SecretService;

use crate::api::auth;
use crate::api::convert::timestamp;
use crate::api::{error, page_token};
use crate::engine::builtin::SecretVault;
use crate::store::TenantSecretInfo;

/// Default and largest page of ListSecrets.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;

/// The SecretService implementation.
pub struct SecretApi {
    vault: SecretVault,
}

impl SecretApi {
    /// A service over `vault`.
    pub fn new(vault: SecretVault) -> Self {
        Self { vault }
    }
}

fn info_to_pb(info: &TenantSecretInfo) -> pb::SecretInfo {
    pb::SecretInfo {
        name: info.name.clone(),
        create_time: Some(timestamp(info.created_ms)),
        update_time: Some(timestamp(info.updated_ms)),
    }
}

#[tonic::async_trait]
impl SecretService for SecretApi {
    async fn put_secret(
        &self,
        request: Request<pb::PutSecretRequest>,
    ) -> Result<Response<pb::PutSecretResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let tenant = tenant.as_str();
        let r = request.into_inner();
        let (info, created) = self.vault.put(tenant, &r.name, &r.value).await?;
        Ok(Response::new(pb::PutSecretResponse { secret: Some(info_to_pb(&info)), created }))
    }

    async fn list_secrets(
        &self,
        request: Request<pb::ListSecretsRequest>,
    ) -> Result<Response<pb::ListSecretsResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let tenant = tenant.as_str();
        let r = request.into_inner();
        let limit = if r.page_size == 0 { DEFAULT_PAGE_SIZE } else { r.page_size.min(MAX_PAGE_SIZE) };
        let after =
            if r.page_token.is_empty() { String::new() } else { page_token::decode(&r.page_token, "secrets")?.1 };
        let mut page = self.vault.list(tenant, &after, limit + 1).await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let next_page_token = match page.last() {
            Some(last) if more => page_token::encode(&(0, last.name.clone()), "secrets"),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListSecretsResponse { secrets: page.iter().map(info_to_pb).collect(), next_page_token }))
    }

    async fn delete_secret(
        &self,
        request: Request<pb::DeleteSecretRequest>,
    ) -> Result<Response<pb::DeleteSecretResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        if r.name.is_empty() {
            return Err(error::invalid_argument("name", "the secret's name is required"));
        }
        self.vault.delete(&tenant, &r.name).await?;
        Ok(Response::new(pb::DeleteSecretResponse { success: true }))
    }
}
