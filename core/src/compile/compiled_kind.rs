//! A compiled step's type with the fields that type uses, typed: what the
//! run core reads instead of the flat, stringly [`StepDef`]. Built once per
//! workflow version, from a definition that passed its checks, so every
//! field here is the one its type uses (the checks refuse the others).
//!
//! Expressions parsed for several types (`over`, conditions, task and body
//! templates) stay on [`super::CompiledStep`], next to the graph.

use std::collections::BTreeMap;

use serde_json::Value;

use super::kind::StepKind;
use crate::model::definition::StepDef;

/// A step's type and its type-specific fields.
#[derive(Debug, Clone, PartialEq)]
pub enum CompiledKind {
    /// Runs a worker's agent on its task.
    Agent {
        /// The agent name asked for; `None` lets any worker take it.
        agent: Option<String>,
    },
    /// An agent whose output is a plan of new steps.
    Planner {
        /// As for [`CompiledKind::Agent`].
        agent: Option<String>,
    },
    /// Runs its sub-steps together.
    Parallel,
    /// Evaluates its condition (on the compiled step) to a branch.
    Condition,
    /// Waits `seconds`.
    Delay {
        /// The `duration`, in seconds.
        seconds: u32,
    },
    /// Waits for a person's decision.
    Approval {
        /// What is asked for.
        action: String,
        /// Text for the approver; `None` when the step sets none.
        message: Option<String>,
        /// Choices offered, trimmed and lower-case; empty: the default ones.
        options: Vec<String>,
        /// Whether the timeout's default action approves (else it denies).
        default_approves: bool,
    },
    /// Calls out over HTTP, optionally waiting for a callback.
    Webhook {
        /// The request.
        request: Request,
        /// Whether the outcome comes from a callback, not the response.
        wait_for_callback: bool,
    },
    /// Makes one HTTP request.
    HttpRequest {
        /// The request.
        request: Request,
    },
    /// Runs a script in a child process.
    Script {
        /// The interpreter's name.
        language: String,
        /// The program.
        script: String,
    },
    /// Reshapes data (its `output` paths are on the compiled step), or
    /// stands for a dialect's entry, exit or end state.
    Transform {
        /// What the step yields.
        role: TransformRole,
    },
    /// Runs its sub-step once per item of `over`.
    Map {
        /// `over` as written, for messages (parsed on the compiled step).
        over: String,
        /// The name each item is bound under.
        as_name: String,
        /// Items in flight at most, at least 1.
        concurrency: u32,
    },
    /// Runs its body once per iteration.
    Loop {
        /// What decides whether another iteration runs.
        driver: LoopDriver,
        /// `over` as written, for messages.
        over: String,
        /// The name the item (or iteration index) is bound under.
        as_name: String,
        /// `maxIterations` as written; 0 when unset.
        max_iterations: u32,
    },
    /// Waits for a named event, a duration, or a condition to hold.
    Wait {
        /// What ends the wait.
        trigger: WaitTrigger,
        /// Whether the step has an `onTimeout` branch to take when its
        /// timer fires first.
        on_timeout: bool,
    },
}

/// What a transform step yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransformRole {
    /// An object of its `output` paths; `{}` when it has none (a join
    /// point).
    Reshape,
    /// What flows into it: the run input when it depends on nothing, its
    /// one dependency's output, or an object of its dependencies' outputs
    /// by id. A graph's `starter` and `response` blocks and a state
    /// machine's `succeed` states.
    Forward,
    /// Fails the run with the state's `error` (a code) and `cause` (a
    /// sentence): a state machine's `fail` state.
    Fail {
        /// The state's `error`, as written; may be empty.
        error: String,
        /// The state's `cause`, as written; may be empty.
        cause: String,
    },
}

/// What ends a wait step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitTrigger {
    /// A named event, delivered through ResumeRun.
    Event(String),
    /// A number of seconds passing, like a delay.
    Duration(u32),
    /// Its condition (on the compiled step) holding; checked as it starts
    /// and again whenever a step completes (which is when outputs and
    /// shared state change).
    Condition,
}

/// What decides whether a loop runs another iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopDriver {
    /// One iteration per element of `over`.
    Over,
    /// Before each iteration, its `while` condition.
    While,
    /// After each iteration, its `until` condition.
    Until,
}

/// The request of a webhook or http_request step, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Where to send it.
    pub url: String,
    /// The method, upper-case.
    pub method: String,
    /// Headers, by name.
    pub headers: BTreeMap<String, String>,
    /// The body, with `{{ }}` placeholders still in it (their templates are
    /// on the compiled step).
    pub body: Option<Value>,
}

/// How a step's final failure is routed, from `onStepFailure.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// "goto": to the recovery step (when it has one).
    Goto,
    /// "continue": what depends on it is skipped, the run goes on.
    Continue,
    /// Anything else: the run stops.
    Stop,
}

impl FailureAction {
    fn of(action: &str) -> Self {
        match action {
            "goto" => Self::Goto,
            "continue" => Self::Continue,
            _ => Self::Stop,
        }
    }
}

impl CompiledKind {
    /// The typed fields of `def`, a step of type `kind` that passed its
    /// checks; `role` is a transform's (ignored for other types).
    pub fn of(kind: StepKind, def: &StepDef, role: TransformRole) -> Self {
        let agent = || Some(def.agent.clone()).filter(|a| !a.is_empty());
        let request = || Request {
            url: def.url.clone(),
            method: def.method.to_ascii_uppercase(),
            headers: def.headers.clone(),
            body: def.body.clone(),
        };
        match kind {
            StepKind::Agent => Self::Agent { agent: agent() },
            StepKind::Planner => Self::Planner { agent: agent() },
            StepKind::Parallel => Self::Parallel,
            StepKind::Condition => Self::Condition,
            StepKind::Delay => Self::Delay { seconds: def.duration },
            StepKind::Approval => Self::Approval {
                action: def.action.clone(),
                message: Some(def.message.clone()).filter(|m| !m.is_empty()),
                options: def.options.iter().map(|o| o.trim().to_ascii_lowercase()).collect(),
                default_approves: def.default_action.trim().eq_ignore_ascii_case("approve"),
            },
            StepKind::Webhook => Self::Webhook { request: request(), wait_for_callback: def.wait_for_callback },
            StepKind::HttpRequest => Self::HttpRequest { request: request() },
            StepKind::Script => Self::Script { language: def.language.clone(), script: def.script.clone() },
            StepKind::Transform => Self::Transform { role },
            StepKind::Map => {
                Self::Map { over: def.over.clone(), as_name: as_name(def), concurrency: def.concurrency.max(1) }
            }
            StepKind::Loop => Self::Loop {
                driver: if !def.while_condition.is_empty() {
                    LoopDriver::While
                } else if !def.until_condition.is_empty() {
                    LoopDriver::Until
                } else {
                    LoopDriver::Over
                },
                over: def.over.clone(),
                as_name: as_name(def),
                max_iterations: def.max_iterations,
            },
            StepKind::Wait => Self::Wait {
                trigger: if !def.event.is_empty() {
                    WaitTrigger::Event(def.event.clone())
                } else if def.duration > 0 {
                    WaitTrigger::Duration(def.duration)
                } else {
                    WaitTrigger::Condition
                },
                on_timeout: def.on_timeout.as_ref().is_some_and(|b| !b.next.is_empty()),
            },
        }
    }

    /// The name a map's or loop's item (or iteration index) is bound
    /// under; `None` for the types that run no items.
    pub fn item_name(&self) -> Option<&str> {
        match self {
            Self::Map { as_name, .. } | Self::Loop { as_name, .. } => Some(as_name),
            Self::Agent { .. }
            | Self::Planner { .. }
            | Self::Parallel
            | Self::Condition
            | Self::Delay { .. }
            | Self::Approval { .. }
            | Self::Webhook { .. }
            | Self::HttpRequest { .. }
            | Self::Script { .. }
            | Self::Transform { .. }
            | Self::Wait { .. } => None,
        }
    }

    /// The plain type.
    pub fn kind(&self) -> StepKind {
        match self {
            Self::Agent { .. } => StepKind::Agent,
            Self::Planner { .. } => StepKind::Planner,
            Self::Parallel => StepKind::Parallel,
            Self::Condition => StepKind::Condition,
            Self::Delay { .. } => StepKind::Delay,
            Self::Approval { .. } => StepKind::Approval,
            Self::Webhook { .. } => StepKind::Webhook,
            Self::HttpRequest { .. } => StepKind::HttpRequest,
            Self::Script { .. } => StepKind::Script,
            Self::Transform { .. } => StepKind::Transform,
            Self::Map { .. } => StepKind::Map,
            Self::Loop { .. } => StepKind::Loop,
            Self::Wait { .. } => StepKind::Wait,
        }
    }
}

/// The shared fields of a step the run core needs, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Shared {
    /// Extra attempts the step itself allows.
    pub retries: u32,
    /// `onStepFailure.action`, when the step sets a route.
    pub failure_action: Option<FailureAction>,
    /// `stateReads`.
    pub state_reads: Vec<String>,
    /// `stateWrites`.
    pub state_writes: Vec<String>,
    /// `inputMap` as written, by key, for messages (parsed on the step).
    pub input_sources: BTreeMap<String, String>,
}

impl Shared {
    pub fn of(def: &StepDef) -> Self {
        Self {
            retries: def.retries,
            failure_action: def.on_step_failure.as_ref().map(|r| FailureAction::of(&r.action)),
            state_reads: def.state_reads.clone(),
            state_writes: def.state_writes.clone(),
            input_sources: def.input_map.clone(),
        }
    }
}

/// A map's or loop's `as`, "item" when unset.
fn as_name(def: &StepDef) -> String {
    if def.as_name.is_empty() { "item".to_owned() } else { def.as_name.clone() }
}
