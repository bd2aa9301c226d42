//! Wake-ups for workers waiting on the task queue. After a commit that
//! queued tasks, the writer rings the (tenant, agent) of each one, so a
//! long-polling worker claims it at once instead of sleeping and polling.
//! A ring is a hint: the claim in the store decides who gets the task.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// (tenant, agent) → its bell.
type Bells = HashMap<(String, String), Arc<Notify>>;

/// One [`Notify`] per (tenant, agent), made on first use.
#[derive(Clone, Default)]
pub struct TaskSignals {
    bells: Arc<Mutex<Bells>>,
}

impl TaskSignals {
    /// The bell of an agent's queue, to wait on before claiming.
    pub fn bell(&self, tenant: &str, agent: &str) -> Arc<Notify> {
        let mut bells = self.bells.lock().expect("task signals");
        bells.entry((tenant.to_string(), agent.to_string())).or_default().clone()
    }

    /// Wakes one waiter of the agent's queue for each task queued (or
    /// leaves a permit when none waits, so the next claim is not skipped).
    pub(super) fn ring(&self, tenant: &str, agent: &str) {
        let bell = self.bells.lock().expect("task signals").get(&(tenant.to_string(), agent.to_string())).cloned();
        if let Some(bell) = bell {
            bell.notify_one();
        }
    }
}
