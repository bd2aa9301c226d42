//! Admission of new runs, per tenant: a token bucket on run starts and a cap
//! on open runs (`[limits]`, [`LimitSettings`]). Every path that creates a
//! run (StartRun, ExecuteWorkflow and its stream, RetryRunFrom, and a
//! ResumeRun that continues a finished run as a new one) asks
//! [`Admission::admit`] first; an idempotent replay of an existing run never
//! does, so it is never refused and never counted.
//!
//! A refusal is [`EngineError::ResourceExhausted`] with the limit, its
//! value and how long to wait; nothing is stored. An admitted start holds a
//! [`Ticket`]: dropped without [`Ticket::keep`] (the start failed, or the
//! writer found the idempotency key taken meanwhile), it gives its token and
//! its open-run place back.
//!
//! # How exact the open-run count is
//!
//! Each replica reads the tenant's count from the store (one indexed
//! `COUNT`) at most once per [`OPEN_COUNT_TTL`], and adds the starts it
//! admitted since. Runs that finish in between are seen at the next read,
//! and before a refusal the count is read again if it is older than
//! [`OPEN_RECOUNT`], so a replica alone never refuses a start the store's
//! count would allow (beyond that 100 ms), nor admits one it would refuse:
//! starts still in flight when the count is read are added to it. With
//! several replicas on one database, starts admitted by the others since
//! this replica's last read
//! are not seen: the total can pass the limit by what the other replicas
//! start within one [`OPEN_COUNT_TTL`]. The rate limit is per replica: N
//! replicas admit up to N times `run_starts_per_second` together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::LimitSettings;
use crate::engine::EngineError;
use crate::store::Store;

/// How long a store count of open runs is used (with local additions).
pub const OPEN_COUNT_TTL: Duration = Duration::from_secs(1);
/// A count at least this old is read again before a start is refused.
pub const OPEN_RECOUNT: Duration = Duration::from_millis(100);

/// Admission of run starts for every tenant.
pub struct Admission {
    limits: LimitSettings,
    store: Option<Arc<dyn Store>>,
    tenants: Mutex<HashMap<String, TenantState>>,
}

/// One tenant's bucket and open-run count.
#[derive(Debug)]
struct TenantState {
    /// Tokens left (fractions accrue between starts).
    tokens: f64,
    /// When `tokens` was last topped up.
    refilled: Instant,
    /// The store's count of open runs, when it was read, and the starts
    /// admitted here since.
    open: Option<OpenCount>,
    /// Admitted starts whose runs are not committed yet (tickets alive).
    in_flight: u64,
}

#[derive(Debug, Clone, Copy)]
struct OpenCount {
    stored: u64,
    read_at: Instant,
    admitted_since: u64,
}

/// Why a start is refused, before it becomes an [`EngineError`].
#[derive(Debug, Clone, PartialEq)]
enum Refusal {
    Rate { retry_after: Duration },
    Open { open: u64 },
}

/// An admitted start. Dropped without [`Ticket::keep`], it gives its token
/// and its open-run place back.
#[must_use = "a ticket dropped at once gives its admission back"]
pub struct Ticket {
    admission: Arc<Admission>,
    tenant: String,
    kept: bool,
}

impl Ticket {
    /// The run was created (and committed): the start stays counted.
    pub fn keep(mut self) {
        self.kept = true;
        self.admission.committed(&self.tenant);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.kept {
            self.admission.give_back(&self.tenant);
        }
    }
}

impl Admission {
    /// Admission under `limits`, counting open runs in `store`. Without a
    /// store (benchmarks, embedders), open runs are not limited.
    pub fn new(limits: LimitSettings, store: Option<Arc<dyn Store>>) -> Arc<Self> {
        Arc::new(Self { limits, store, tenants: Mutex::default() })
    }

    /// No limits at all.
    pub fn unlimited() -> Arc<Self> {
        let limits = LimitSettings { run_starts_per_second: 0, run_start_burst: 0, max_open_runs: 0 };
        Self::new(limits, None)
    }

    /// Admits one run start for `tenant`, or says which limit refuses it.
    pub async fn admit(self: &Arc<Self>, tenant: &str) -> Result<Ticket, EngineError> {
        let mut recounted = false;
        loop {
            let now = Instant::now();
            let stale = {
                let mut tenants = self.tenants.lock().expect("admission state");
                let state = tenants.entry(tenant.to_owned()).or_insert_with(|| self.fresh(now));
                match self.decide(state, now, recounted) {
                    Decision::Admit => {
                        return Ok(Ticket { admission: self.clone(), tenant: tenant.to_owned(), kept: false });
                    }
                    Decision::Refuse(refusal) => return Err(self.error(tenant, refusal)),
                    Decision::Count => state.open.map(|o| o.read_at),
                }
            };
            // Read outside the lock. Concurrent starts may read too: the
            // first answer back is kept, and the others decide on it.
            let Some(store) = &self.store else {
                return Err(EngineError::Internal("open runs counted without a store"));
            };
            let stored = store.count_open_runs(tenant).await?;
            let read_at = Instant::now();
            let mut tenants = self.tenants.lock().expect("admission state");
            let state = tenants.entry(tenant.to_owned()).or_insert_with(|| self.fresh(read_at));
            if state.open.map(|o| o.read_at) == stale {
                // Committed runs are in `stored` (some maybe twice, if they
                // committed during the read: a refusal then recounts);
                // starts in flight may not be.
                state.open = Some(OpenCount { stored, read_at, admitted_since: state.in_flight });
            }
            recounted = true;
        }
    }

    fn fresh(&self, now: Instant) -> TenantState {
        TenantState { tokens: f64::from(self.limits.run_start_burst), refilled: now, open: None, in_flight: 0 }
    }

    /// The verdict for one start; `recounted` when the open count was just
    /// read for this start.
    fn decide(&self, state: &mut TenantState, now: Instant, recounted: bool) -> Decision {
        let rate = f64::from(self.limits.run_starts_per_second);
        if rate > 0.0 {
            let burst = f64::from(self.limits.run_start_burst);
            let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
            state.tokens = (state.tokens + elapsed * rate).min(burst);
            state.refilled = now;
            if state.tokens < 1.0 {
                let retry_after = Duration::from_secs_f64((1.0 - state.tokens) / rate);
                return Decision::Refuse(Refusal::Rate { retry_after });
            }
        }
        let max = self.limits.max_open_runs;
        if max > 0 && self.store.is_some() {
            let open = match state.open {
                Some(count) if now.saturating_duration_since(count.read_at) < OPEN_COUNT_TTL => count,
                _ => return Decision::Count,
            };
            let total = open.stored.saturating_add(open.admitted_since);
            if total >= max {
                if !recounted && now.saturating_duration_since(open.read_at) >= OPEN_RECOUNT {
                    return Decision::Count;
                }
                return Decision::Refuse(Refusal::Open { open: total });
            }
            if let Some(count) = &mut state.open {
                count.admitted_since += 1;
            }
        }
        if rate > 0.0 {
            state.tokens -= 1.0;
        }
        state.in_flight += 1;
        Decision::Admit
    }

    /// Undoes one admission of `tenant` (see [`Ticket`]).
    fn give_back(&self, tenant: &str) {
        let Ok(mut tenants) = self.tenants.lock() else { return };
        let Some(state) = tenants.get_mut(tenant) else { return };
        if self.limits.run_starts_per_second > 0 {
            state.tokens = (state.tokens + 1.0).min(f64::from(self.limits.run_start_burst));
        }
        if let Some(count) = &mut state.open {
            count.admitted_since = count.admitted_since.saturating_sub(1);
        }
        state.in_flight = state.in_flight.saturating_sub(1);
    }

    /// One admitted start of `tenant` was committed.
    fn committed(&self, tenant: &str) {
        let Ok(mut tenants) = self.tenants.lock() else { return };
        if let Some(state) = tenants.get_mut(tenant) {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
    }

    fn error(&self, tenant: &str, refusal: Refusal) -> EngineError {
        let limits = &self.limits;
        match refusal {
            Refusal::Rate { retry_after } => EngineError::ResourceExhausted {
                message: format!(
                    "tenant '{tenant}' is starting runs faster than the limit of {} per second \
                     (limits.run_starts_per_second, bursts of limits.run_start_burst = {}); retry in {} ms",
                    limits.run_starts_per_second,
                    limits.run_start_burst,
                    retry_after.as_millis().max(1)
                ),
                reason: "RUN_START_RATE_LIMITED",
                limit: ("run_starts_per_second", u64::from(limits.run_starts_per_second)),
                retry_after,
            },
            Refusal::Open { open } => EngineError::ResourceExhausted {
                message: format!(
                    "tenant '{tenant}' has {open} open runs, the limit of limits.max_open_runs = {}; \
                     retry once some finish",
                    limits.max_open_runs
                ),
                reason: "OPEN_RUNS_LIMIT",
                limit: ("max_open_runs", limits.max_open_runs),
                retry_after: OPEN_COUNT_TTL,
            },
        }
    }
}

/// What [`Admission::decide`] says.
enum Decision {
    Admit,
    Refuse(Refusal),
    /// Read the open-run count from the store, then decide again.
    Count,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, burst: u32, open: u64) -> LimitSettings {
        LimitSettings { run_starts_per_second: rate, run_start_burst: burst, max_open_runs: open }
    }

    fn reason(err: EngineError) -> (&'static str, Duration) {
        match err {
            EngineError::ResourceExhausted { reason, retry_after, .. } => (reason, retry_after),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_bucket_admits_a_burst_then_the_rate_and_refuses_in_between() {
        let admission = Admission::new(limits(2, 3, 0), None);
        for _ in 0..3 {
            admission.admit("a").await.unwrap().keep();
        }
        let (code, wait) = reason(admission.admit("a").await.err().unwrap());
        assert_eq!(code, "RUN_START_RATE_LIMITED");
        assert_eq!(wait, Duration::from_millis(500), "one token at 2 per second");
        tokio::time::advance(Duration::from_millis(500)).await;
        admission.admit("a").await.unwrap().keep();
        assert!(admission.admit("a").await.is_err(), "the refill was spent");
        tokio::time::advance(Duration::from_secs(60)).await;
        for _ in 0..3 {
            admission.admit("a").await.unwrap().keep();
        }
        assert!(admission.admit("a").await.is_err(), "refills stop at the burst");
    }

    #[tokio::test(start_paused = true)]
    async fn tenants_have_buckets_of_their_own() {
        let admission = Admission::new(limits(1, 2, 0), None);
        admission.admit("a").await.unwrap().keep();
        admission.admit("a").await.unwrap().keep();
        assert!(admission.admit("a").await.is_err());
        admission.admit("b").await.unwrap().keep();
        admission.admit("b").await.unwrap().keep();
        assert!(admission.admit("b").await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_ticket_dropped_without_keep_gives_its_token_back() {
        let admission = Admission::new(limits(1, 1, 0), None);
        drop(admission.admit("a").await.unwrap());
        admission.admit("a").await.unwrap().keep();
        assert!(admission.admit("a").await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn zero_turns_each_limit_off() {
        let admission = Admission::unlimited();
        for _ in 0..10_000 {
            admission.admit("a").await.unwrap().keep();
        }
    }

    /// Open runs: counted from a real store, per tenant, with the starts in
    /// flight added however often the count is read again.
    #[tokio::test]
    async fn open_runs_count_starts_in_flight_per_tenant() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = crate::store::OpenStore::open(&url).await.unwrap().unwrap().shared();
        let admission = Admission::new(limits(0, 0, 2), Some(store.clone()));
        let first = admission.admit("a").await.unwrap();
        let _second = admission.admit("a").await.unwrap();
        assert_eq!(store.count_open_runs("a").await.unwrap(), 0, "nothing committed yet");
        let (code, _) = reason(admission.admit("a").await.err().unwrap());
        assert_eq!(code, "OPEN_RUNS_LIMIT", "two in flight, none stored: both counted");
        tokio::time::sleep(OPEN_COUNT_TTL).await;
        let (code, _) = reason(admission.admit("a").await.err().unwrap());
        assert_eq!(code, "OPEN_RUNS_LIMIT", "a fresh count still adds the starts in flight");
        admission.admit("b").await.unwrap().keep();
        drop(first);
        admission.admit("a").await.unwrap().keep();
    }
}
