//! One thing wrong with a definition, located by step and field, so the API
//! can return every problem at once as field violations.

use std::fmt;

/// A problem found in a definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Id of the step the problem belongs to; empty for definition-level
    /// problems (schemas, policy, dialect sources).
    pub step_id: String,
    /// Where in the definition, in the JSON field names users write:
    /// `steps[3].inputMap.company`, `inputSchema`, `blocks[2].config.url`.
    pub field: String,
    /// Machine-readable kind.
    pub code: ProblemCode,
    /// A full sentence naming the step, e.g. "Step 'notify' depends on
    /// 'fetch' which doesn't exist".
    pub message: String,
}

impl Problem {
    pub fn new(
        step_id: impl Into<String>,
        field: impl Into<String>,
        code: ProblemCode,
        message: impl Into<String>,
    ) -> Self {
        Self { step_id: step_id.into(), field: field.into(), code, message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Kinds of problems; [`ProblemCode::as_str`] gives the UPPER_SNAKE wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemCode {
    /// Two steps anywhere in the tree share an id.
    DuplicateStepId,
    /// An id is empty, too long, has characters outside `[A-Za-z0-9_.-]`, or
    /// is reserved (`input`, `state`, `secrets`).
    InvalidStepId,
    /// `dependsOn` (or a graph edge) names a step that does not exist.
    MissingDependency,
    /// A step lists itself in `dependsOn`.
    SelfDependency,
    /// Steps wait for each other in a circle.
    Cycle,
    /// `type` is not a known step type.
    UnknownStepType,
    /// A field the step's type requires is empty.
    MissingField,
    /// A field has a value outside its allowed set, or is set on a type that
    /// does not use it.
    InvalidField,
    /// A JSONPath query does not parse.
    InvalidJsonPath,
    /// A condition expression does not parse.
    InvalidExpression,
    /// A `{{ }}` template does not parse.
    InvalidTemplate,
    /// `{{ secrets.NAME }}` (or `$.secrets…`) used outside a webhook or
    /// http_request header value.
    SecretOutsideHeader,
    /// `inputSchema` or `outputSchema` is not a valid JSON Schema.
    InvalidSchema,
    /// `onStepFailure.target` names a step that does not exist.
    UnknownGotoTarget,
    /// `onTrue`, `onFalse` or `onTimeout` names a step that does not exist.
    UnknownBranchTarget,
    /// Two steps write the same shared-state key with no order between
    /// them; a warning: they run one after the other, in the order the
    /// message names.
    ConflictingStateWrites,
    /// A size, count or depth cap is exceeded.
    LimitExceeded,
    /// The definition has no steps.
    EmptyDefinition,
}

/// Whether a problem refuses the definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The definition is refused.
    Error,
    /// The definition is accepted; the author should know.
    Warning,
}

impl Problem {
    /// True for a warning, which does not refuse the definition.
    pub fn is_warning(&self) -> bool {
        self.code.severity() == Severity::Warning
    }
}

impl ProblemCode {
    /// Whether problems of this kind refuse the definition.
    pub fn severity(&self) -> Severity {
        match self {
            Self::ConflictingStateWrites => Severity::Warning,
            Self::DuplicateStepId
            | Self::InvalidStepId
            | Self::MissingDependency
            | Self::SelfDependency
            | Self::Cycle
            | Self::UnknownStepType
            | Self::MissingField
            | Self::InvalidField
            | Self::InvalidJsonPath
            | Self::InvalidExpression
            | Self::InvalidTemplate
            | Self::SecretOutsideHeader
            | Self::InvalidSchema
            | Self::UnknownGotoTarget
            | Self::UnknownBranchTarget
            | Self::LimitExceeded
            | Self::EmptyDefinition => Severity::Error,
        }
    }

    /// The wire name, e.g. `"DUPLICATE_STEP_ID"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::DuplicateStepId => "DUPLICATE_STEP_ID",
            Self::InvalidStepId => "INVALID_STEP_ID",
            Self::MissingDependency => "MISSING_DEPENDENCY",
            Self::SelfDependency => "SELF_DEPENDENCY",
            Self::Cycle => "CYCLE",
            Self::UnknownStepType => "UNKNOWN_STEP_TYPE",
            Self::MissingField => "MISSING_FIELD",
            Self::InvalidField => "INVALID_FIELD",
            Self::InvalidJsonPath => "INVALID_JSONPATH",
            Self::InvalidExpression => "INVALID_EXPRESSION",
            Self::InvalidTemplate => "INVALID_TEMPLATE",
            Self::SecretOutsideHeader => "SECRET_OUTSIDE_HEADER",
            Self::InvalidSchema => "INVALID_SCHEMA",
            Self::UnknownGotoTarget => "UNKNOWN_GOTO_TARGET",
            Self::UnknownBranchTarget => "UNKNOWN_BRANCH_TARGET",
            Self::ConflictingStateWrites => "CONFLICTING_STATE_WRITES",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::EmptyDefinition => "EMPTY_DEFINITION",
        }
    }
}

impl fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_upper_snake() {
        assert_eq!(ProblemCode::DuplicateStepId.as_str(), "DUPLICATE_STEP_ID");
        assert_eq!(ProblemCode::InvalidJsonPath.to_string(), "INVALID_JSONPATH");
        assert_eq!(ProblemCode::ConflictingStateWrites.as_str(), "CONFLICTING_STATE_WRITES");
    }
}
