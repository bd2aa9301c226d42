//! Registered workers: who serves which agents, and when each was last
//! heard from. Kept in memory on purpose: a registration is cheap to
//! repeat, and a worker told NOT_FOUND for itself (after a restart, or after
//! [`FORGET_AFTER_MS`] of silence) registers again, as the protocol says.
//! What must survive a restart, the tasks and their leases, is in the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::engine::estimate::CostHint;
use crate::model::definition::Money;
use crate::model::ids;

/// A worker silent this long is forgotten.
pub const FORGET_AFTER_MS: i64 = 10 * 60 * 1000;

/// Expected cost of one call of an agent, as a worker declares it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentCostHint {
    /// Agent name.
    pub agent: String,
    /// Lowest expected cost.
    pub min: Money,
    /// Highest expected cost.
    pub max: Money,
}

/// What a worker registers with (already checked by the api layer).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkerRegistration {
    /// Chosen id, or empty for a server-assigned `wkr_…`.
    pub worker_id: String,
    /// Display name.
    pub name: String,
    /// Agent names served; never empty.
    pub agents: Vec<String>,
    /// Most tasks at once, as declared.
    pub concurrency: u32,
    /// Per-agent cost hints.
    pub cost_hints: Vec<AgentCostHint>,
}

/// A registered worker as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerEntry {
    /// The registration, with its id filled in.
    pub registration: WorkerRegistration,
    /// When it registered (or registered again), ms since the epoch.
    pub registered_ms: i64,
    /// Last registration, poll or heartbeat, ms since the epoch.
    pub last_seen_ms: i64,
}

/// The workers of every tenant; cheap to clone.
#[derive(Clone, Default)]
pub struct WorkerRegistry {
    entries: Arc<Mutex<HashMap<(String, String), WorkerEntry>>>,
}

impl WorkerRegistry {
    /// Registers a worker, or replaces the registration of the same id.
    /// Returns the worker id.
    pub fn register(&self, tenant: &str, mut registration: WorkerRegistration, now_ms: i64) -> String {
        if registration.worker_id.is_empty() {
            registration.worker_id = ids::new_worker_id();
        }
        let id = registration.worker_id.clone();
        let mut entries = self.entries.lock().expect("worker registry");
        forget_silent(&mut entries, now_ms);
        entries.insert(
            (tenant.to_string(), id.clone()),
            WorkerEntry { registration, registered_ms: now_ms, last_seen_ms: now_ms },
        );
        id
    }

    /// Marks a worker as heard from now and returns its agents; `None` when
    /// it is not registered (or was forgotten).
    pub fn touch(&self, tenant: &str, worker_id: &str, now_ms: i64) -> Option<Vec<String>> {
        let mut entries = self.entries.lock().expect("worker registry");
        forget_silent(&mut entries, now_ms);
        let entry = entries.get_mut(&(tenant.to_string(), worker_id.to_string()))?;
        entry.last_seen_ms = now_ms;
        Some(entry.registration.agents.clone())
    }

    /// The tenant's workers (only those serving `agent` when given), most
    /// recently seen first, ties by id.
    pub fn list(&self, tenant: &str, agent: Option<&str>, now_ms: i64) -> Vec<WorkerEntry> {
        let mut entries = self.entries.lock().expect("worker registry");
        forget_silent(&mut entries, now_ms);
        let mut listed: Vec<WorkerEntry> = entries
            .iter()
            .filter(|((t, _), entry)| {
                t == tenant && agent.is_none_or(|a| entry.registration.agents.iter().any(|served| served == a))
            })
            .map(|(_, entry)| entry.clone())
            .collect();
        listed.sort_by(|a, b| {
            b.last_seen_ms.cmp(&a.last_seen_ms).then_with(|| a.registration.worker_id.cmp(&b.registration.worker_id))
        });
        listed
    }
}

impl WorkerRegistry {
    /// The cost hints of the tenant's workers by agent, for estimates.
    /// Several workers hinting at one agent widen its range: the lowest
    /// minimum and the highest maximum (of hints in the first currency seen,
    /// workers taken by id).
    pub fn cost_hints(&self, tenant: &str, now_ms: i64) -> HashMap<String, CostHint> {
        let mut workers = self.list(tenant, None, now_ms);
        workers.sort_by(|a, b| a.registration.worker_id.cmp(&b.registration.worker_id));
        let mut hints: HashMap<String, CostHint> = HashMap::new();
        for hint in workers.iter().flat_map(|w| &w.registration.cost_hints) {
            let currency = hint.min.currency.to_lowercase();
            let entry = hints.entry(hint.agent.clone()).or_insert_with(|| CostHint {
                min: hint.min.amount,
                max: hint.max.amount,
                currency: currency.clone(),
            });
            if entry.currency == currency {
                entry.min = entry.min.min(hint.min.amount);
                entry.max = entry.max.max(hint.max.amount);
            }
        }
        hints
    }
}

fn forget_silent(entries: &mut HashMap<(String, String), WorkerEntry>, now_ms: i64) {
    entries.retain(|_, entry| now_ms - entry.last_seen_ms < FORGET_AFTER_MS);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration(id: &str, agents: &[&str]) -> WorkerRegistration {
        WorkerRegistration {
            worker_id: id.into(),
            agents: agents.iter().map(|a| a.to_string()).collect(),
            concurrency: 1,
            ..Default::default()
        }
    }

    #[test]
    fn a_worker_is_listed_by_last_sight_and_forgotten_after_silence() {
        let registry = WorkerRegistry::default();
        registry.register("t", registration("a", &["x"]), 1_000);
        registry.register("t", registration("b", &["y"]), 2_000);
        assert_eq!(registry.touch("t", "a", 3_000), Some(vec!["x".to_string()]));
        let ids: Vec<String> = registry.list("t", None, 3_000).into_iter().map(|e| e.registration.worker_id).collect();
        assert_eq!(ids, ["a", "b"], "a was seen last");
        assert_eq!(registry.list("t", Some("y"), 3_000).len(), 1);
        assert!(registry.list("other", None, 3_000).is_empty(), "tenants do not see each other's workers");
        assert_eq!(registry.touch("t", "b", 2_000 + FORGET_AFTER_MS), None, "silent for too long");
    }

    #[test]
    fn hints_of_several_workers_widen_an_agents_range() {
        let registry = WorkerRegistry::default();
        let money = |amount| Money { amount, currency: "usd".into() };
        let hint = |min, max| AgentCostHint { agent: "x".into(), min: money(min), max: money(max) };
        let mut a = registration("a", &["x"]);
        a.cost_hints = vec![hint(5, 20)];
        let mut b = registration("b", &["x"]);
        b.cost_hints = vec![hint(3, 10)];
        registry.register("t", a, 1);
        registry.register("t", b, 1);
        let hints = registry.cost_hints("t", 2);
        assert_eq!(hints["x"], CostHint { min: 3, max: 20, currency: "usd".into() });
        assert!(registry.cost_hints("other", 2).is_empty());
    }

    #[test]
    fn an_empty_id_is_assigned() {
        let registry = WorkerRegistry::default();
        let id = registry.register("t", registration("", &["x"]), 1);
        assert!(id.starts_with("wkr_") && id.len() == 30, "{id}");
    }
}
