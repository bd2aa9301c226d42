//! Delay steps: the step waits on a durable timer for its `duration`, and
//! completes with an empty object when it fires. (Withdrawing the timer
//! when the step is cancelled or reset is in `steps/mod.rs`.)

use serde_json::json;

use crate::run::instance::Instance;
use crate::run::outcome::Effect;
use crate::run::status::StepStatus;
use crate::run::tx::Tx;

impl Tx<'_> {
    /// Arms the delay's timer.
    pub(super) fn start_delay(&mut self, inst: Instance, seconds: u32) {
        self.begin(inst, StepStatus::Waiting);
        let step = self.run.key(inst);
        let due_ms = self.now_ms.saturating_add(i64::from(seconds) * 1000);
        self.out.effects.push(Effect::ArmTimer { step, due_ms });
    }

    /// The delay's timer fired: the step completes.
    pub(super) fn delay_done(&mut self, inst: Instance) {
        self.complete(inst, json!({}), None);
        self.advance();
    }
}
