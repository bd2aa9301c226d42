//! Managing a tenant's subscriptions and reading its delivery log: every
//! bound of NotificationService is checked here, before anything is
//! stored, and each refusal names its field.

use std::collections::HashSet;
use std::sync::Arc;

use super::events::NotifyEvent;
use crate::config::NotifySettings;
use crate::engine::EngineError;
use crate::engine::clock::now_ms;
use crate::outbound::OutboundClient;
use crate::store::Store;
use crate::store::notifications::{DeliveryQuery, DeliveryRecord, SubscriptionRecord};

/// Longest subscription URL, bytes.
pub const MAX_URL_BYTES: usize = 2048;
/// Most event types per subscription (every event once).
pub const MAX_EVENT_TYPES: usize = NotifyEvent::ALL.len();
/// Longest workflow filter, characters.
pub const MAX_WORKFLOW_ID_CHARS: usize = 128;
/// Longest description, characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// Longest subscription id a request may name, characters.
pub const MAX_ID_CHARS: usize = 64;
/// What subscription ids start with.
const ID_PREFIX: &str = "ntf_";
/// What delivery ids start with.
const DELIVERY_PREFIX: &str = "ntd_";
/// Random bytes in a signing secret.
const SECRET_BYTES: usize = 32;

/// A subscription to create, as the caller asked for it.
#[derive(Debug, Clone, Default)]
pub struct NewSubscription {
    /// Where to POST.
    pub url: String,
    /// Public event names.
    pub event_types: Vec<String>,
    /// Only runs of this workflow, when not empty.
    pub workflow_id: String,
    /// A label for people.
    pub description: String,
}

/// The tenants' subscriptions and delivery logs; cheap to clone.
#[derive(Clone)]
pub struct Subscriptions {
    store: Arc<dyn Store>,
    settings: Arc<NotifySettings>,
    /// Only its URL check is used: the same SSRF rules deliveries meet.
    client: OutboundClient,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// A fresh id with `prefix`.
pub(super) fn fresh_id(prefix: &str) -> String {
    format!("{prefix}{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A fresh delivery id.
pub(super) fn fresh_delivery_id() -> String {
    fresh_id(DELIVERY_PREFIX)
}

fn not_found(id: &str) -> EngineError {
    let shown: String = id.chars().take(MAX_ID_CHARS).collect();
    EngineError::NotFound { what: format!("notification subscription '{shown}'"), reason: "SUBSCRIPTION_NOT_FOUND" }
}

/// A subscription id named by a request, checked.
fn check_id(field: &str, id: &str) -> Result<(), EngineError> {
    if id.is_empty() {
        return Err(EngineError::invalid(field, "a subscription id (ntf_…) is required"));
    }
    if id.chars().count() > MAX_ID_CHARS {
        return Err(EngineError::invalid(field, format!("a subscription id is at most {MAX_ID_CHARS} characters")));
    }
    Ok(())
}

impl Subscriptions {
    /// Subscriptions over `store`, checking URLs with `client`'s rules.
    pub fn new(store: Arc<dyn Store>, settings: NotifySettings, client: OutboundClient) -> Self {
        Self { store, settings: Arc::new(settings), client }
    }

    /// The event types asked for, checked: 1 to 5 known names, each once.
    fn events(names: &[String]) -> Result<Vec<NotifyEvent>, EngineError> {
        let known = || NotifyEvent::ALL.map(NotifyEvent::name).join(", ");
        if names.is_empty() {
            return Err(EngineError::invalid("event_types", format!("name at least one event type: {}", known())));
        }
        if names.len() > MAX_EVENT_TYPES {
            let message = format!("at most {MAX_EVENT_TYPES} event types (each of {} once)", known());
            return Err(EngineError::invalid("event_types", message));
        }
        let mut seen = HashSet::new();
        let mut events = Vec::with_capacity(names.len());
        for (i, name) in names.iter().enumerate() {
            let field = format!("event_types[{i}]");
            let shown: String = name.chars().take(64).collect();
            let event = NotifyEvent::from_name(name).ok_or_else(|| {
                EngineError::invalid(&field, format!("'{shown}' is not an event type; use one of {}", known()))
            })?;
            if !seen.insert(event) {
                return Err(EngineError::invalid(&field, format!("'{shown}' is named twice")));
            }
            events.push(event);
        }
        Ok(events)
    }

    fn check_url(&self, url: &str) -> Result<(), EngineError> {
        if url.is_empty() {
            return Err(EngineError::invalid("url", "the URL deliveries are POSTed to is required"));
        }
        if url.len() > MAX_URL_BYTES {
            return Err(EngineError::invalid("url", format!("the URL is over the {MAX_URL_BYTES}-byte limit")));
        }
        if url.chars().any(char::is_control) {
            return Err(EngineError::invalid("url", "the URL holds a control character"));
        }
        self.client.check_url(url).map(drop).map_err(|err| EngineError::invalid("url", err.to_string()))
    }

    /// Creates a subscription for `tenant`: it and its signing secret,
    /// which is never returned again.
    pub async fn create(
        &self,
        tenant: &str,
        asked: NewSubscription,
    ) -> Result<(SubscriptionRecord, String), EngineError> {
        self.check_url(&asked.url)?;
        let events = Self::events(&asked.event_types)?;
        if asked.workflow_id.chars().count() > MAX_WORKFLOW_ID_CHARS || asked.workflow_id.chars().any(char::is_control)
        {
            let message =
                format!("a workflow id is at most {MAX_WORKFLOW_ID_CHARS} characters, without control characters");
            return Err(EngineError::invalid("workflow_id", message));
        }
        if asked.description.chars().count() > MAX_DESCRIPTION_CHARS {
            let message = format!("the description is over the {MAX_DESCRIPTION_CHARS}-character limit");
            return Err(EngineError::invalid("description", message));
        }
        let mut random = [0u8; SECRET_BYTES];
        getrandom::fill(&mut random).map_err(|_| EngineError::Unavailable("the OS random source failed"))?;
        let secret = format!("whsec_{}", hex::encode(random));
        let record = SubscriptionRecord {
            id: fresh_id(ID_PREFIX),
            tenant_id: tenant.to_owned(),
            url: asked.url,
            event_types: events.iter().map(|event| event.name().to_owned()).collect(),
            workflow_id: Some(asked.workflow_id).filter(|id| !id.is_empty()),
            description: asked.description,
            secret: secret.clone(),
            created_ms: now_ms(),
        };
        let max = self.settings.max_subscriptions;
        if !self.store.insert_subscription(&record, max).await? {
            return Err(EngineError::FailedPrecondition {
                message: format!(
                    "the tenant already holds {max} notification subscriptions, the most [notifications] \
                     max_subscriptions allows; delete one first"
                ),
                reason: "SUBSCRIPTION_LIMIT_REACHED",
            });
        }
        Ok((record, secret))
    }

    /// One of `tenant`'s subscriptions.
    pub async fn get(&self, tenant: &str, id: &str) -> Result<SubscriptionRecord, EngineError> {
        check_id("subscription_id", id)?;
        self.store.get_subscription(tenant, id).await?.ok_or_else(|| not_found(id))
    }

    /// At most `limit` of `tenant`'s subscriptions after `after`.
    pub async fn list(
        &self,
        tenant: &str,
        after: Option<(i64, String)>,
        limit: u32,
    ) -> Result<Vec<SubscriptionRecord>, EngineError> {
        Ok(self.store.list_subscriptions(tenant, after, limit).await?)
    }

    /// Deletes one of `tenant`'s subscriptions and its deliveries.
    pub async fn delete(&self, tenant: &str, id: &str) -> Result<(), EngineError> {
        check_id("subscription_id", id)?;
        if self.store.delete_subscription(tenant, id).await? { Ok(()) } else { Err(not_found(id)) }
    }

    /// A page of `tenant`'s delivery log. A subscription filter must name
    /// one of the tenant's subscriptions.
    pub async fn deliveries(&self, tenant: &str, query: &DeliveryQuery) -> Result<Vec<DeliveryRecord>, EngineError> {
        if let Some(id) = &query.subscription_id {
            check_id("subscription_id", id)?;
            if self.store.get_subscription(tenant, id).await?.is_none() {
                return Err(not_found(id));
            }
        }
        Ok(self.store.list_deliveries(tenant, query).await?)
    }
}
