//! Checks of one step's own fields: id, type, the fields every type shares,
//! and the references it makes to other steps. Type-specific fields are in
//! `type_checks.rs`. Everything parsed on the way (paths, templates,
//! timeouts, resolved references) is kept, so compiling never parses twice.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use super::StepKind;
use super::compiled_kind::TransformRole;
use super::duration::parse_duration;
use super::fields::unused_fields;
use super::index::StepIndex;
use super::path::shorten;
use super::problem::{Problem, ProblemCode};
use crate::expr::{Condition, Path, Template, parse_path, references_secrets, template_references_secrets};
use crate::model::FailureAction;
use crate::model::definition::StepDef;

/// Longest step id, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Most extra attempts of one step.
pub const MAX_RETRIES: u32 = 100;
/// Ids that name parts of the run state document rather than steps, and
/// `secrets`, the root of header secret references: a step so named would
/// make `$.secrets.…` mean two things.
pub const RESERVED_IDS: [&str; 3] = ["input", "state", "secrets"];

/// What checking a step learned: its type, resolved references (entry
/// indexes) and parsed expressions.
#[derive(Debug, Default)]
pub struct CheckedStep {
    pub kind: Option<StepKind>,
    pub deps: Vec<usize>,
    pub on_true: Option<usize>,
    pub on_false: Option<usize>,
    pub on_timeout: Option<usize>,
    pub goto: Option<usize>,
    pub input_map: Vec<(String, Path)>,
    pub output: Vec<(String, Path)>,
    pub over: Option<Path>,
    pub condition: Option<Condition>,
    pub task: Option<Template>,
    pub body: Vec<(String, Template)>,
    /// A webhook or http_request URL with placeholders.
    pub url: Option<Template>,
    pub timeout: Option<Duration>,
    /// A transform's role; `None` for the other types.
    pub role: Option<TransformRole>,
}

/// The checking of one step: where it is, and where problems go.
pub struct StepCheck<'c, 'a> {
    pub index: &'c StepIndex<'a>,
    pub at: usize,
    pub step: &'a StepDef,
    /// Transforms that stand for a dialect's blocks or states, by id, with
    /// what they yield instead of their `output` paths.
    pub roles: &'c HashMap<&'a str, TransformRole>,
    pub problems: &'c mut Vec<Problem>,
    pub out: CheckedStep,
}

/// Checks entry `at` of `index`, reporting into `problems`.
pub fn check_step(
    index: &StepIndex<'_>,
    at: usize,
    roles: &HashMap<&str, TransformRole>,
    problems: &mut Vec<Problem>,
) -> CheckedStep {
    let step = index.entries[at].step;
    let mut check = StepCheck { index, at, step, roles, problems, out: CheckedStep::default() };
    check.id();
    check.kind();
    check.dependencies();
    check.input_map();
    check.failure_route();
    check.shared_settings();
    if let Some(kind) = check.out.kind {
        check.unused_fields(kind);
        check.type_fields(kind);
    }
    check.out
}

impl StepCheck<'_, '_> {
    /// Records a problem; `field` is relative to the step (`inputMap.x`).
    pub fn report(&mut self, field: impl fmt::Display, code: ProblemCode, message: String) {
        let field = format!("{}.{field}", self.index.path_display(self.at));
        self.problems.push(Problem::new(&self.step.id, field, code, message));
    }

    /// "Step 'id'" (or "The step at steps[3]"), for messages.
    pub fn label(&self) -> String {
        self.index.label(self.at)
    }

    /// Reports `field` when `src` refers to `secrets`: secrets may only be
    /// referenced in header values, which the server renders as the request
    /// leaves; anywhere else the core would copy them into the run. True
    /// when reported.
    pub fn secret_elsewhere(&mut self, field: impl fmt::Display, src: &str) -> bool {
        if !references_secrets(src) {
            return false;
        }
        self.secret_refused(field);
        true
    }

    /// Like [`Self::secret_elsewhere`] for `{{ }}` text (task, URL): only
    /// placeholders are looked at.
    pub fn secret_in_template(&mut self, field: impl fmt::Display, src: &str) -> bool {
        if !template_references_secrets(src) {
            return false;
        }
        self.secret_refused(field);
        true
    }

    fn secret_refused(&mut self, field: impl fmt::Display) {
        let message = format!(
            "{} refers to `secrets` in {field}; secrets may only be used in webhook and http_request header \
             values, as {{{{ secrets.NAME }}}}",
            self.label()
        );
        self.report(field, ProblemCode::SecretOutsideHeader, message);
    }

    /// Parses a JSONPath field, reporting it as `field` when it is invalid.
    pub fn path(&mut self, field: impl fmt::Display, src: &str) -> Option<Path> {
        let field = field.to_string();
        if self.secret_elsewhere(&field, src) {
            return None;
        }
        match parse_path(src) {
            Ok(path) => Some(path),
            Err(e) => {
                let message = format!("{} has an invalid JSONPath in {field}: {e}", self.label());
                self.report(field, ProblemCode::InvalidJsonPath, message);
                None
            }
        }
    }

    /// Resolves a reference to another step, reporting `code` when missing.
    pub fn target(&mut self, field: &str, id: &str, code: ProblemCode, what: &str) -> Option<usize> {
        if id.is_empty() {
            let message = format!("{} has {what} with no step id", self.label());
            self.report(field, ProblemCode::MissingField, message);
            return None;
        }
        let found = self.index.find(id);
        if found.is_none() {
            let message = format!("{} has {what} '{}' which doesn't exist", self.label(), shorten(id));
            self.report(field, code, message);
        }
        found
    }

    fn id(&mut self) {
        let id = self.step.id.as_str();
        let message = if id.is_empty() {
            format!("{} has no id; every step needs one", self.label())
        } else if id.len() > MAX_ID_LEN || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) {
            format!("Step id '{}' is invalid: use 1 to {MAX_ID_LEN} letters, digits, '_', '.' or '-'", shorten(id))
        } else if RESERVED_IDS.contains(&id) {
            format!("Step id '{id}' is reserved: '{id}' is a root name of the run state; choose another id")
        } else {
            return;
        };
        self.report("id", ProblemCode::InvalidStepId, message);
    }

    fn kind(&mut self) {
        self.out.kind = StepKind::from_name(&self.step.kind);
        if self.out.kind.is_none() {
            let known: Vec<&str> = StepKind::ALL.iter().map(|k| k.as_str()).collect();
            let message = format!(
                "{} has unknown type '{}'; known types are {}",
                self.label(),
                shorten(&self.step.kind),
                known.join(", ")
            );
            self.report("type", ProblemCode::UnknownStepType, message);
        }
    }

    fn dependencies(&mut self) {
        for (k, dep) in self.step.depends_on.iter().enumerate() {
            if !dep.is_empty() && *dep == self.step.id {
                let message = format!("{} depends on itself", self.label());
                self.report(format_args!("dependsOn[{k}]"), ProblemCode::SelfDependency, message);
                continue;
            }
            let Some(j) = self.index.find(dep) else {
                let message = format!("{} depends on '{}' which doesn't exist", self.label(), shorten(dep));
                self.report(format_args!("dependsOn[{k}]"), ProblemCode::MissingDependency, message);
                continue;
            };
            if self.is_ancestor(j, self.at) {
                let message = format!(
                    "{} depends on '{dep}', the step it is part of; sub-steps start when their parent does",
                    self.label()
                );
                self.report(format_args!("dependsOn[{k}]"), ProblemCode::InvalidField, message);
            } else if !self.is_ancestor(self.at, j) {
                // A parent already waits for its own sub-steps.
                self.out.deps.push(j);
            }
        }
    }

    /// True when entry `ancestor` contains entry `node` (at any depth).
    fn is_ancestor(&self, ancestor: usize, node: usize) -> bool {
        let mut at = self.index.entries[node].parent;
        while let Some(p) = at {
            if p == ancestor {
                return true;
            }
            at = self.index.entries[p].parent;
        }
        false
    }

    fn input_map(&mut self) {
        for (key, src) in &self.step.input_map {
            if key.is_empty() {
                let message = format!("{} has an inputMap entry with an empty name", self.label());
                self.report("inputMap", ProblemCode::InvalidField, message);
            }
            if let Some(path) = self.path(format_args!("inputMap.{key}"), src) {
                self.out.input_map.push((key.clone(), path));
            }
        }
    }

    fn failure_route(&mut self) {
        let Some(route) = &self.step.on_step_failure else { return };
        match route.parsed_action() {
            Some(FailureAction::Goto) if route.target.is_empty() => {
                let message = format!("{} routes failures with goto but names no target step", self.label());
                self.report("onStepFailure.target", ProblemCode::MissingField, message);
            }
            Some(FailureAction::Goto) if route.target == self.step.id => {
                let message =
                    format!("{} routes its own failure back to itself; use retries to run it again", self.label());
                self.report("onStepFailure.target", ProblemCode::InvalidField, message);
            }
            Some(FailureAction::Goto) => {
                let what = "a failure route (goto) to";
                self.out.goto =
                    self.target("onStepFailure.target", &route.target, ProblemCode::UnknownGotoTarget, what);
            }
            Some(FailureAction::Continue | FailureAction::Stop) if !route.target.is_empty() => {
                let message = format!("{} names a failure target, which only the goto action uses", self.label());
                self.report("onStepFailure.target", ProblemCode::InvalidField, message);
            }
            Some(FailureAction::Continue | FailureAction::Stop) => {}
            None if route.action.is_empty() => {
                let message = format!("{} has an onStepFailure with no action (goto, continue or stop)", self.label());
                self.report("onStepFailure.action", ProblemCode::MissingField, message);
            }
            None => {
                let message = format!(
                    "{} has onStepFailure action '{}'; expected goto, continue or stop",
                    self.label(),
                    shorten(&route.action)
                );
                self.report("onStepFailure.action", ProblemCode::InvalidField, message);
            }
        }
    }

    fn shared_settings(&mut self) {
        for (field, keys) in [("stateReads", &self.step.state_reads), ("stateWrites", &self.step.state_writes)] {
            if keys.iter().any(String::is_empty) {
                let message = format!("{} lists an empty shared-state key in {field}", self.label());
                self.report(field, ProblemCode::InvalidField, message);
            }
        }
        if self.step.retries > MAX_RETRIES {
            let message =
                format!("{} asks for {} retries; the limit is {MAX_RETRIES}", self.label(), self.step.retries);
            self.report("retries", ProblemCode::LimitExceeded, message);
        }
        if !self.step.timeout.is_empty() {
            match parse_duration(&self.step.timeout) {
                Ok(timeout) => self.out.timeout = Some(timeout),
                Err(e) => {
                    let message = format!("{} has an invalid timeout: {e}", self.label());
                    self.report("timeout", ProblemCode::InvalidField, message);
                }
            }
        }
    }

    /// Type-specific fields set on a type that ignores them are most likely
    /// mistakes (a typo in `type`, or a field meant for another step).
    fn unused_fields(&mut self, kind: StepKind) {
        let unused: Vec<&str> = unused_fields(self.step, kind).collect();
        for field in unused {
            let message = format!("{} sets '{field}', which a {} step does not use", self.label(), kind.as_str());
            self.report(field, ProblemCode::InvalidField, message);
        }
    }
}
