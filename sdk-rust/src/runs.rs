//! The calls a first program makes, answered as plain values: apply a
//! workflow by name, start or execute a run, read a run. Everything else is
//! on the generated clients (`weft.workflows()`, `weft.runs()`, …).

use std::time::Duration;

use serde_json::Value;

use crate::json::to_proto_value;
use crate::views::Run;
use crate::{Error, Weft, pb};

/// What [`Weft::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// No workflow had the name: it was created at version 1.
    Created,
    /// The definition changed: a new version was written.
    Updated,
    /// The definition equals the latest version: nothing was written.
    Unchanged,
}

/// A workflow after [`Weft::apply`].
#[derive(Debug, Clone)]
pub struct Applied {
    /// Its id (`wf_…`).
    pub id: String,
    /// Its name, unique in the tenant.
    pub name: String,
    /// Its latest version.
    pub version: u32,
    /// Created, updated or unchanged.
    pub outcome: ApplyOutcome,
    /// The workflow as stored.
    pub raw: pb::Workflow,
}

/// Options of a run start beyond workflow and input.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// A retried start with the same key returns the first run.
    pub idempotency_key: Option<String>,
    /// Run this version instead of the latest.
    pub version: Option<u32>,
    /// For [`Weft::execute`]: the longest to wait (the server's default
    /// when unset).
    pub timeout: Option<Duration>,
}

impl Weft {
    /// Creates the workflow named in `workflow`, or makes it the next
    /// version of the workflow with that name; unchanged definitions write
    /// nothing. Safe to call on every start of a program.
    pub async fn apply(&self, workflow: pb::Workflow) -> Result<Applied, Error> {
        let answer = self
            .workflows()
            .apply_workflow(pb::ApplyWorkflowRequest { workflow: Some(workflow), change_summary: String::new() })
            .await?
            .into_inner();
        let raw = answer.workflow.unwrap_or_default();
        let outcome = match pb::ApplyOutcome::try_from(answer.outcome) {
            Ok(pb::ApplyOutcome::Created) => ApplyOutcome::Created,
            Ok(pb::ApplyOutcome::Updated) => ApplyOutcome::Updated,
            Ok(pb::ApplyOutcome::Unchanged | pb::ApplyOutcome::Unspecified) | Err(_) => ApplyOutcome::Unchanged,
        };
        Ok(Applied { id: raw.id.clone(), name: raw.name.clone(), version: raw.version, outcome, raw })
    }

    /// Starts a run of `workflow` (its id or its name) and returns it
    /// without waiting.
    pub async fn start_run(&self, workflow: &str, input: Value, options: RunOptions) -> Result<Run, Error> {
        let request = pb::StartRunRequest {
            workflow_id: workflow.into(),
            input: Some(to_proto_value(&input)),
            idempotency_key: options.idempotency_key.unwrap_or_default(),
            version: options.version.unwrap_or(0),
            ..Default::default()
        };
        let answer = self.runs().start_run(request).await?.into_inner();
        Ok(Run::from(answer.run.unwrap_or_default()))
    }

    /// Runs `workflow` (its id or its name) and waits for it to finish.
    /// A run still going at the timeout is an error naming what it waits for.
    pub async fn execute(&self, workflow: &str, input: Value, options: RunOptions) -> Result<Run, Error> {
        let request = pb::ExecuteWorkflowRequest {
            workflow_id: workflow.into(),
            input: Some(to_proto_value(&input)),
            idempotency_key: options.idempotency_key.unwrap_or_default(),
            version: options.version.unwrap_or(0),
            timeout_seconds: options.timeout.map_or(0, |t| u32::try_from(t.as_secs().max(1)).unwrap_or(u32::MAX)),
            ..Default::default()
        };
        let answer = self.runs().execute_workflow(request).await?.into_inner();
        Ok(Run::from(answer.run.unwrap_or_default()))
    }

    /// The run `run_id`, with its steps.
    pub async fn get_run(&self, run_id: &str) -> Result<Run, Error> {
        let answer = self.runs().get_run(pb::GetRunRequest { run_id: run_id.into() }).await?;
        Ok(Run::from(answer.into_inner().run.unwrap_or_default()))
    }
}
