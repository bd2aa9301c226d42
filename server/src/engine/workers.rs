//! Registered workers: who serves which agents, and when each was last
//! heard from. Registrations are in the store (`store::workers`), so they
//! survive a restart and every replica on one database knows every worker:
//! a poll may reach any of them. A worker told NOT_FOUND for itself (after
//! [`FORGET_AFTER_MS`] of silence, or when its row is gone) registers
//! again, as the protocol says; the SDK workers do so by themselves.
//!
//! Each replica keeps a cache of the workers that poll it, so a poll costs
//! no write: a worker's last sight is written to the store at most every
//! [`TOUCH_EVERY_MS`] per replica, and between writes the cache answers
//! (a registration changed through another replica is seen here within
//! that interval). Listings merge the cache's newer sightings in.
//!
//! Whether an agent is served ([`WorkerRegistry::presence`]) is read from
//! the same sightings, so a worker polling another replica counts too; the
//! write interval is shortened to half of `[tasks] unclaimed_after` when
//! that is shorter, so what other replicas read is never older than half
//! the time that decides "unclaimed".

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::EngineError;
use crate::engine::estimate::CostHint;
use crate::store::{Store, StoreError, WorkerRecord};

pub use crate::store::workers::AgentCostHint;

/// A worker silent this long is forgotten (and its row deleted).
pub const FORGET_AFTER_MS: i64 = 10 * 60 * 1000;
/// Longest a replica goes between writes of a polling worker's last sight:
/// polls in between are answered from its cache. Listings may show a last
/// sight this much older than the latest poll on another replica.
pub const TOUCH_EVERY_MS: i64 = 5_000;
/// Most live workers one tenant may have registered at once; a listing
/// reads at most this many.
pub const MAX_WORKERS: u32 = 10_000;
/// How often a replica deletes the rows of forgotten workers, and how many
/// at most each time.
const PRUNE_EVERY_MS: i64 = 60_000;
const PRUNE_BATCH: u32 = 1_000;

/// The oldest last sight of a worker not yet forgotten at `now_ms`.
fn oldest_kept(now_ms: i64) -> i64 {
    now_ms - FORGET_AFTER_MS + 1
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
    /// Last registration or poll, ms since the epoch.
    pub last_seen_ms: i64,
}

impl From<WorkerRecord> for WorkerEntry {
    fn from(record: WorkerRecord) -> Self {
        Self {
            registration: WorkerRegistration {
                worker_id: record.worker_id,
                name: record.name,
                agents: record.agents,
                concurrency: record.concurrency,
                cost_hints: record.cost_hints,
            },
            registered_ms: record.registered_ms,
            last_seen_ms: record.last_seen_ms,
        }
    }
}

/// What this replica knows of a worker that polled it.
struct Sighting {
    /// Its agents as last read from the store.
    agents: Vec<String>,
    /// When this replica last wrote its last sight (or read it back).
    written_ms: i64,
    /// Its latest poll here.
    last_seen_ms: i64,
}

#[derive(Default)]
struct Cache {
    seen: HashMap<(String, String), Sighting>,
    pruned_ms: i64,
}

/// Who serves one agent of a tenant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentPresence {
    /// Registered workers serving it, not yet forgotten.
    pub live_workers: u32,
    /// Whether one of them registered or polled recently enough (see
    /// [`WorkerRegistry::presence`]).
    pub served: bool,
}

/// The workers of every tenant, in the store, with this replica's cache;
/// cheap to clone.
#[derive(Clone)]
pub struct WorkerRegistry {
    store: Arc<dyn Store>,
    cache: Arc<Mutex<Cache>>,
    /// Longest time between writes of a polling worker's last sight, ms:
    /// [`TOUCH_EVERY_MS`], or less (see [`Self::set_touch_every`]).
    touch_every_ms: Arc<AtomicI64>,
}

impl WorkerRegistry {
    /// A registry over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store, cache: Arc::default(), touch_every_ms: Arc::new(AtomicI64::new(TOUCH_EVERY_MS)) }
    }

    /// Writes a polling worker's last sight at least every `ms` (at most
    /// [`TOUCH_EVERY_MS`], at least 10 ms), so other replicas judge
    /// whether its agents are served from a sight at most that old.
    pub fn set_touch_every(&self, ms: i64) {
        self.touch_every_ms.store(ms.clamp(10, TOUCH_EVERY_MS), Ordering::Relaxed);
    }

    /// The tenant's agents that live workers serve, each with how many
    /// serve it and whether one of them was seen (registered, polled, or
    /// held a stream with credits) at or after `seen_since_ms`. An agent
    /// no live worker serves is absent.
    pub async fn presence(
        &self,
        tenant: &str,
        now_ms: i64,
        seen_since_ms: i64,
    ) -> Result<HashMap<String, AgentPresence>, EngineError> {
        let mut agents: HashMap<String, AgentPresence> = HashMap::new();
        for worker in self.list(tenant, None, now_ms).await? {
            for agent in worker.registration.agents {
                let presence = agents.entry(agent).or_default();
                presence.live_workers = presence.live_workers.saturating_add(1);
                presence.served |= worker.last_seen_ms >= seen_since_ms;
            }
        }
        Ok(agents)
    }

    /// Registers a worker, or replaces the registration of the same id.
    /// Returns the worker id. FailedPrecondition (`WORKER_LIMIT_REACHED`)
    /// when the tenant already has [`MAX_WORKERS`] other live workers.
    pub async fn register(
        &self,
        tenant: &str,
        mut registration: WorkerRegistration,
        now_ms: i64,
    ) -> Result<String, EngineError> {
        if registration.worker_id.is_empty() {
            registration.worker_id = crate::ids::new_worker_id();
        }
        self.prune(now_ms).await;
        let others = self.store.count_other_workers(tenant, &registration.worker_id, oldest_kept(now_ms)).await?;
        if others >= MAX_WORKERS {
            return Err(EngineError::FailedPrecondition {
                message: format!(
                    "{MAX_WORKERS} workers are registered already (the most at once); a worker silent for \
                     {} minutes is forgotten",
                    FORGET_AFTER_MS / 60_000
                ),
                reason: "WORKER_LIMIT_REACHED",
            });
        }
        let id = registration.worker_id.clone();
        let agents = registration.agents.clone();
        let record = WorkerRecord {
            worker_id: registration.worker_id,
            name: registration.name,
            agents: registration.agents,
            concurrency: registration.concurrency,
            cost_hints: registration.cost_hints,
            registered_ms: now_ms,
            last_seen_ms: now_ms,
        };
        self.store.upsert_worker(tenant, &record).await?;
        let sighting = Sighting { agents, written_ms: now_ms, last_seen_ms: now_ms };
        self.cache.lock().expect("worker cache").seen.insert((tenant.to_string(), id.clone()), sighting);
        Ok(id)
    }

    /// Marks a worker as heard from now and returns its agents; `None` when
    /// it is not registered (or was forgotten). Writes to the store only
    /// when this replica has not for [`TOUCH_EVERY_MS`] (or the shorter
    /// interval set).
    pub async fn touch(&self, tenant: &str, worker_id: &str, now_ms: i64) -> Result<Option<Vec<String>>, EngineError> {
        let key = (tenant.to_string(), worker_id.to_string());
        let touch_every_ms = self.touch_every_ms.load(Ordering::Relaxed);
        {
            let mut cache = self.cache.lock().expect("worker cache");
            if let Some(seen) = cache.seen.get_mut(&key).filter(|seen| now_ms - seen.written_ms < touch_every_ms) {
                seen.last_seen_ms = seen.last_seen_ms.max(now_ms);
                return Ok(Some(seen.agents.clone()));
            }
        }
        let stored = match self.store.touch_worker(tenant, worker_id, now_ms, oldest_kept(now_ms)).await {
            Ok(stored) => stored,
            // A registration that does not read back is as good as none:
            // the worker registers again over it.
            Err(StoreError::Corrupt(why)) => {
                tracing::error!(
                    worker_id,
                    why,
                    "a stored worker registration is unreadable; asking it to register again"
                );
                None
            }
            Err(err) => return Err(err.into()),
        };
        let mut cache = self.cache.lock().expect("worker cache");
        match stored {
            Some(record) => {
                let sighting = Sighting { agents: record.agents.clone(), written_ms: now_ms, last_seen_ms: now_ms };
                cache.seen.insert(key, sighting);
                Ok(Some(record.agents))
            }
            None => {
                cache.seen.remove(&key);
                Ok(None)
            }
        }
    }

    /// The tenant's workers (only those serving `agent` when given), most
    /// recently seen first, ties by id: the store's rows, with this
    /// replica's later sightings.
    pub async fn list(&self, tenant: &str, agent: Option<&str>, now_ms: i64) -> Result<Vec<WorkerEntry>, EngineError> {
        self.prune(now_ms).await;
        let stored = self.store.list_workers(tenant, oldest_kept(now_ms), MAX_WORKERS).await?;
        let mut listed: Vec<WorkerEntry> = {
            let cache = self.cache.lock().expect("worker cache");
            stored
                .into_iter()
                .filter(|record| agent.is_none_or(|a| record.agents.iter().any(|served| served == a)))
                .map(|record| {
                    let mut entry = WorkerEntry::from(record);
                    let key = (tenant.to_string(), entry.registration.worker_id.clone());
                    if let Some(seen) = cache.seen.get(&key) {
                        entry.last_seen_ms = entry.last_seen_ms.max(seen.last_seen_ms);
                    }
                    entry
                })
                .collect()
        };
        listed.sort_by(|a, b| {
            b.last_seen_ms.cmp(&a.last_seen_ms).then_with(|| a.registration.worker_id.cmp(&b.registration.worker_id))
        });
        Ok(listed)
    }

    /// The cost hints of the tenant's workers by agent, for estimates.
    /// Several workers hinting at one agent widen its range: the lowest
    /// minimum and the highest maximum (of hints in the first currency seen,
    /// workers taken by id).
    pub async fn cost_hints(&self, tenant: &str, now_ms: i64) -> Result<HashMap<String, CostHint>, EngineError> {
        let mut workers = self.list(tenant, None, now_ms).await?;
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
        Ok(hints)
    }

    /// At most every [`PRUNE_EVERY_MS`]: forgets the silent workers of the
    /// cache and deletes their rows. A failure is logged; the next call
    /// tries again.
    async fn prune(&self, now_ms: i64) {
        {
            let mut cache = self.cache.lock().expect("worker cache");
            if now_ms - cache.pruned_ms < PRUNE_EVERY_MS {
                return;
            }
            cache.pruned_ms = now_ms;
            cache.seen.retain(|_, seen| now_ms - seen.last_seen_ms < FORGET_AFTER_MS);
        }
        if let Err(err) = self.store.prune_workers(oldest_kept(now_ms), PRUNE_BATCH).await {
            tracing::warn!(error = %err, "deleting forgotten workers failed; trying again later");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::definition::Money;
    use crate::store::OpenStore;

    async fn registry(dir: &tempfile::TempDir) -> WorkerRegistry {
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = OpenStore::open(&url).await.unwrap().unwrap();
        WorkerRegistry::new(store.shared())
    }

    fn registration(id: &str, agents: &[&str]) -> WorkerRegistration {
        WorkerRegistration {
            worker_id: id.into(),
            agents: agents.iter().map(|a| a.to_string()).collect(),
            concurrency: 1,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_worker_is_listed_by_last_sight_and_forgotten_after_silence() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(&dir).await;
        registry.register("t", registration("a", &["x"]), 1_000).await.unwrap();
        registry.register("t", registration("b", &["y"]), 2_000).await.unwrap();
        assert_eq!(registry.touch("t", "a", 3_000).await.unwrap(), Some(vec!["x".to_string()]));
        let listed = registry.list("t", None, 3_000).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|e| e.registration.worker_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"], "a was seen last");
        assert_eq!(registry.list("t", Some("y"), 3_000).await.unwrap().len(), 1);
        assert!(
            registry.list("other", None, 3_000).await.unwrap().is_empty(),
            "tenants do not see each other's workers"
        );
        assert_eq!(registry.touch("t", "b", 2_000 + FORGET_AFTER_MS).await.unwrap(), None, "silent for too long");
        assert_eq!(registry.touch("t", "nobody", 3_000).await.unwrap(), None);
    }

    #[tokio::test]
    async fn another_registry_on_the_same_store_knows_the_worker() {
        // What a restart, or a second replica, sees.
        let dir = tempfile::tempdir().unwrap();
        let first = registry(&dir).await;
        first.register("t", registration("a", &["x"]), 1_000).await.unwrap();
        let second = registry(&dir).await;
        assert_eq!(second.touch("t", "a", 2_000).await.unwrap(), Some(vec!["x".to_string()]));
        assert_eq!(second.list("t", None, 2_000).await.unwrap()[0].last_seen_ms, 2_000);
    }

    #[tokio::test]
    async fn polls_write_the_last_sight_at_most_every_interval_yet_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let here = registry(&dir).await;
        let elsewhere = registry(&dir).await;
        here.register("t", registration("a", &["x"]), 1_000).await.unwrap();
        here.touch("t", "a", 1_000 + TOUCH_EVERY_MS - 1).await.unwrap();
        async fn stored(registry: &WorkerRegistry) -> i64 {
            registry.store.list_workers("t", 0, 10).await.unwrap()[0].last_seen_ms
        }
        assert_eq!(stored(&here).await, 1_000, "a poll within the interval writes nothing");
        let mine = here.list("t", None, 1_000 + TOUCH_EVERY_MS).await.unwrap();
        assert_eq!(mine[0].last_seen_ms, 1_000 + TOUCH_EVERY_MS - 1, "this replica lists its own later sighting");
        here.touch("t", "a", 1_000 + TOUCH_EVERY_MS).await.unwrap();
        assert_eq!(stored(&elsewhere).await, 1_000 + TOUCH_EVERY_MS, "then it is written, for every replica");
    }

    #[tokio::test]
    async fn presence_counts_live_workers_per_agent_and_who_was_seen_recently() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(&dir).await;
        registry.register("t", registration("a", &["x", "y"]), 1_000).await.unwrap();
        registry.register("t", registration("b", &["x"]), 5_000).await.unwrap();
        let agents = registry.presence("t", 5_000, 4_000).await.unwrap();
        assert_eq!(agents["x"], AgentPresence { live_workers: 2, served: true });
        assert_eq!(agents["y"], AgentPresence { live_workers: 1, served: false }, "a was last seen at 1000");
        assert!(!agents.contains_key("z"));
        registry.touch("t", "a", 5_500).await.unwrap();
        assert!(registry.presence("t", 5_500, 4_000).await.unwrap()["y"].served, "a poll is a sighting");
        assert!(registry.presence("other", 5_500, 0).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_shorter_touch_interval_writes_sightings_for_other_replicas_sooner() {
        let dir = tempfile::tempdir().unwrap();
        let here = registry(&dir).await;
        let elsewhere = registry(&dir).await;
        here.set_touch_every(100);
        here.register("t", registration("a", &["x"]), 1_000).await.unwrap();
        here.touch("t", "a", 1_100).await.unwrap();
        let seen = elsewhere.presence("t", 1_100, 1_050).await.unwrap();
        assert!(seen["x"].served, "written after 100 ms, not 5 s");
    }

    #[tokio::test]
    async fn forgotten_workers_rows_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(&dir).await;
        registry.register("t", registration("old", &["x"]), 1_000).await.unwrap();
        let later = 1_000 + FORGET_AFTER_MS + PRUNE_EVERY_MS;
        registry.register("t", registration("new", &["x"]), later).await.unwrap();
        let rows = registry.store.list_workers("t", 0, 10).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.worker_id.as_str()).collect::<Vec<_>>(), ["new"]);
    }

    #[tokio::test]
    async fn hints_of_several_workers_widen_an_agents_range() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(&dir).await;
        let money = |amount| Money { amount, currency: "usd".into() };
        let hint = |min, max| AgentCostHint { agent: "x".into(), min: money(min), max: money(max) };
        let mut a = registration("a", &["x"]);
        a.cost_hints = vec![hint(5, 20)];
        let mut b = registration("b", &["x"]);
        b.cost_hints = vec![hint(3, 10)];
        registry.register("t", a, 1).await.unwrap();
        registry.register("t", b, 1).await.unwrap();
        let hints = registry.cost_hints("t", 2).await.unwrap();
        assert_eq!(hints["x"], CostHint { min: 3, max: 20, currency: "usd".into() });
        assert!(registry.cost_hints("other", 2).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_tenant_holds_at_most_max_workers_and_a_known_one_registers_again() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(&dir).await;
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
        // MAX_WORKERS live workers in one statement (registering each would
        // cost a commit apiece).
        let fill = format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {MAX_WORKERS}) \
             INSERT INTO workers (tenant_id, id, registration, registered_at, last_seen) \
             SELECT 't', 'w' || i, '{{\"name\":\"\",\"agents\":[\"x\"],\"concurrency\":1,\"costHints\":[]}}', 1000, 1000 FROM n"
        );
        sqlx::query(sqlx::AssertSqlSafe(fill)).execute(&mut conn).await.unwrap();
        let refused = registry.register("t", registration("one-more", &["x"]), 2_000).await.unwrap_err();
        match refused {
            EngineError::FailedPrecondition { reason, message } => {
                assert_eq!(reason, "WORKER_LIMIT_REACHED");
                assert!(message.contains("10000 workers"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(registry.touch("t", "one-more", 2_000).await.unwrap(), None, "nothing was stored");
        registry.register("t", registration("w7", &["y"]), 2_000).await.expect("a known worker registers again");
        registry.register("other", registration("one-more", &["x"]), 2_000).await.expect("per tenant");
    }

    #[tokio::test]
    async fn an_empty_id_is_assigned() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(&dir).await;
        let id = registry.register("t", registration("", &["x"]), 1).await.unwrap();
        assert!(id.starts_with("wkr_") && id.len() == 30, "{id}");
    }
}
