//! The type-specific fields each step type uses. The type itself,
//! [`StepKind`], is a model type (`model/step_kind.rs`), re-exported here.

use crate::model::definition::StepDef;

pub use crate::model::step_kind::StepKind;

impl StepKind {
    /// The type-specific fields this type uses (shared fields such as
    /// `inputMap` or `timeout` are always allowed).
    pub(crate) fn fields(self) -> &'static [&'static str] {
        match self {
            Self::Agent | Self::Planner => &["agent", "task"],
            Self::Parallel => &["steps"],
            Self::Condition => &["expression", "onTrue", "onFalse"],
            Self::Delay => &["duration"],
            Self::Approval => &["action", "defaultAction", "message", "options"],
            Self::Webhook => &["url", "method", "headers", "waitForCallback"],
            Self::HttpRequest => &["url", "method", "headers", "body"],
            Self::Transform => &["output"],
            Self::Map => &["over", "as", "concurrency", "step"],
            Self::Loop => &["over", "while", "until", "as", "steps", "step", "maxIterations"],
            Self::Wait => &["event", "onTimeout"],
            Self::Script => &["language", "script"],
        }
    }
}

/// Type-specific fields that hold a non-default value, by JSON name.
pub(crate) fn set_specific_fields(step: &StepDef) -> impl Iterator<Item = &'static str> + '_ {
    SPECIFIC_FIELDS.iter().filter(|(_, is_set)| is_set(step)).map(|(name, _)| *name)
}

/// JSON names of every type-specific field.
pub(crate) fn specific_field_names() -> impl Iterator<Item = &'static str> {
    SPECIFIC_FIELDS.iter().map(|(name, _)| *name)
}

type FieldProbe = (&'static str, fn(&StepDef) -> bool);

const SPECIFIC_FIELDS: &[FieldProbe] = &[
    ("agent", |s| !s.agent.is_empty()),
    ("task", |s| !s.task.is_empty()),
    ("steps", |s| !s.steps.is_empty()),
    ("expression", |s| !s.expression.is_empty()),
    ("onTrue", |s| s.on_true.is_some()),
    ("onFalse", |s| s.on_false.is_some()),
    ("duration", |s| s.duration != 0),
    ("action", |s| !s.action.is_empty()),
    ("defaultAction", |s| !s.default_action.is_empty()),
    ("message", |s| !s.message.is_empty()),
    ("options", |s| !s.options.is_empty()),
    ("url", |s| !s.url.is_empty()),
    ("method", |s| !s.method.is_empty()),
    ("headers", |s| !s.headers.is_empty()),
    ("waitForCallback", |s| s.wait_for_callback),
    ("body", |s| s.body.is_some()),
    ("output", |s| !s.output.is_empty()),
    ("over", |s| !s.over.is_empty()),
    ("as", |s| !s.as_name.is_empty()),
    ("concurrency", |s| s.concurrency != 0),
    ("step", |s| s.step.is_some()),
    ("maxIterations", |s| s.max_iterations != 0),
    ("while", |s| !s.while_condition.is_empty()),
    ("until", |s| !s.until_condition.is_empty()),
    ("event", |s| !s.event.is_empty()),
    ("onTimeout", |s| s.on_timeout.is_some()),
    ("language", |s| !s.language.is_empty()),
    ("script", |s| !s.script.is_empty()),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_specific_field_belongs_to_some_type() {
        for (name, _) in SPECIFIC_FIELDS {
            assert!(StepKind::ALL.iter().any(|k| k.fields().contains(name)), "{name}");
        }
    }
}
