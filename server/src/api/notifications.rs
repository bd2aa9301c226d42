//! `weft.v1.NotificationService`: the caller's tenant's notification
//! subscriptions and delivery log. The engine (`engine/notify`) checks
//! every bound and stores; this module maps the wire types and pages.
//! Only `admin` keys (or anonymous loopback use) reach it.

use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;
use weft_proto::v1::notification_service_server::NotificationService;

use crate::api::auth;
use crate::api::convert::timestamp;
use crate::api::{error, page_token};
use crate::engine::WorkflowCatalog;
use crate::engine::notify::{NewSubscription, Subscriptions};
use crate::store::notifications::{DeliveryQuery, DeliveryRecord, DeliveryStatus, SubscriptionRecord};

/// Default and largest page of the listings.
const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 200;

/// The NotificationService implementation.
pub struct NotificationApi {
    subscriptions: Subscriptions,
    /// Resolves a workflow named by id or by name.
    catalog: WorkflowCatalog,
}

impl NotificationApi {
    /// A service over `subscriptions`.
    pub fn new(subscriptions: Subscriptions, catalog: WorkflowCatalog) -> Self {
        Self { subscriptions, catalog }
    }
}

fn page_size(asked: u32) -> u32 {
    if asked == 0 { DEFAULT_PAGE_SIZE } else { asked.min(MAX_PAGE_SIZE) }
}

fn subscription_to_pb(s: &SubscriptionRecord) -> pb::NotificationSubscription {
    pb::NotificationSubscription {
        subscription_id: s.id.clone(),
        url: s.url.clone(),
        event_types: s.event_types.clone(),
        workflow_id: s.workflow_id.clone().unwrap_or_default(),
        description: s.description.clone(),
        create_time: Some(timestamp(s.created_ms)),
    }
}

fn status_to_pb(status: DeliveryStatus) -> pb::DeliveryStatus {
    match status {
        DeliveryStatus::Pending => pb::DeliveryStatus::Pending,
        DeliveryStatus::Delivered => pb::DeliveryStatus::Delivered,
        DeliveryStatus::Failed => pb::DeliveryStatus::Failed,
    }
}

/// The status filter of a listing; unspecified means every status.
fn status_from_pb(value: i32) -> Result<Option<DeliveryStatus>, Status> {
    match pb::DeliveryStatus::try_from(value) {
        Ok(pb::DeliveryStatus::Unspecified) => Ok(None),
        Ok(pb::DeliveryStatus::Pending) => Ok(Some(DeliveryStatus::Pending)),
        Ok(pb::DeliveryStatus::Delivered) => Ok(Some(DeliveryStatus::Delivered)),
        Ok(pb::DeliveryStatus::Failed) => Ok(Some(DeliveryStatus::Failed)),
        Err(_) => Err(error::invalid_argument("status", "is not a delivery status: pending, delivered or failed")),
    }
}

fn delivery_to_pb(d: &DeliveryRecord) -> pb::NotificationDelivery {
    pb::NotificationDelivery {
        delivery_id: d.id.clone(),
        subscription_id: d.subscription_id.clone(),
        event_type: d.event_type.clone(),
        event_id: format!("{}.{}", d.run_id, d.sequence),
        run_id: d.run_id.clone(),
        status: status_to_pb(d.status).into(),
        attempts: d.attempts,
        last_status_code: d.last_status_code.map(u32::from).unwrap_or_default(),
        last_error: d.last_error.clone().unwrap_or_default(),
        create_time: Some(timestamp(d.created_ms)),
        delivered_time: d.delivered_ms.map(timestamp),
        next_attempt_time: d.next_attempt_ms.filter(|_| d.status == DeliveryStatus::Pending).map(timestamp),
    }
}

#[tonic::async_trait]
impl NotificationService for NotificationApi {
    async fn create_subscription(
        &self,
        request: Request<pb::CreateSubscriptionRequest>,
    ) -> Result<Response<pb::CreateSubscriptionResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let workflow_id = self.catalog.resolve_filter(&tenant, "workflow_id", &r.workflow_id).await?;
        let asked = NewSubscription {
            url: r.url,
            event_types: r.event_types,
            workflow_id: workflow_id.unwrap_or_default(),
            description: r.description,
        };
        let (subscription, secret) = self.subscriptions.create(&tenant, asked).await?;
        Ok(Response::new(pb::CreateSubscriptionResponse {
            subscription: Some(subscription_to_pb(&subscription)),
            secret,
        }))
    }

    async fn list_subscriptions(
        &self,
        request: Request<pb::ListSubscriptionsRequest>,
    ) -> Result<Response<pb::ListSubscriptionsResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let limit = page_size(r.page_size);
        let after =
            if r.page_token.is_empty() { None } else { Some(page_token::decode(&r.page_token, "subscriptions")?) };
        let mut page = self.subscriptions.list(&tenant, after, limit + 1).await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let next_page_token = match page.last() {
            Some(last) if more => page_token::encode(&(last.created_ms, last.id.clone()), "subscriptions"),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions: page.iter().map(subscription_to_pb).collect(),
            next_page_token,
        }))
    }

    async fn get_subscription(
        &self,
        request: Request<pb::GetSubscriptionRequest>,
    ) -> Result<Response<pb::GetSubscriptionResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let subscription = self.subscriptions.get(&tenant, &r.subscription_id).await?;
        Ok(Response::new(pb::GetSubscriptionResponse { subscription: Some(subscription_to_pb(&subscription)) }))
    }

    async fn delete_subscription(
        &self,
        request: Request<pb::DeleteSubscriptionRequest>,
    ) -> Result<Response<pb::DeleteSubscriptionResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        self.subscriptions.delete(&tenant, &r.subscription_id).await?;
        Ok(Response::new(pb::DeleteSubscriptionResponse { success: true }))
    }

    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let tenant = auth::tenant(&request)?;
        let r = request.into_inner();
        let limit = page_size(r.page_size);
        let status = status_from_pb(r.status)?;
        // The token is bound to the filters it was made under.
        let fingerprint = format!("deliveries|{}|{}", r.subscription_id, r.status);
        let after = if r.page_token.is_empty() { None } else { Some(page_token::decode(&r.page_token, &fingerprint)?) };
        let query = DeliveryQuery {
            subscription_id: Some(r.subscription_id).filter(|id| !id.is_empty()),
            status,
            after,
            limit: limit + 1,
        };
        let mut page = self.subscriptions.deliveries(&tenant, &query).await?;
        let more = page.len() > limit as usize;
        page.truncate(limit as usize);
        let next_page_token = match page.last() {
            Some(last) if more => page_token::encode(&(last.created_ms, last.id.clone()), &fingerprint),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: page.iter().map(delivery_to_pb).collect(),
            next_page_token,
        }))
    }
}
