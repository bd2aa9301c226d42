//! Step pauses: a step that waits for a person before it goes on, and the
//! answers that end the wait.
//!
//! Two gates pause a step: a tool use that needs approval (the worker
//! holds, asking CheckToolUse again), and a cost over `maxCostPerStep`
//! (reported by a heartbeat, or by a completion whose output is then held
//! back until the answer, so no dependent starts on an over-budget
//! result). A pause is per step: independent branches keep going, and the
//! run shows Paused, with the first paused step's pending action, while
//! any pause is open. Its last answer makes the run Running again.
//!
//! An `approval` step is a pause of its own (see `steps/approval.rs`): it
//! opens as it starts, with the step's options. So is a `wait` step (see
//! `steps/wait.rs`), answered by its named event instead of an option.

use serde::Serialize;
use serde_json::{Value, json};

use super::instance::Instance;
use super::outcome::{ApprovalDecided, ApprovalOpened, ApprovalSubject, Decision, Effect, EventType};
use super::status::{RunStatus, StepStatus};
use super::tx::Tx;

/// Answers a tool approval takes. "deny" is read as "reject".
pub(super) const TOOL_OPTIONS: &[&str] = &["approve", "reject"];
/// Answers a cost ceiling takes.
pub(super) const COST_OPTIONS: &[&str] = &["continue", "cancel"];

/// Why one step instance is paused.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum StepPause {
    /// A tool use waits for approval.
    ToolApproval {
        /// `appr_…`.
        approval_id: String,
        /// The tool asked for.
        tool: String,
    },
    /// An approval step waits for its decision.
    StepApproval {
        /// `appr_…`, derived from the run and the step (see
        /// `steps/approval.rs`).
        approval_id: String,
        /// The step's `action`.
        action: String,
        /// Text for the approver.
        message: String,
        /// Choices offered, lower-case.
        options: Vec<String>,
        /// The option applied when the timeout fires: "approve" or "reject".
        default_option: String,
        /// When the timer armed for the timeout fires (ms), if the step
        /// has a timeout.
        due_ms: Option<i64>,
    },
    /// A wait step waits for its named event.
    Event {
        /// The event's name.
        event: String,
        /// When the timer armed for the timeout fires (ms), if the step
        /// has a timeout.
        due_ms: Option<i64>,
    },
    /// The step's cost passed `maxCostPerStep`.
    CostExceeded {
        /// The step's cost when it passed, cents.
        cost_cents: i64,
        /// The ceiling, cents.
        limit_cents: i64,
        /// A completion over the ceiling: its output, kept back until a
        /// "continue" completes the step with it. `None` for a heartbeat,
        /// whose worker still holds the attempt.
        held: Option<Value>,
        /// The held completion's explicit state writes.
        held_writes: Option<serde_json::Map<String, Value>>,
    },
}

/// What a paused run waits for, as GetRun shows it (`pendingAction`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingAction {
    /// Instance key of the paused step.
    pub step: String,
    /// "tool_approval", "approval", "event", "cost_exceeded" or "manual".
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Text for the person who answers.
    pub message: String,
    /// The answers ResumeRun accepts.
    pub options: Vec<String>,
    /// For "tool_approval" and "approval": the approval's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// For "tool_approval": the tool.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// For "event": the event's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// For "approval" and "event": when the step's timeout ends the wait
    /// (ms since the epoch), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl PendingAction {
    /// What a run held by PauseRun waits for: a plain ResumeRun.
    pub(super) fn manual(reason: &str) -> Self {
        let message = if reason.is_empty() {
            "Paused by PauseRun; continue it with ResumeRun.".to_owned()
        } else {
            format!("Paused by PauseRun: {reason}. Continue it with ResumeRun.")
        };
        Self {
            step: String::new(),
            kind: "manual",
            message,
            options: Vec::new(),
            approval_id: None,
            tool: None,
            event: None,
            expires_at: None,
        }
    }
}

impl StepPause {
    /// The answers this pause accepts.
    pub(super) fn options(&self) -> Vec<String> {
        let fixed = |o: &[&str]| o.iter().map(|s| (*s).to_owned()).collect();
        match self {
            Self::ToolApproval { .. } => fixed(TOOL_OPTIONS),
            Self::StepApproval { options, .. } => options.clone(),
            Self::CostExceeded { .. } => fixed(COST_OPTIONS),
            Self::Event { .. } => Vec::new(),
        }
    }

    /// Whether `option` (as normalized) is one this pause takes. "deny"
    /// and "reject" stand for each other, whichever the step offers.
    pub(super) fn takes(&self, option: &str) -> bool {
        let options = self.options();
        options.iter().any(|o| o == option || (option == "reject" && o == "deny"))
    }

    /// The approval this pause is, if it is one.
    pub(super) fn approval_id(&self) -> Option<&str> {
        match self {
            Self::ToolApproval { approval_id, .. } | Self::StepApproval { approval_id, .. } => Some(approval_id),
            Self::CostExceeded { .. } | Self::Event { .. } => None,
        }
    }

    pub(super) fn pending_action(&self, step: String) -> PendingAction {
        match self {
            Self::ToolApproval { approval_id, tool } => PendingAction {
                message: format!("Step '{step}' asks to use tool '{tool}', which needs approval. Approve?"),
                step,
                kind: "tool_approval",
                options: self.options(),
                approval_id: Some(approval_id.clone()),
                tool: Some(tool.clone()),
                event: None,
                expires_at: None,
            },
            Self::StepApproval { approval_id, message, options, due_ms, .. } => PendingAction {
                step,
                kind: "approval",
                message: message.clone(),
                options: options.clone(),
                approval_id: Some(approval_id.clone()),
                tool: None,
                event: None,
                expires_at: *due_ms,
            },
            Self::CostExceeded { cost_cents, limit_cents, .. } => PendingAction {
                message: format!(
                    "Step '{step}' has cost {cost_cents} cents, over maxCostPerStep {limit_cents}. \
                     Continue without a ceiling for this step, or cancel the run?"
                ),
                step,
                kind: "cost_exceeded",
                options: self.options(),
                approval_id: None,
                tool: None,
                event: None,
                expires_at: None,
            },
            Self::Event { event, due_ms } => PendingAction {
                message: format!("Step '{step}' waits for event '{event}'; deliver it with ResumeRun's event form."),
                step,
                kind: "event",
                options: Vec::new(),
                approval_id: None,
                tool: None,
                event: Some(event.clone()),
                expires_at: *due_ms,
            },
        }
    }
}

/// The option as the core reads it: lower-case, "deny" meaning "reject".
pub(super) fn normalize_option(option: &str) -> String {
    match option.trim().to_ascii_lowercase().as_str() {
        "deny" => "reject".to_owned(),
        other => other.to_owned(),
    }
}

impl Tx<'_> {
    /// Pauses a running instance; the run pauses with its first pause.
    pub(super) fn open_pause(&mut self, inst: Instance, pause: StepPause) {
        self.run.set_status(inst, StepStatus::Paused);
        self.run.pauses.insert(inst, pause);
        if self.run.status == RunStatus::Running {
            self.run.status = RunStatus::Paused;
            self.emit(EventType::RunPaused, None, RunStatus::Paused.as_str());
        }
    }

    /// Ends an instance's pause, leaving it Running; the run runs again
    /// when no pause is left.
    pub(super) fn close_pause(&mut self, inst: Instance) -> Option<StepPause> {
        let pause = self.run.pauses.remove(&inst)?;
        self.run.set_status(inst, StepStatus::Running);
        if self.run.pauses.is_empty() && self.run.hold.is_none() && self.run.status == RunStatus::Paused {
            self.run.status = RunStatus::Running;
            self.emit(EventType::RunResumed, None, RunStatus::Running.as_str());
        }
        Some(pause)
    }

    /// Records an approval opening: its approval.pending event (the step
    /// shows paused) and the row to insert, from the same struct.
    pub(super) fn approval_opened(&mut self, inst: Instance, opened: ApprovalOpened) {
        let event = self.emit(EventType::ApprovalPending, Some(inst), StepStatus::Paused.as_str());
        event.action = Some(opened.action.clone());
        event.data = Some(opened.data());
        self.out.effects.push(Effect::ApprovalOpened(opened));
    }

    /// Records a decision on an approval: its approval.decided event, with
    /// the step's status `status`, and the row change, from the same struct.
    pub(super) fn approval_decided(&mut self, inst: Instance, decided: ApprovalDecided, status: StepStatus) {
        let event = self.emit(EventType::ApprovalDecided, Some(inst), status.as_str());
        event.action = Some(decided.action.clone());
        event.data = Some(decided.data());
        self.out.effects.push(Effect::ApprovalDecided(decided));
    }

    /// A tool use needs approval: the step pauses (approval.pending).
    pub(super) fn request_tool_approval(&mut self, inst: Instance, approval_id: String, tool: String, args: Value) {
        let pause = StepPause::ToolApproval { approval_id: approval_id.clone(), tool: tool.clone() };
        let message = pause.pending_action(self.run.key(inst)).message;
        self.run.set_status(inst, StepStatus::Paused);
        let options = TOOL_OPTIONS.iter().map(|o| (*o).to_owned()).collect();
        let subject = ApprovalSubject::ToolUse { tool: tool.clone(), arguments: args };
        let step = self.run.key(inst);
        self.approval_opened(inst, ApprovalOpened { approval_id, step, action: tool, message, options, subject });
        self.open_pause(inst, pause);
    }

    /// The step's cost passed `maxCostPerStep`: it pauses
    /// (step.cost_exceeded), holding back `held`, a completion's output.
    pub(super) fn pause_over_cost(&mut self, inst: Instance, cost_cents: i64, limit_cents: i64, held: Option<Value>) {
        let source = if held.is_some() { "completion" } else { "heartbeat" };
        let currency = self.cap_currency();
        let total = self.run.total_cost_cents;
        let step = self.run.key(inst);
        self.run.set_status(inst, StepStatus::Paused);
        let event = self.emit(EventType::StepCostExceeded, Some(inst), StepStatus::Paused.as_str());
        event.cost_cents = Some(cost_cents);
        event.total_cost_cents = Some(total);
        event.data = Some(json!({
            "step": step,
            "cost": cost_cents,
            "limit": limit_cents,
            "currency": currency,
            "reportedBy": source,
        }));
        let held_writes = if held.is_some() { self.take_state_writes(inst) } else { None };
        self.open_pause(inst, StepPause::CostExceeded { cost_cents, limit_cents, held, held_writes });
    }

    /// Applies a checked answer to a paused instance.
    pub(super) fn answer(&mut self, inst: Instance, option: &str, decided_by: &str, comment: &str) {
        let Some(pause) = self.run.pauses.get(&inst).cloned() else { return };
        match pause {
            // Takes no options, so no answer is ever checked through.
            StepPause::Event { .. } => {}
            StepPause::StepApproval { .. } => self.decide_step_approval(inst, option, decided_by, comment, false),
            StepPause::ToolApproval { approval_id, tool } => {
                let decision = if option == "approve" { Decision::Approve } else { Decision::Deny };
                let decided = ApprovalDecided {
                    approval_id,
                    step: self.run.key(inst),
                    action: tool,
                    decision,
                    option: option.to_owned(),
                    decided_by: decided_by.to_owned(),
                    comment: Some(comment.to_owned()),
                    expired: None,
                };
                self.approval_decided(inst, decided, StepStatus::Running);
                self.close_pause(inst);
            }
            StepPause::CostExceeded { cost_cents, limit_cents, held, held_writes } => {
                if option != "continue" {
                    let currency = self.cap_currency();
                    let reason = format!(
                        "cost cap: step '{}' cost {cost_cents} {currency} cents over maxCostPerStep {limit_cents}; \
                         cancelled by {decided_by}",
                        self.run.key(inst)
                    );
                    return self.cancel_run(reason);
                }
                self.run.cost_waived.insert(inst);
                // A held output is taken right after, with its own event.
                let event = self.emit(EventType::StepResumed, Some(inst), StepStatus::Running.as_str());
                event.data = Some(json!({ "option": option, "decidedBy": decided_by }));
                self.close_pause(inst);
                if let Some(output) = held {
                    let cost = self.run.record(inst).map_or(0, |r| r.cost_cents);
                    self.state_writes = held_writes.map(|writes| (inst, writes));
                    self.take_output(inst, output, cost);
                    self.advance();
                }
            }
        }
    }

    /// Ends the pause of an instance that stops for another reason (its
    /// run ends, or its lease ran out), leaving its status to the caller:
    /// an open approval is closed as expired, so it is never left pending.
    pub(super) fn withdraw_pause(&mut self, inst: Instance, why: &str) -> Option<StepPause> {
        let pause = self.run.pauses.remove(&inst)?;
        let subject = match &pause {
            StepPause::ToolApproval { approval_id, tool } => Some((approval_id, tool)),
            StepPause::StepApproval { approval_id, action, .. } => Some((approval_id, action)),
            StepPause::CostExceeded { .. } | StepPause::Event { .. } => None,
        };
        if let Some((approval_id, action)) = subject {
            let decided = ApprovalDecided {
                approval_id: approval_id.clone(),
                step: self.run.key(inst),
                action: action.clone(),
                decision: Decision::Expired,
                option: String::new(),
                decided_by: why.to_owned(),
                comment: None,
                expired: None,
            };
            self.approval_decided(inst, decided, StepStatus::Paused);
        }
        Some(pause)
    }

    /// A paused instance's lease ran out (or its attempt timed out; `by`
    /// says which): the pause ends (the run runs again when it was the
    /// last) and the attempt is handled as lost.
    pub(super) fn lease_lost_while_paused(&mut self, inst: Instance, by: &str) {
        if let Some(pause) = self.withdraw_pause(inst, by) {
            self.run.pauses.insert(inst, pause);
            self.close_pause(inst);
        }
    }

    /// Withdraws the task of a paused instance being cancelled, when it
    /// still has one (a completion held over its ceiling has none).
    pub(super) fn cancel_paused(&mut self, inst: Instance) {
        let pause = self.withdraw_pause(inst, "system:run_ended");
        match pause {
            // An approval step has no task, only its timer, if any.
            Some(StepPause::StepApproval { due_ms, .. } | StepPause::Event { due_ms, .. }) => {
                if due_ms.is_some() {
                    self.out.effects.push(Effect::CancelTimer { step: self.run.key(inst) });
                }
            }
            Some(StepPause::CostExceeded { held: Some(_), .. }) => {}
            // A tool use or a heartbeat over its ceiling: the worker holds a task.
            Some(StepPause::ToolApproval { .. } | StepPause::CostExceeded { held: None, .. }) | None => {
                self.out.effects.push(Effect::CancelTask { step: self.run.key(inst) })
            }
        }
    }
}
