//! The leases this process handed out and has not yet heard the end of,
//! so a completion or a failure is checked from memory instead of by
//! reading its task row first (issue #20: that read was a fifth of the
//! server's time per agent step, and it made SQLite's read connection
//! drop its page cache after every commit).
//!
//! Memory is only a shortcut, never the authority. A call whose lease is
//! not here (claimed before a restart, on another replica, or forgotten
//! to keep the map bounded) or whose token, tenant or deadline does not
//! match takes the reading path, as before. A call that matches is sent
//! to the run writer at once, and the writer's own fence decides: the
//! command names the attempt the lease was for, so a lease that moved
//! since (expired and queued again, the run cancelled, the step paused,
//! or completed by a concurrent call) is refused inside the commit, and
//! only then is the row read, to tell the caller exactly why.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::model::StepKind;
use crate::store::LeasedTask;

/// Most leases remembered at once. Past it, the oldest half is forgotten:
/// their calls read the row, as every call did before.
const MAX_GRANTS: usize = 50_000;

/// What a call about a lease needs to become a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Grant {
    pub(super) tenant: String,
    pub(super) task_id: String,
    pub(super) run_id: String,
    pub(super) step_key: String,
    pub(super) kind: StepKind,
    pub(super) attempt: u32,
    pub(super) token: u64,
    pub(super) attempt_deadline_ms: Option<i64>,
    pub(super) workflow_id: String,
    pub(super) workflow_version: u32,
    /// Order of granting, for forgetting the oldest.
    sequence: u64,
}

/// The remembered leases, by task id.
#[derive(Default)]
pub(super) struct Grants {
    inner: Mutex<GrantMap>,
}

#[derive(Default)]
struct GrantMap {
    by_task: HashMap<String, Grant>,
    next_sequence: u64,
}

impl Grants {
    /// Remembers a lease just handed out (replacing an older lease of the
    /// same task).
    pub(super) fn record(&self, leased: &LeasedTask) {
        let mut map = self.inner.lock().expect("grants");
        if map.by_task.len() >= MAX_GRANTS {
            map.forget_oldest_half();
        }
        map.next_sequence += 1;
        let grant = Grant {
            tenant: leased.tenant_id.clone(),
            task_id: leased.task_id.clone(),
            run_id: leased.run_id.clone(),
            step_key: leased.step_key.clone(),
            kind: leased.kind,
            attempt: leased.attempt,
            token: leased.lease_token,
            attempt_deadline_ms: leased.attempt_deadline_ms,
            workflow_id: leased.workflow_id.clone(),
            workflow_version: leased.workflow_version,
            sequence: map.next_sequence,
        };
        map.by_task.insert(leased.task_id.clone(), grant);
    }

    /// The remembered lease of `task_id` when `tenant` and `token` name it
    /// and its attempt's deadline has not passed at `now_ms`; `None` sends
    /// the call down the reading path.
    pub(super) fn matching(&self, tenant: &str, task_id: &str, token: u64, now_ms: i64) -> Option<Grant> {
        let map = self.inner.lock().expect("grants");
        let grant = map.by_task.get(task_id)?;
        let live = grant.tenant == tenant
            && grant.token == token
            && grant.attempt_deadline_ms.is_none_or(|deadline| deadline > now_ms);
        live.then(|| grant.clone())
    }

    /// Forgets the lease `token` of `task_id` (its outcome was committed,
    /// refused, or it was handed back), leaving a newer lease alone.
    pub(super) fn forget(&self, task_id: &str, token: u64) {
        let mut map = self.inner.lock().expect("grants");
        if map.by_task.get(task_id).is_some_and(|grant| grant.token == token) {
            map.by_task.remove(task_id);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().expect("grants").by_task.len()
    }
}

impl GrantMap {
    /// Keeps the newer half: a lease held that long without an outcome is
    /// most likely a worker that went away, and its sweeper expiry reads
    /// the row anyway.
    fn forget_oldest_half(&mut self) {
        let mut sequences: Vec<u64> = self.by_task.values().map(|grant| grant.sequence).collect();
        let middle = sequences.len() / 2;
        let (_, cut, _) = sequences.select_nth_unstable(middle);
        let cut = *cut;
        self.by_task.retain(|_, grant| grant.sequence >= cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn leased(task_id: &str, token: u64, deadline: Option<i64>) -> LeasedTask {
        LeasedTask {
            task_id: task_id.into(),
            tenant_id: "t".into(),
            run_id: "run_1".into(),
            step_key: "a".into(),
            workflow_id: "wf".into(),
            workflow_version: 1,
            user_id: String::new(),
            run_started_ms: None,
            attempt: 2,
            kind: StepKind::Agent,
            agent: "w".into(),
            task: None,
            input: Value::Null,
            lease_token: token,
            lease_deadline_ms: 1_000,
            queued_ms: 0,
            attempt_deadline_ms: deadline,
            shared_state: None,
            trace_context: None,
        }
    }

    #[test]
    fn a_call_matches_only_with_its_tenant_token_and_a_live_deadline() {
        let grants = Grants::default();
        grants.record(&leased("task_1", 7, Some(500)));
        let grant = grants.matching("t", "task_1", 7, 100).expect("its lease");
        assert_eq!((grant.run_id.as_str(), grant.attempt, grant.step_key.as_str()), ("run_1", 2, "a"));
        assert!(grants.matching("other", "task_1", 7, 100).is_none(), "another tenant reads the row");
        assert!(grants.matching("t", "task_1", 8, 100).is_none(), "another token reads the row");
        assert!(grants.matching("t", "task_1", 7, 500).is_none(), "past the attempt's deadline reads the row");
        assert!(grants.matching("t", "task_2", 7, 100).is_none(), "an unknown task reads the row");
    }

    #[test]
    fn forgetting_an_old_lease_keeps_a_newer_one_of_the_same_task() {
        let grants = Grants::default();
        grants.record(&leased("task_1", 7, None));
        grants.record(&leased("task_1", 9, None));
        grants.forget("task_1", 7);
        assert!(grants.matching("t", "task_1", 9, 0).is_some());
        grants.forget("task_1", 9);
        assert!(grants.matching("t", "task_1", 9, 0).is_none());
    }

    #[test]
    fn the_map_is_bounded_by_forgetting_the_oldest_half() {
        let grants = Grants::default();
        for i in 0..MAX_GRANTS + 1 {
            grants.record(&leased(&format!("task_{i}"), 1, None));
        }
        assert!(grants.len() <= MAX_GRANTS / 2 + 1, "{}", grants.len());
        assert!(grants.matching("t", &format!("task_{MAX_GRANTS}"), 1, 0).is_some(), "the newest stays");
        assert!(grants.matching("t", "task_0", 1, 0).is_none(), "the oldest went");
    }
}
