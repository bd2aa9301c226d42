//! The four profiles, one per documented path family. This file is the
//! whole difference between the families' answers: the gateway applies it
//! generically, and `/openapi.json` is generated from it.

use super::answer::{Answer, ListWindow};
use super::naming::{KeyStyle, Naming, Rename};
use super::{ErrorForm, EventNames, Family, Profile, RequestDefault, StepOutputRename};

/// `/v1` (000): protobuf's JSON mapping and bare resources.
pub static V1: Profile = Profile {
    family: Family::V1,
    document: "000 (/v1)",
    naming: Naming::JSON,
    answers: &[],
    request_defaults: &[],
    errors: ErrorForm::Status,
    error_forms: &[],
    events: EventNames::Dotted,
    in_band_stream_errors: &[],
    step_output_renames: &[],
};

/// `/v1/agents` and `/v1/workflow-runs` (001): every run answer is
/// `{output: {status, steps, result, pendingAction}, run_id}`, and a start
/// waits briefly so that a run which pauses or ends at once is shown so.
pub static AGENTS: Profile = Profile {
    family: Family::Agents,
    document: "001 (/v1/agents, /v1/workflow-runs)",
    naming: Naming::JSON,
    answers: &[
        ("StartRun", Answer::AgentRun),
        ("GetRun", Answer::AgentRun),
        ("ResumeRun", Answer::AgentRun),
        ("CancelRun", Answer::AgentRun),
        ("ListRuns", Answer::AgentRuns),
    ],
    // 001 shows a run that pauses or ends at once as paused or ended in
    // the first answer: a start or a resume waits up to 2 s for that.
    request_defaults: &[
        RequestDefault { rpc: "StartRun", field: "settleWaitMs", value: "2000" },
        RequestDefault { rpc: "ResumeRun", field: "settleWaitMs", value: "2000" },
    ],
    errors: ErrorForm::Status,
    error_forms: &[],
    events: EventNames::Dotted,
    in_band_stream_errors: &[],
    step_output_renames: &[],
};

const STATE_MACHINE_RENAMES: &[Rename] = &[
    Rename { field: "weft.v1.Run.steps", key: "stateHistory" },
    Rename { field: "weft.v1.StepRun.id", key: "state" },
    Rename { field: "weft.v1.StepRun.start_time", key: "enteredAt" },
    Rename { field: "weft.v1.StepRun.complete_time", key: "exitedAt" },
];

/// `/workflows` (002): lists in `{data, meta}` with 20 items by default,
/// executions with `currentState` and `stateHistory`.
pub static STATE_MACHINE: Profile = Profile {
    family: Family::StateMachine,
    document: "002 (/workflows)",
    naming: Naming { style: KeyStyle::Json, renames: STATE_MACHINE_RENAMES, schema_prefix: "machine." },
    answers: &[
        ("ListWorkflows", Answer::DataMeta { items: "workflows", window: ListWindow::STATE_MACHINE }),
        ("StartRun", Answer::Execution),
        ("GetRun", Answer::Execution),
    ],
    request_defaults: &[RequestDefault { rpc: "ListWorkflows", field: "limit", value: "20" }],
    errors: ErrorForm::Status,
    error_forms: &[],
    events: EventNames::Dotted,
    in_band_stream_errors: &[],
    step_output_renames: &[],
};

const API_RENAMES: &[Rename] = &[
    Rename { field: "weft.v1.Run.steps", key: "step_runs" },
    Rename { field: "weft.v1.StepRun.id", key: "step_id" },
    Rename { field: "weft.v1.Run.duration", key: "duration_seconds" },
    Rename { field: "weft.v1.StepRun.duration", key: "duration_seconds" },
];

/// `/api/workflows` (003 and 004, which share the prefix): snake_case keys,
/// `{workflows, total}`, a 202 `{run_id}` for a start, a failed synchronous
/// execution as 500 `EXECUTION_FAILED`. 004 lists the error body of its
/// routes: plain `{error}` for list, create, metadata update, delete and
/// the trigger routes, `{error, error_code}` for the rest.
pub static API: Profile = Profile {
    family: Family::Api,
    document: "003 and 004 (/api/workflows)",
    naming: Naming { style: KeyStyle::Snake, renames: API_RENAMES, schema_prefix: "api." },
    answers: &[
        ("StartRun", Answer::Only(&["run_id"])),
        ("ListWorkflows", Answer::Only(&["workflows", "total"])),
        ("ValidateWorkflow", Answer::Only(&["valid", "errors"])),
        ("ExecuteWorkflow", Answer::Outcome),
        // 003: an install answers 201 `{"workflow_id": …}`.
        ("InstallTemplate", Answer::Only(&["workflow_id"])),
    ],
    request_defaults: &[],
    errors: ErrorForm::Structured,
    error_forms: &[
        ("GET", "/api/workflows", ErrorForm::Plain),
        ("POST", "/api/workflows", ErrorForm::Plain),
        ("PATCH", "/api/workflows/{workflow.id}", ErrorForm::Plain),
        ("DELETE", "/api/workflows/{id}", ErrorForm::Plain),
        ("POST", "/api/workflows/{workflow_id}/deploy", ErrorForm::Plain),
        ("POST", "/api/workflows/{workflow_id}/undeploy", ErrorForm::Plain),
        ("POST", "/api/workflows/{workflow_id}/arm", ErrorForm::Plain),
        ("POST", "/api/workflows/{workflow_id}/execute/stream", ErrorForm::Plain),
    ],
    events: EventNames::Underscored,
    in_band_stream_errors: &["ExecuteWorkflowStream"],
    // 003 shows an http_request step's result as `{status_code, body}`.
    step_output_renames: &[StepOutputRename {
        step_types: &["http_request", "webhook"],
        from: "statusCode",
        to: "status_code",
    }],
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::descriptors::pool;
    use crate::gateway::routes::RouteTable;

    /// Every name in the profiles names something real: an RPC with a
    /// route in the family, a field of the pool, a route template.
    #[test]
    fn profiles_name_only_real_rpcs_fields_and_routes() {
        let table = RouteTable::from_pool(pool()).unwrap();
        for family in Family::ALL {
            let profile = family.profile();
            let routes: Vec<_> = table.routes().iter().filter(|r| Family::of(&r.template) == family).collect();
            for (rpc, _) in profile.answers {
                assert!(routes.iter().any(|r| r.method.name() == *rpc), "{family:?}: no route of {rpc}");
            }
            for default in profile.request_defaults {
                let route = routes.iter().find(|r| r.method.name() == default.rpc).expect("a route of the RPC");
                assert!(
                    route.method.input().fields().any(|f| f.json_name() == default.field),
                    "{family:?}: {} has no field {}",
                    default.rpc,
                    default.field
                );
                serde_json::from_str::<serde_json::Value>(default.value).expect("a default is JSON");
            }
            for (method, template, _) in profile.error_forms {
                assert!(
                    routes.iter().any(|r| r.http_method.as_str() == *method && r.template == *template),
                    "{family:?}: no route {method} {template}"
                );
            }
            for rename in profile.naming.renames {
                let (message, field) = rename.field.rsplit_once('.').unwrap();
                let message = pool().get_message_by_name(message).expect("a renamed field's message");
                assert!(message.get_field_by_name(field).is_some(), "no field {}", rename.field);
            }
        }
    }
}
