//! The closed set of step types. Which fields each one uses is the table in
//! `fields.rs`.

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
}

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
}
