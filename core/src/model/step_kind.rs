//! The closed set of step types, and what each type *is* (external work,
//! structure, iteration, the server's own work). Every predicate here is
//! one exhaustive `match`, so a new type makes the compiler ask, once,
//! how it behaves, instead of falling into some default arm.
//!
//! The type-specific fields each type uses are the compiler's
//! (`compile/kind.rs`); what each type does at run time lives in
//! `run/steps/`.

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
    pub const fn as_str(self) -> &'static str {
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

    /// Whether the type's work happens outside the transition, as a task
    /// (a worker's, or the server's own built-in executor's), whose
    /// attempts are reported back by commands.
    pub fn is_external(self) -> bool {
        match self {
            Self::Agent | Self::Planner | Self::Webhook | Self::HttpRequest | Self::Script => true,
            Self::Parallel
            | Self::Condition
            | Self::Delay
            | Self::Approval
            | Self::Transform
            | Self::Map
            | Self::Wait
            | Self::Loop => false,
        }
    }

    /// Whether the type holds sub-steps and finishes with them (parallel,
    /// map, loop): it does no work of its own.
    pub fn is_structural(self) -> bool {
        match self {
            Self::Parallel | Self::Map | Self::Loop => true,
            Self::Agent
            | Self::Condition
            | Self::Delay
            | Self::Approval
            | Self::Webhook
            | Self::Transform
            | Self::Planner
            | Self::Wait
            | Self::HttpRequest
            | Self::Script => false,
        }
    }

    /// Whether the type runs its sub-step once per item (map, loop): its
    /// sub-steps are templates, never run as themselves.
    pub fn iterates(self) -> bool {
        match self {
            Self::Map | Self::Loop => true,
            Self::Agent
            | Self::Parallel
            | Self::Condition
            | Self::Delay
            | Self::Approval
            | Self::Webhook
            | Self::Transform
            | Self::Planner
            | Self::Wait
            | Self::HttpRequest
            | Self::Script => false,
        }
    }

    /// The reserved agent name the server's built-in executor claims this
    /// type's tasks under, for the types the server runs itself. Workers
    /// cannot register a name starting with [`BUILTIN_PREFIX`].
    pub fn builtin_agent(self) -> Option<&'static str> {
        match self {
            Self::Webhook => Some("weft:webhook"),
            Self::HttpRequest => Some("weft:http_request"),
            Self::Script => Some("weft:script"),
            Self::Agent
            | Self::Parallel
            | Self::Condition
            | Self::Delay
            | Self::Approval
            | Self::Transform
            | Self::Map
            | Self::Planner
            | Self::Wait
            | Self::Loop => None,
        }
    }
}

/// Prefix of the agent names the built-in executor claims tasks under.
pub const BUILTIN_PREFIX: &str = "weft:";

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
    fn predicates_agree_with_each_other() {
        for kind in StepKind::ALL {
            // What iterates is structural; structure is never a task.
            assert!(!kind.iterates() || kind.is_structural(), "{kind:?}");
            assert!(!(kind.is_structural() && kind.is_external()), "{kind:?}");
            // The server's own types are external work, under a reserved name.
            if let Some(agent) = kind.builtin_agent() {
                assert!(kind.is_external(), "{kind:?}");
                assert!(agent.starts_with(BUILTIN_PREFIX) && agent.ends_with(kind.as_str()), "{agent}");
            }
        }
    }
}
