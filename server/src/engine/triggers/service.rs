//! Deploying, undeploying and arming a workflow's webhook, and its
//! status, for the caller's tenant; every bound is checked here.

use std::sync::Arc;

use super::credentials::{fresh_credentials, fresh_secret};
use crate::engine::clock::now_ms;
use crate::engine::compile::trigger::{self, WebhookCredentials};
use crate::engine::{EngineError, RunEngine, WorkflowCatalog};
use crate::model::Workflow;
use crate::store::Store;
use crate::store::triggers::TriggerRecord;

/// Window of an arm when the caller names none, seconds (004: ten minutes).
pub const DEFAULT_WINDOW_SECS: u32 = 600;
/// Longest window, seconds; longer asks are lowered.
pub const MAX_WINDOW_SECS: u32 = 86_400;
/// Longest workflow id a request may name, characters.
pub const MAX_WORKFLOW_ID_CHARS: usize = 128;

/// A workflow's trigger as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerState {
    /// `wf_…`.
    pub workflow_id: String,
    /// Whether calls are taken.
    pub deployed: bool,
    /// End of the open window; `None` when not armed (never, used, expired).
    pub armed_until_ms: Option<i64>,
    /// `wh_…`, empty before the first deploy of a workflow with no
    /// trigger block.
    pub webhook_id: String,
    /// Where to call, empty with the id.
    pub webhook_url: String,
    /// When deployed, while deployed.
    pub deployed_ms: Option<i64>,
    /// When the webhook last started a run.
    pub last_fired_ms: Option<i64>,
    /// The run it last started.
    pub last_run_id: Option<String>,
}

/// The triggers of one store; cheap to clone.
#[derive(Clone)]
pub struct Triggers {
    pub(super) store: Arc<dyn Store>,
    pub(super) catalog: WorkflowCatalog,
    pub(super) runs: RunEngine,
    /// `https://host[:port][/prefix]`, no trailing slash.
    public_url: Arc<str>,
}

/// A workflow id named by a request, checked.
pub(super) fn check_workflow_id(id: &str) -> Result<(), EngineError> {
    if id.is_empty() {
        return Err(EngineError::invalid("workflow_id", "a workflow id (wf_…) is required"));
    }
    if id.chars().count() > MAX_WORKFLOW_ID_CHARS || id.chars().any(char::is_control) {
        let message =
            format!("a workflow id is at most {MAX_WORKFLOW_ID_CHARS} characters, without control characters");
        return Err(EngineError::invalid("workflow_id", message));
    }
    Ok(())
}

fn not_deployed(workflow_id: &str) -> EngineError {
    EngineError::FailedPrecondition {
        message: format!("workflow '{workflow_id}' is not deployed; deploy it before arming its webhook"),
        reason: "WORKFLOW_NOT_DEPLOYED",
    }
}

impl Triggers {
    /// Triggers over `store`, starting runs through `runs`; webhook URLs
    /// are made under `public_url`.
    pub fn new(store: Arc<dyn Store>, catalog: WorkflowCatalog, runs: RunEngine, public_url: &str) -> Self {
        Self { store, catalog, runs, public_url: Arc::from(public_url.trim_end_matches('/')) }
    }

    /// The URL of `webhook_id`.
    pub fn webhook_url(&self, webhook_id: &str) -> String {
        if webhook_id.is_empty() { String::new() } else { format!("{}/v1/hooks/{webhook_id}", self.public_url) }
    }

    fn state(&self, workflow: &Workflow, row: Option<&TriggerRecord>) -> TriggerState {
        let now = now_ms();
        let block_id =
            trigger::trigger_block(&workflow.definition).and_then(trigger::credentials).map(|c| c.webhook_id);
        let webhook_id = block_id.or_else(|| row.map(|r| r.webhook_id.clone())).unwrap_or_default();
        TriggerState {
            workflow_id: workflow.id.clone(),
            deployed: row.is_some_and(|r| r.deployed),
            armed_until_ms: row.and_then(|r| r.armed_until_ms).filter(|until| *until > now),
            webhook_url: self.webhook_url(&webhook_id),
            webhook_id,
            deployed_ms: row.filter(|r| r.deployed).and_then(|r| r.deployed_ms),
            last_fired_ms: row.and_then(|r| r.last_fired_ms),
            last_run_id: row.and_then(|r| r.last_run_id.clone()),
        }
    }

    /// Deploys a workflow; answers its trigger and the secret when this
    /// call made or rotated one that GET of the workflow does not show
    /// (a workflow with no trigger block), or rotated the block's.
    pub async fn deploy(
        &self,
        tenant: &str,
        workflow_id: &str,
        rotate: bool,
    ) -> Result<(TriggerState, Option<String>), EngineError> {
        check_workflow_id(workflow_id)?;
        let mut workflow = self.catalog.get(tenant, workflow_id).await?;
        let existing = self.store.get_trigger(tenant, workflow_id).await?;
        let mut shown = None;
        if rotate && let Some(rotated) = self.catalog.rotate_webhook_secret(tenant, workflow_id).await? {
            workflow = rotated;
            shown = trigger::trigger_block(&workflow.definition).and_then(trigger::credentials).map(|c| c.secret);
        }
        let pair = match (trigger::trigger_block(&workflow.definition).and_then(trigger::credentials), &existing) {
            (Some(pair), _) => pair,
            (None, Some(row)) if !rotate => {
                WebhookCredentials { webhook_id: row.webhook_id.clone(), secret: row.webhook_secret.clone() }
            }
            (None, Some(row)) => {
                let secret = fresh_secret()?;
                shown = Some(secret.clone());
                WebhookCredentials { webhook_id: row.webhook_id.clone(), secret }
            }
            (None, None) => {
                let pair = fresh_credentials()?;
                shown = Some(pair.secret.clone());
                pair
            }
        };
        let row = self.store.deploy_trigger(tenant, workflow_id, &pair.webhook_id, &pair.secret, now_ms()).await?;
        Ok((self.state(&workflow, Some(&row)), shown))
    }

    /// Undeploys a workflow and disarms its webhook; runs go on.
    pub async fn undeploy(&self, tenant: &str, workflow_id: &str) -> Result<TriggerState, EngineError> {
        check_workflow_id(workflow_id)?;
        let workflow = self.catalog.get(tenant, workflow_id).await?;
        let row = self.store.undeploy_trigger(tenant, workflow_id).await?;
        Ok(self.state(&workflow, row.as_ref()))
    }

    /// Opens a window of `window_secs` (0: ten minutes; at most a day) in
    /// which the webhook takes one call. Arming again restarts it.
    pub async fn arm(&self, tenant: &str, workflow_id: &str, window_secs: u32) -> Result<TriggerState, EngineError> {
        check_workflow_id(workflow_id)?;
        let workflow = self.catalog.get(tenant, workflow_id).await?;
        let Some(row) = self.store.get_trigger(tenant, workflow_id).await?.filter(|r| r.deployed) else {
            return Err(not_deployed(workflow_id));
        };
        // The latest version's block is the truth; the row follows it.
        let pair = trigger::trigger_block(&workflow.definition)
            .and_then(trigger::credentials)
            .unwrap_or(WebhookCredentials { webhook_id: row.webhook_id, secret: row.webhook_secret });
        let window = if window_secs == 0 { DEFAULT_WINDOW_SECS } else { window_secs.min(MAX_WINDOW_SECS) };
        let until = now_ms() + i64::from(window) * 1000;
        let armed = self.store.arm_trigger(tenant, workflow_id, &pair.webhook_id, &pair.secret, until).await?;
        let Some(armed) = armed else { return Err(not_deployed(workflow_id)) };
        Ok(self.state(&workflow, Some(&armed)))
    }

    /// A workflow's trigger.
    pub async fn status(&self, tenant: &str, workflow_id: &str) -> Result<TriggerState, EngineError> {
        check_workflow_id(workflow_id)?;
        let workflow = self.catalog.get(tenant, workflow_id).await?;
        let row = self.store.get_trigger(tenant, workflow_id).await?;
        Ok(self.state(&workflow, row.as_ref()))
    }
}
