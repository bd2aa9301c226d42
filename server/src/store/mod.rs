//! Durable storage behind one trait, [`Store`], that SQLite implements now
//! and Postgres will implement with the same contract.
//!
//! The store speaks domain types (`crate::model`) and never tonic; the
//! engine decides, the store remembers. Every method is scoped to a tenant.

mod error;
mod migrate;
pub mod sqlite;

use async_trait::async_trait;

use crate::model::{Definition, Workflow, WorkflowStatus, WorkflowVersionInfo};

pub use error::StoreError;

/// A workflow to create at version 1.
#[derive(Debug, Clone)]
pub struct NewWorkflow {
    /// Fresh `wf_…` id.
    pub id: String,
    /// Initial status.
    pub status: WorkflowStatus,
    /// Trigger type label.
    pub trigger_type: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Summary of version 1.
    pub change_summary: String,
    /// The validated definition.
    pub definition: Definition,
    /// Client token; a second create with the same token within 24 h returns
    /// the first workflow.
    pub request_id: Option<String>,
    /// Creation time, Unix milliseconds.
    pub now_ms: i64,
}

/// The next version of a workflow.
#[derive(Debug, Clone)]
pub struct NewVersion {
    /// The version the caller read and built on; the append fails with
    /// [`StoreError::VersionConflict`] if another writer got there first.
    pub based_on: u32,
    /// The validated definition of the new version.
    pub definition: Definition,
    /// Why it was written.
    pub change_summary: String,
    /// New tags, when they change.
    pub tags: Option<Vec<String>>,
    /// New trigger type, when it changes.
    pub trigger_type: Option<String>,
    /// Write time, Unix milliseconds.
    pub now_ms: i64,
}

/// Filters and page position of a workflow listing.
#[derive(Debug, Clone, Default)]
pub struct WorkflowQuery {
    /// Only this status; `None` means every status but archived.
    pub status: Option<WorkflowStatus>,
    /// Only workflows carrying this tag.
    pub tag: Option<String>,
    /// Only this trigger type.
    pub trigger_type: Option<String>,
    /// Resume after this (created_at_ms, id) position, newest first.
    pub after: Option<(i64, String)>,
    /// Rows to skip (offset paging); used when `after` is `None`.
    pub offset: u32,
    /// Most rows to return.
    pub limit: u32,
}

/// One page of a workflow listing.
#[derive(Debug, Clone)]
pub struct WorkflowPage {
    /// The rows, newest first.
    pub workflows: Vec<Workflow>,
    /// Rows matching the filters, across pages.
    pub total: u32,
    /// Whether rows follow this page.
    pub has_more: bool,
}

/// Persistence of Weft's state.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a workflow at version 1 (or returns the one an earlier call
    /// with the same `request_id` created).
    async fn create_workflow(&self, tenant: &str, new: NewWorkflow) -> Result<Workflow, StoreError>;

    /// The latest version of a workflow.
    async fn get_workflow(&self, tenant: &str, id: &str) -> Result<Workflow, StoreError>;

    /// One version of a workflow.
    async fn get_workflow_version(&self, tenant: &str, id: &str, version: u32) -> Result<Workflow, StoreError>;

    /// A page of workflows, newest first.
    async fn list_workflows(&self, tenant: &str, query: &WorkflowQuery) -> Result<WorkflowPage, StoreError>;

    /// Writes version `based_on + 1`, atomically; fails with
    /// `VersionConflict` when the latest version is no longer `based_on`.
    async fn append_workflow_version(&self, tenant: &str, id: &str, next: NewVersion) -> Result<Workflow, StoreError>;

    /// Changes the status without writing a version.
    async fn set_workflow_status(
        &self,
        tenant: &str,
        id: &str,
        status: WorkflowStatus,
        now_ms: i64,
    ) -> Result<Workflow, StoreError>;

    /// Deletes a workflow and every version of it.
    async fn delete_workflow(&self, tenant: &str, id: &str) -> Result<(), StoreError>;

    /// Every version of a workflow, newest first.
    async fn list_workflow_versions(&self, tenant: &str, id: &str) -> Result<Vec<WorkflowVersionInfo>, StoreError>;
}
