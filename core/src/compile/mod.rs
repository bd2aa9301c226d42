//! Compiling a workflow definition: normalize every accepted shape into flat
//! steps, validate all of it at once, and build the step DAG with every
//! expression pre-parsed, so the engine never parses per step.
//!
//! # Layout
//!
//! - `normalize.rs`, `dialect.rs`: config objects, type aliases, the
//!   `states` and `blocks` + `edges` dialects → canonical flat steps.
//! - `kind.rs`, `fields.rs`: the step types, and the one table of step
//!   fields (which type uses which, how a config key moves into one).
//! - `index.rs`: the step tree flattened (preorder), ids resolved, size caps.
//! - `checks.rs`, `type_checks.rs`, `document.rs`: field checks per step and
//!   for the definition; expressions parsed here, once.
//! - `graph.rs`, `cycle.rs`, `state_writes.rs`: the DAG, cycle reports,
//!   unordered shared-state writers serialized (with a warning).
//! - `compiled.rs`: [`CompiledWorkflow`], what the engine runs from.
//! - `plan.rs`: a planner's output checked and merged into a run's DAG.
//! - `trigger.rs`: webhook trigger blocks of the graph dialect and their
//!   credentials.

mod checks;
mod compiled;
mod compiled_kind;
mod cycle;
mod dialect;
mod document;
mod duration;
mod fields;
mod graph;
mod index;
mod kind;
mod normalize;
mod path;
mod plan;
mod problem;
mod state_writes;
pub mod trigger;
mod type_checks;

#[cfg(test)]
mod tests;

pub use checks::{MAX_ID_LEN, MAX_RETRIES, RESERVED_IDS};
pub use compiled::{CompiledStep, CompiledWorkflow};
pub use compiled_kind::{CompiledKind, FailureAction, LoopDriver, Request, Shared, TransformRole, WaitTrigger};
pub use document::MAX_SCHEMA_DEPTH;
pub use duration::{DurationError, MAX_DURATION, parse_duration};
pub use graph::EdgeKind;
pub use kind::StepKind;
pub use normalize::normalize;
pub use plan::{Splice, splice_plan};
pub use problem::{Problem, ProblemCode, Severity};
pub use type_checks::{HTTP_METHODS, MAX_CONCURRENCY, MAX_LOOP_ITERATIONS, MAX_URL_LEN, SCRIPT_LANGUAGES};

use crate::model::definition::Definition;

/// Most steps in one definition, sub-steps included.
pub const MAX_STEPS: usize = 20_000;
/// Deepest nesting of sub-steps (parallel, loop, map) below a top-level step.
pub const MAX_NESTING: usize = 16;

/// Every problem of a normalized definition at once, each naming its step;
/// empty means valid.
///
/// What normalizing itself reports (unknown config keys, dialect errors) is
/// [`normalize`]'s to return, so callers starting from raw input run
/// `normalize` first and keep both lists, or call [`compile`], which does
/// both. A definition that was not normalized is checked as `normalize`
/// would leave it, so an alias or config object is never misreported.
pub fn validate(def: &Definition) -> Vec<Problem> {
    if normalize::needs_normalize(def) {
        let mut normalized = def.clone();
        normalize(&mut normalized);
        analyze(&normalized).problems
    } else {
        analyze(def).problems
    }
}

/// What a valid definition should still be told: warnings (each with a
/// [`Severity::Warning`] code), such as shared-state writers that will be
/// serialized. Empty when the definition has errors that stop the analysis
/// before they are looked for.
pub fn warnings(def: &Definition) -> Vec<Problem> {
    if normalize::needs_normalize(def) {
        let mut normalized = def.clone();
        normalize(&mut normalized);
        analyze(&normalized).warnings
    } else {
        analyze(def).warnings
    }
}

/// Normalizes a copy of `def`, validates it and builds its DAG. Fails with
/// every problem found; warnings do not fail it.
pub fn compile(def: &Definition) -> Result<CompiledWorkflow, Vec<Problem>> {
    let mut normalized = def.clone();
    let mut problems = normalize(&mut normalized);
    let analysis = analyze(&normalized);
    problems.extend(analysis.problems);
    match analysis.parts {
        Some(parts) if problems.is_empty() => Ok(CompiledWorkflow::assemble(normalized, parts)),
        _ => Err(problems),
    }
}

struct Analysis {
    problems: Vec<Problem>,
    /// What is allowed but worth saying.
    warnings: Vec<Problem>,
    /// Present when the step tree could be analyzed and had no cycle.
    parts: Option<compiled::Parts>,
}

/// Validates a normalized definition, keeping what compiling needs.
fn analyze(def: &Definition) -> Analysis {
    let mut problems = Vec::new();
    let schemas = document::check_document(def, &mut problems);
    if def.steps.is_empty() {
        let message = "The definition has no steps; a workflow needs at least one";
        problems.push(Problem::new("", "steps", ProblemCode::EmptyDefinition, message));
        return Analysis { problems, warnings: Vec::new(), parts: None };
    }
    let Some(index) = index::StepIndex::build(def, &mut problems) else {
        return Analysis { problems, warnings: Vec::new(), parts: None };
    };
    let roles = dialect::transform_roles(def);
    let checked: Vec<checks::CheckedStep> =
        (0..index.entries.len()).map(|at| checks::check_step(&index, at, &roles, &mut problems)).collect();
    let mut graph = graph::build(&index, &checked);
    if graph::topological_order(&graph).is_none() {
        cycle::report_cycles(&graph, &index, &mut problems);
        return Analysis { problems, warnings: Vec::new(), parts: None };
    }
    let mut warnings = Vec::new();
    state_writes::serialize_writers(&mut graph, &index, &mut warnings);
    // Ordering edges follow a topological order, so the graph stays acyclic.
    let order = graph::topological_order(&graph).unwrap_or_default();
    let shape = index.entries.iter().map(|e| (e.parent, e.slot)).collect();
    let parts =
        compiled::Parts { graph, order, shape, checked, input_schema: schemas.input, output_schema: schemas.output };
    Analysis { problems, warnings, parts: Some(parts) }
}
