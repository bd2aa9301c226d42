//! Approval steps: the step pauses as it starts (approval.pending, with a
//! timer for its `timeout`), and its decision, or the default action when
//! the timer fires first, completes it or, denied, fails it with
//! APPROVAL_DENIED so its onStepFailure route applies. The pause itself is
//! the shared step-pause machinery of `pause.rs`.

use serde_json::json;

use crate::compile::CompiledStep;
use crate::run::error_code::ErrorCode;
use crate::run::instance::Instance;
use crate::run::outcome::{ApprovalDecided, ApprovalOpened, ApprovalSubject, Decision, Effect};
use crate::run::pause::{StepPause, TOOL_OPTIONS};
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

/// What a decision on a step approval amounts to, from the option
/// chosen: "approve", "deny" or "escalate"; any other offered option
/// approves, and is kept as chosen so the workflow can branch on it.
fn decision_of(option: &str) -> Decision {
    match option {
        "reject" | "deny" => Decision::Deny,
        "escalate" => Decision::Escalate,
        _ => Decision::Approve,
    }
}

/// The id of an approval step's approval. Derived, not drawn at random,
/// because the transition must replay to the same state: FNV-1a (128-bit,
/// a fixed algorithm, so ids stay the same across builds) over the run id
/// and the instance key, written like the other ids.
fn step_approval_id(run_id: &str, key: &str) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    for byte in run_id.bytes().chain([b'/']).chain(key.bytes()) {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    format!("{}{}", crate::model::ids::APPROVAL_PREFIX, ulid::Ulid::from(hash).to_string().to_lowercase())
}

impl Tx<'_> {
    /// An approval step starts: it pauses (approval.pending) until
    /// decided, with a timer for its timeout when it has one.
    pub(super) fn open_step_approval(
        &mut self,
        inst: Instance,
        step: &CompiledStep,
        action: &str,
        message: Option<&str>,
        options: &[String],
        default_approves: bool,
    ) {
        let action = action.to_owned();
        let message = message.map_or_else(|| format!("Approve {action}?"), str::to_owned);
        let mut options = options.to_vec();
        if options.is_empty() {
            options = TOOL_OPTIONS.iter().map(|o| (*o).to_owned()).collect();
        }
        let default_option = if default_approves { "approve" } else { "reject" }.to_owned();
        let timeout = step.timeout();
        let key = self.run.key(inst);
        // A step run again (ResumeRun from_step) asks anew: a fresh approval,
        // since the earlier one stays decided (expired) for audit.
        let attempt = self.run.record(inst).map_or(0, |r| r.attempts) + 1;
        let approval_id = match attempt {
            1 => step_approval_id(self.run.run_id(), &key),
            n => step_approval_id(self.run.run_id(), &format!("{key}#{n}")),
        };
        let expires_ms =
            timeout.map(|t| self.now_ms.saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX / 2)));
        self.begin(inst, StepStatus::Running);
        self.run.set_status(inst, StepStatus::Paused);
        let default_action = if default_approves { Decision::Approve } else { Decision::Deny };
        let opened = ApprovalOpened {
            approval_id: approval_id.clone(),
            step: key.clone(),
            action: action.clone(),
            message: message.clone(),
            options: options.clone(),
            subject: ApprovalSubject::Step { default_action, expires_ms },
        };
        self.approval_opened(inst, opened);
        if let Some(due_ms) = expires_ms {
            self.out.effects.push(Effect::ArmTimer { step: key, due_ms });
        }
        let pause =
            StepPause::StepApproval { approval_id, action, message, options, default_option, due_ms: expires_ms };
        self.open_pause(inst, pause);
    }

    /// An approval step's timer fired while it still waits: its default
    /// action is the decision, by "system:timeout".
    pub(super) fn expire_step_approval(&mut self, inst: Instance) {
        let Some(StepPause::StepApproval { default_option, .. }) = self.run.pauses.get(&inst).cloned() else {
            return;
        };
        self.decide_step_approval(inst, &default_option, "system:timeout", "", true);
    }

    /// Closes an approval step's pause with `option`: approve and escalate
    /// (and custom options) complete the step, a denial fails it with
    /// APPROVAL_DENIED so its onStepFailure route applies.
    pub(in crate::run) fn decide_step_approval(
        &mut self,
        inst: Instance,
        option: &str,
        decided_by: &str,
        comment: &str,
        expired: bool,
    ) {
        let Some(StepPause::StepApproval { approval_id, action, due_ms, .. }) = self.run.pauses.get(&inst).cloned()
        else {
            return;
        };
        let decision = decision_of(option);
        let decided = ApprovalDecided {
            approval_id,
            step: self.run.key(inst),
            action: action.clone(),
            decision,
            option: option.to_owned(),
            decided_by: decided_by.to_owned(),
            comment: Some(comment.to_owned()),
            expired: Some(expired),
        };
        self.approval_decided(inst, decided, StepStatus::Running);
        if due_ms.is_some() && !expired {
            self.out.effects.push(Effect::CancelTimer { step: self.run.key(inst) });
        }
        self.close_pause(inst);
        if decision == Decision::Deny {
            let step = self.run.key(inst);
            let message = format!("approval of '{action}' at step '{step}' was denied by {decided_by}");
            self.step_failed_as(inst, ErrorCode::ApprovalDenied, message);
        } else {
            let mut output = json!({ "decision": decision.as_str(), "decidedBy": decided_by });
            if !comment.is_empty() {
                output["comment"] = json!(comment);
            }
            if option != decision.as_str() {
                output["option"] = json!(option);
            }
            self.complete(inst, output, None);
        }
        self.advance();
    }
}
