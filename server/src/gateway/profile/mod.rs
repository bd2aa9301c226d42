//! Response profiles: how each documented path family answers, declared
//! once per family as data ([`families`]) and applied by the generic
//! gateway to every route of the family.
//!
//! Weft serves five documents' paths on one port. Each family is picked by
//! the route's path prefix ([`Family::of`]) and its [`Profile`] says:
//! - how field keys are spelled ([`Naming`]: JSON names or snake_case, and
//!   per-field renames such as `step_runs` or `stateHistory`);
//! - the envelope each RPC's answer is put in ([`Answer`]: `{data, meta}`,
//!   `{output, run_id}`, a subset of keys, a run outcome that maps a failed
//!   synchronous execution to 500 `EXECUTION_FAILED`);
//! - request defaults (002's list limit of 20, 001's brief wait for a run
//!   to settle), applied only where the client gave nothing;
//! - the error body form, per route where the document lists it
//!   ([`ErrorForm`]);
//! - SSE event names and which streams report errors in-band (HTTP 200
//!   with an `error` event, as 004 documents).
//!
//! `/openapi.json` describes each family with these same profiles, so the
//! document shows the shapes that are served.

mod answer;
mod families;
mod naming;

pub use answer::{Answer, ListWindow, Shaped, rename_step_outputs, shape_answer};
pub use naming::{KeyStyle, Naming, Rename, snake_case};

use http::Method;

/// The documented path families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `/v1/…` (000): protobuf's JSON mapping, bare resources.
    V1,
    /// `/v1/agents/…` and `/v1/workflow-runs…` (001): runs answered as
    /// `{output: {status, steps, result, pendingAction}, run_id}`.
    Agents,
    /// `/workflows…` (002): state machines, `{data, meta}` lists,
    /// executions with `currentState` and `stateHistory`.
    StateMachine,
    /// `/api/…` (003 and 004): snake_case keys, `{workflows, total}`,
    /// `step_runs`, plain or structured error bodies per route.
    Api,
}

/// Path prefixes and their family, most specific first.
const PREFIXES: &[(&str, Family)] = &[
    ("/v1/agents/", Family::Agents),
    ("/v1/workflow-runs", Family::Agents),
    ("/v1/", Family::V1),
    ("/api/", Family::Api),
    // 004's inbound webhook call answers `{run_id}`, as the /api routes write.
    ("/hooks/", Family::Api),
    ("/workflows", Family::StateMachine),
];

impl Family {
    /// Every family, for documents and tests.
    pub const ALL: [Family; 4] = [Family::V1, Family::Agents, Family::StateMachine, Family::Api];

    /// The family of a path template (or path): the first prefix it starts
    /// with; `/v1`'s shape for anything else.
    pub fn of(template: &str) -> Family {
        PREFIXES.iter().find(|(prefix, _)| template.starts_with(prefix)).map_or(Family::V1, |(_, family)| *family)
    }

    /// The family's profile.
    pub fn profile(self) -> &'static Profile {
        match self {
            Family::V1 => &families::V1,
            Family::Agents => &families::AGENTS,
            Family::StateMachine => &families::STATE_MACHINE,
            Family::Api => &families::API,
        }
    }
}

/// How an error body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorForm {
    /// A `google.rpc.Status` (`code`, `message`, `details`) that also
    /// carries `error` and `error_code`.
    Status,
    /// `{"error": message, "error_code": CODE}`.
    Structured,
    /// `{"error": message}`.
    Plain,
}

/// How a stream's event types are named in SSE `event:` lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventNames {
    /// As stored: `step.started`.
    Dotted,
    /// `step_started`.
    Underscored,
}

/// A request field the family sets when the client does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestDefault {
    /// The RPC (`ListWorkflows`).
    pub rpc: &'static str,
    /// The request field's JSON name (`limit`).
    pub field: &'static str,
    /// Its value, as JSON text (`20`, `"2s"`).
    pub value: &'static str,
}

/// A key of the output Weft itself writes for a built-in step (not data
/// from a user or a worker), spelled another way in a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepOutputRename {
    /// The step types whose output it is (`http_request`).
    pub step_types: &'static [&'static str],
    /// The key as stored (`statusCode`).
    pub from: &'static str,
    /// The key the family writes (`status_code`).
    pub to: &'static str,
}

/// One family's answers, as data.
#[derive(Debug)]
pub struct Profile {
    /// Which family.
    pub family: Family,
    /// The document it follows, for descriptions (`003 (/api/workflows)`).
    pub document: &'static str,
    /// Field keys.
    pub naming: Naming,
    /// Envelopes by RPC name; RPCs not listed answer [`Answer::Bare`].
    pub answers: &'static [(&'static str, Answer)],
    /// Request fields set when the client leaves them out (or sends 0).
    pub request_defaults: &'static [RequestDefault],
    /// The error body form of routes not listed in `error_forms`.
    pub errors: ErrorForm,
    /// Error body forms by route: (HTTP method, path template, form).
    pub error_forms: &'static [(&'static str, &'static str, ErrorForm)],
    /// SSE event names.
    pub events: EventNames,
    /// Streaming RPCs that answer HTTP 200 and report a failure to start as
    /// an `error` event, as the family's document asks.
    pub in_band_stream_errors: &'static [&'static str],
    /// Keys of built-in steps' outputs spelled the family's way in step
    /// results.
    pub step_output_renames: &'static [StepOutputRename],
}

impl Profile {
    /// The envelope of `rpc`'s answers.
    pub fn answer(&self, rpc: &str) -> Answer {
        self.answers.iter().find(|(name, _)| *name == rpc).map_or(Answer::Bare, |(_, answer)| *answer)
    }

    /// The error body form of a route.
    pub fn error_form(&self, method: &Method, template: &str) -> ErrorForm {
        self.error_forms
            .iter()
            .find(|(m, t, _)| *m == method.as_str() && *t == template)
            .map_or(self.errors, |(_, _, form)| *form)
    }

    /// The defaults of `rpc`'s request fields.
    pub fn defaults_of<'p>(&'p self, rpc: &'p str) -> impl Iterator<Item = &'p RequestDefault> + 'p {
        self.request_defaults.iter().filter(move |d| d.rpc == rpc)
    }

    /// Whether `rpc` (a streaming RPC) reports start failures in-band.
    pub fn in_band_stream_errors(&self, rpc: &str) -> bool {
        self.in_band_stream_errors.contains(&rpc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_pick_the_most_specific_family() {
        assert_eq!(Family::of("/v1/agents/{workflow_id}/workflow"), Family::Agents);
        assert_eq!(Family::of("/v1/workflow-runs/{run_id}"), Family::Agents);
        assert_eq!(Family::of("/v1/workflow-runs"), Family::Agents);
        assert_eq!(Family::of("/v1/workflows/runs/{run_id}"), Family::V1);
        assert_eq!(Family::of("/api/workflows/{id}/run"), Family::Api);
        assert_eq!(Family::of("/workflows/executions/{run_id}"), Family::StateMachine);
        assert_eq!(Family::of("/workflows"), Family::StateMachine);
        for family in Family::ALL {
            assert_eq!(family.profile().family, family);
        }
    }

    #[test]
    fn unlisted_routes_take_the_family_defaults() {
        let api = Family::Api.profile();
        assert_eq!(api.error_form(&Method::GET, "/api/workflows"), ErrorForm::Plain);
        assert_eq!(api.error_form(&Method::GET, "/api/workflows/{id}"), ErrorForm::Structured);
        assert_eq!(Family::V1.profile().error_form(&Method::GET, "/v1/workflows"), ErrorForm::Status);
        assert_eq!(Family::V1.profile().answer("StartRun"), Answer::Bare);
    }
}
