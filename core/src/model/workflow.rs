//! The workflow resource: metadata that is not versioned (status, tags,
//! trigger type) around a versioned [`Definition`].

use super::Definition;

/// Lifecycle status of a workflow. Stored and written lower-case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkflowStatus {
    /// Being written.
    Draft,
    /// In service.
    Active,
    /// Triggers and new runs are held.
    Paused,
    /// Retired, kept for history.
    Archived,
}

impl WorkflowStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [WorkflowStatus; 4] = [Self::Draft, Self::Active, Self::Paused, Self::Archived];

    /// The lower-case name used in storage and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Archived => "archived",
        }
    }

    /// Parses the lower-case name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A workflow at one version.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// `wf_…` id.
    pub id: String,
    /// Tags used as list filters; not versioned.
    pub tags: Vec<String>,
    /// Lifecycle status; not versioned.
    pub status: WorkflowStatus,
    /// "manual", "schedule", "webhook" or "event"; not versioned.
    pub trigger_type: String,
    /// The version this value shows.
    pub version: u32,
    /// The latest version of the workflow (equal to `version` unless an old
    /// version was fetched).
    pub latest_version: u32,
    /// Why this version was written.
    pub change_summary: String,
    /// The definition at `version`.
    pub definition: Definition,
    /// Creation of the workflow, Unix milliseconds.
    pub created_at_ms: i64,
    /// Creation of `version`, Unix milliseconds.
    pub updated_at_ms: i64,
}

/// One entry of the version history.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowVersionInfo {
    /// Version number.
    pub version: u32,
    /// Why it was written.
    pub change_summary: String,
    /// When, Unix milliseconds.
    pub created_at_ms: i64,
}
