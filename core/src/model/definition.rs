//! The versioned definition of a workflow: steps, schemas, policy and run
//! settings, in the canonical flat-step shape, plus the source dialect
//! (`states`, or `blocks` + `edges`) when one was used.
//!
//! Field names and JSON shape follow the documented step JSON (camelCase,
//! `type: "agent"`, `dependsOn`, `onTrue: {next}`), so the serialized
//! definition is both what the store keeps and what version diffs compare.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::FailureAction;

/// Highest `maxConcurrentRuns` a definition may set.
pub const MAX_CONCURRENT_RUNS: u32 = 100_000;

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A whole definition; one is stored per workflow version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Definition {
    /// Human-readable name of the workflow.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The steps of the DAG (compiled from a dialect when one is used).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepDef>,
    /// JSON Schema of the run input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// JSON Schema of the run output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Value>,
    /// Tool and cost guard rails.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    /// "stop", "continue" or "retry"; `None` means "stop".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// Attempts after a failure for on_failure "retry".
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Run time limit in seconds; 0 means none.
    #[serde(skip_serializing_if = "is_zero")]
    pub timeout: u32,
    /// Most runs of the workflow running (or paused, per the server's
    /// setting) at once; the others wait Queued. Unset: the server's
    /// default; 0: no limit; at most [`MAX_CONCURRENT_RUNS`].
    #[serde(skip_serializing_if = "Option::is_none", alias = "max_concurrent_runs")]
    pub max_concurrent_runs: Option<u32>,
    /// State-machine dialect, as written.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub states: BTreeMap<String, MachineState>,
    /// Functions the state machine may call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<String>,
    /// Graph dialect blocks, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
    /// Graph dialect edges, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<Edge>,
}

impl Definition {
    /// The document version diffs compare: the serialized definition.
    pub fn to_document(&self) -> Value {
        serde_json::to_value(self).expect("a definition always serializes")
    }

    /// Visits every step, sub-steps (parallel, loop, map) included, depth
    /// first, with the path of the step in the definition (`steps[2].steps[0]`).
    pub fn walk_steps<'a>(&'a self, visit: &mut dyn FnMut(&'a StepDef, &str)) {
        fn walk<'a>(steps: &'a [StepDef], prefix: &str, visit: &mut dyn FnMut(&'a StepDef, &str)) {
            for (i, step) in steps.iter().enumerate() {
                let path = format!("{prefix}[{i}]");
                visit(step, &path);
                walk(&step.steps, &format!("{path}.steps"), visit);
                if let Some(sub) = &step.step {
                    let sub_path = format!("{path}.step");
                    visit(sub, &sub_path);
                    walk(&sub.steps, &format!("{sub_path}.steps"), visit);
                }
            }
        }
        walk(&self.steps, "steps", visit);
    }
}

/// One step; see `weft.v1.Step` for the meaning of every field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StepDef {
    /// Unique id.
    pub id: String,
    /// Step type name; empty means "agent".
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Ids this step waits for. Also read as `depends_on`, the spelling of
    /// the nested-config dialect.
    #[serde(alias = "depends_on", skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Named JSONPath inputs.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub input_map: BTreeMap<String, String>,
    /// Routing on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_step_failure: Option<FailureRoute>,
    /// Shared-state keys read.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub state_reads: Vec<String>,
    /// Shared-state keys written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub state_writes: Vec<String>,
    /// Extra attempts.
    #[serde(skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Duration string ("4h").
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timeout: String,
    /// Agent name (agent, planner).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub agent: String,
    /// Task template (agent, planner).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub task: String,
    /// Sub-steps (parallel, loop).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepDef>,
    /// Condition expression.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub expression: String,
    /// Condition true branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_true: Option<Branch>,
    /// Condition false branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_false: Option<Branch>,
    /// Delay in seconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub duration: u32,
    /// Approval action name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub action: String,
    /// Approval decision on timeout.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub default_action: String,
    /// Approval message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Approval options.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Webhook / http_request URL.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub url: String,
    /// HTTP method.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub method: String,
    /// HTTP headers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Webhook waits for a callback.
    #[serde(skip_serializing_if = "is_false")]
    pub wait_for_callback: bool,
    /// http_request body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Transform output: key -> JSONPath.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub output: BTreeMap<String, String>,
    /// Map / loop array path.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub over: String,
    /// Map / loop item binding.
    #[serde(rename = "as", skip_serializing_if = "String::is_empty")]
    pub as_name: String,
    /// Map concurrency.
    #[serde(skip_serializing_if = "is_zero")]
    pub concurrency: u32,
    /// Map sub-step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<Box<StepDef>>,
    /// Loop iteration cap.
    #[serde(skip_serializing_if = "is_zero")]
    pub max_iterations: u32,
    /// Loop: repeat while this condition holds (checked before each iteration).
    #[serde(rename = "while", alias = "whileCondition", skip_serializing_if = "String::is_empty")]
    pub while_condition: String,
    /// Loop: repeat until this condition holds (checked after each iteration).
    #[serde(rename = "until", alias = "untilCondition", skip_serializing_if = "String::is_empty")]
    pub until_condition: String,
    /// Wait event name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub event: String,
    /// Wait timeout branch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<Branch>,
    /// Script language.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub language: String,
    /// Script source.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub script: String,
    /// Nested type-specific settings; emptied by normalization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
}

/// A branch target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Branch {
    /// Step id to continue with.
    pub next: String,
}

/// Failure routing of one step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FailureRoute {
    /// "goto", "continue" or "stop".
    pub action: String,
    /// Recovery step for "goto".
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
}

impl FailureRoute {
    /// The action as a [`FailureAction`]; `None` when it names none (the
    /// compiler reports that).
    pub fn parsed_action(&self) -> Option<FailureAction> {
        FailureAction::parse(&self.action)
    }
}

/// Money in minor units.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Money {
    /// Minor units (cents). Protobuf JSON may write 64-bit integers as
    /// strings, so both forms are read.
    #[serde(deserialize_with = "int_from_number_or_string")]
    pub amount: i64,
    /// Currency code, lower-case.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub currency: String,
}

fn int_from_number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    use serde::de::Error;
    match Value::deserialize(d)? {
        Value::Number(n) => n.as_i64().ok_or_else(|| D::Error::custom("amount must be an integer")),
        Value::String(s) => s.parse().map_err(D::Error::custom),
        Value::Null => Ok(0),
        other => Err(D::Error::custom(format!("amount must be an integer, got {other}"))),
    }
}

/// Guard rails for agents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Policy {
    /// Allowed tools; empty allows all not denied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_tools: Vec<String>,
    /// Denied tools.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny_tools: Vec<String>,
    /// Tools whose use needs an approval.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub require_approval_for: Vec<String>,
    /// Per-step cost ceiling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_cost_per_step: Option<Money>,
    /// Per-run cost ceiling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_total_cost: Option<Money>,
    /// How long this workflow's finished runs are kept ("7d"), instead of
    /// the server's `[runs] retention`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<String>,
}

/// A state of the state-machine dialect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MachineState {
    /// "task", "succeed" or "fail".
    #[serde(rename = "type")]
    pub kind: String,
    /// Function a task state calls.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub task: String,
    /// Following state.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub next: String,
    /// A fail state's error name, what the failed run's error carries.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// A fail state's explanation, the failed run's message.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cause: String,
}

/// A block of the graph dialect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Block {
    /// Block id.
    pub id: String,
    /// Block type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Type-specific settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Map<String, Value>>,
    /// Canvas position, kept as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Value>,
}

/// An edge of the graph dialect: `target` depends on `source`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Edge {
    /// Source block id.
    pub source: String,
    /// Target block id.
    pub target: String,
}
