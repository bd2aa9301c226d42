//! The closed set of step types, and the type-specific fields each one uses.

use crate::model::definition::StepDef;

/// A step type. Definitions carry the type as a string so that an unknown
/// type is reported with every other problem; compiled steps carry this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// Runs an agent on a task (the default type).
    Agent,
    /// Runs its sub-steps together.
    Parallel,
    /// Picks `onTrue` or `onFalse`.
    Condition,
    /// Waits `duration` seconds.
    Delay,
    /// Waits for a human decision.
    Approval,
    /// Calls out over HTTP, optionally waiting for a callback.
    Webhook,
    /// Reshapes data with JSONPath.
    Transform,
    /// Runs `step` once per item of `over`.
    Map,
    /// Runs an agent whose output is new steps to splice in.
    Planner,
    /// Waits for a named external event.
    Wait,
    /// Makes one HTTP request.
    HttpRequest,
    /// Runs a script in a child process of the server (when enabled).
    Script,
    /// Runs its sub-steps once per item of `over`.
    Loop,
}

impl StepKind {
    /// Every type, in documentation order.
    pub const ALL: [StepKind; 13] = [
        Self::Agent,
        Self::Parallel,
        Self::Condition,
        Self::Delay,
        Self::Approval,
        Self::Webhook,
        Self::Transform,
        Self::Map,
        Self::Planner,
        Self::Wait,
        Self::HttpRequest,
        Self::Script,
        Self::Loop,
    ];

    /// Reads a type name; `""` and the dialect alias `"agent_task"` mean agent.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "" | "agent_task" => Some(Self::Agent),
            _ => Self::ALL.into_iter().find(|k| k.as_str() == name),
        }
    }

    /// The canonical name, as written in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::Parallel => "parallel",
            Self::Condition => "condition",
            Self::Delay => "delay",
            Self::Approval => "approval",
            Self::Webhook => "webhook",
            Self::Transform => "transform",
            Self::Map => "map",
            Self::Planner => "planner",
            Self::Wait => "wait",
            Self::HttpRequest => "http_request",
            Self::Script => "script",
            Self::Loop => "loop",
        }
    }

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
    fn names_round_trip_and_aliases_mean_agent() {
        for kind in StepKind::ALL {
            assert_eq!(StepKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(StepKind::from_name(""), Some(StepKind::Agent));
        assert_eq!(StepKind::from_name("agent_task"), Some(StepKind::Agent));
        assert_eq!(StepKind::from_name("lambda"), None);
    }

    #[test]
    fn every_specific_field_belongs_to_some_type() {
        for (name, _) in SPECIFIC_FIELDS {
            assert!(StepKind::ALL.iter().any(|k| k.fields().contains(name)), "{name}");
        }
    }
}
