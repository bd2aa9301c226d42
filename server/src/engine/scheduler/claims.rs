//! Workers' claims waiting in the writer for a task to be queued.
//!
//! A poll that finds no task parks its claim here instead of sleeping on a
//! signal and asking again. When a later batch queues a task the claim
//! matches, the writer makes the claim in that same commit and answers the
//! waiting poll directly: the step that became ready and its lease share
//! one fsync, and the worker hears of it as soon as that commit is done.
//!
//! A poll that gave up (its deadline passed, its client went away) drops
//! its receiver; the writer notices before claiming for it. If a claim
//! still lands for a poll gone in the meantime, the lease is released back
//! to the queue in the writer's next commit rather than left to expire.

use tokio::sync::oneshot;

use crate::engine::EngineError;
use crate::store::{ClaimRequest, LeasedTask};

/// Where a claim's answer goes.
pub(super) type ClaimSender = oneshot::Sender<Result<Option<LeasedTask>, EngineError>>;

/// One claim, fresh or parked.
pub(super) struct Waiting {
    pub(super) claim: ClaimRequest,
    pub(super) reply: ClaimSender,
    /// When the poll stops waiting, ms since the epoch.
    pub(super) until_ms: i64,
}

impl Waiting {
    fn wants(&self, tenant: &str, agent: &str, kind: &str) -> bool {
        self.claim.scope.covers(tenant)
            && self.claim.kinds.contains(&kind)
            && self.claim.agents.iter().any(|a| a == agent)
    }
}

/// A task that became claimable in a batch: (tenant, agent, kind).
pub(super) type Claimable<'a> = (&'a str, &'a str, &'a str);

/// The parked claims, and leases to hand back to the queue.
#[derive(Default)]
pub(super) struct ParkedClaims {
    waiting: Vec<Waiting>,
    /// (tenant, lease) to hand back.
    releases: Vec<(String, LeasedTask)>,
}

impl ParkedClaims {
    /// Answers the claims whose poll has given up or whose time is over.
    pub(super) fn expire(&mut self, now_ms: i64) {
        let (keep, done): (Vec<Waiting>, Vec<Waiting>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|w| w.until_ms > now_ms && !w.reply.is_closed());
        self.waiting = keep;
        for gone in done {
            let _ = gone.reply.send(Ok(None));
        }
    }

    /// Takes out one parked claim per claimable task it matches, oldest
    /// claim first, to be tried in the coming commit.
    pub(super) fn take_matching(&mut self, claimable: &[Claimable<'_>]) -> Vec<Waiting> {
        let mut chosen = Vec::new();
        for &(tenant, agent, kind) in claimable {
            if let Some(i) = self.waiting.iter().position(|w| w.wants(tenant, agent, kind)) {
                chosen.push(self.waiting.remove(i));
            }
        }
        chosen
    }

    /// Takes out parked claims to try again because another replica
    /// queued tasks: up to `count` matching (tenant, agent, kind), or every
    /// claim when that is not known (`None`, or a count of `u32::MAX`).
    pub(super) fn take_for_recheck(&mut self, matching: Option<(String, String, String, u32)>) -> Vec<Waiting> {
        match matching {
            Some((tenant, agent, kind, count)) if count != u32::MAX => {
                let count = (count as usize).min(self.waiting.len());
                let wanted = vec![(tenant.as_str(), agent.as_str(), kind.as_str()); count];
                self.take_matching(&wanted)
            }
            _ => std::mem::take(&mut self.waiting),
        }
    }

    /// A lease whose worker never heard of it, to hand back in the coming
    /// commit.
    pub(super) fn hand_back(&mut self, tenant: String, leased: LeasedTask) {
        self.releases.push((tenant, leased));
    }

    /// Leases to hand back in the coming commit, with what they were for.
    pub(super) fn take_releases(&mut self) -> Vec<(String, LeasedTask)> {
        std::mem::take(&mut self.releases)
    }

    /// How many workers' polls are parked (the built-in executor's own
    /// claims, of any tenant, are not polls).
    pub(super) fn polls(&self) -> usize {
        self.waiting.iter().filter(|w| matches!(w.claim.scope, crate::store::ClaimScope::Tenant(_))).count()
    }

    /// Whether leases wait to be handed back (the writer commits again at
    /// once rather than waiting for the next request).
    pub(super) fn has_releases(&self) -> bool {
        !self.releases.is_empty()
    }

    /// After the commit: answers the claims that got a task, parks again
    /// the ones that did not (while their poll waits), and keeps the leases
    /// whose poll left before the answer, to release them.
    pub(super) fn settle(&mut self, tried: Vec<Waiting>, claimed: Vec<Option<LeasedTask>>, now_ms: i64) {
        for (waiting, leased) in tried.into_iter().zip(claimed) {
            match leased {
                Some(leased) => {
                    // The task's own tenant: an any-tenant claim has none.
                    if let Err(Ok(Some(unsent))) = waiting.reply.send(Ok(Some(leased))) {
                        self.releases.push((unsent.tenant_id.clone(), unsent));
                    }
                }
                None if waiting.until_ms > now_ms && !waiting.reply.is_closed() => self.waiting.push(waiting),
                None => {
                    let _ = waiting.reply.send(Ok(None));
                }
            }
        }
    }

    /// After a commit dropped because partitions moved to another replica:
    /// nothing was written, so the claims tried wait on as if they had
    /// found nothing, and the releases go back for the next commit.
    pub(super) fn repark(&mut self, tried: Vec<Waiting>, releases: Vec<(String, LeasedTask)>, now_ms: i64) {
        let nothing = tried.iter().map(|_| None).collect();
        self.settle(tried, nothing, now_ms);
        self.releases.extend(releases);
    }

    /// After a failed commit: every claim tried is refused (the polls
    /// retry), and the releases go back for the next commit.
    pub(super) fn refuse(&mut self, tried: Vec<Waiting>, releases: Vec<(String, LeasedTask)>) {
        for waiting in tried {
            let _ = waiting.reply.send(Err(EngineError::Unavailable("the task queue could not be written; retry")));
        }
        self.releases.extend(releases);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StepKind;
    use crate::store::ClaimScope;

    fn waiting(agent: &str, until_ms: i64) -> (Waiting, oneshot::Receiver<Result<Option<LeasedTask>, EngineError>>) {
        scoped(ClaimScope::Tenant("t".into()), agent, until_ms)
    }

    fn scoped(
        scope: ClaimScope,
        agent: &str,
        until_ms: i64,
    ) -> (Waiting, oneshot::Receiver<Result<Option<LeasedTask>, EngineError>>) {
        let (reply, answer) = oneshot::channel();
        let claim = ClaimRequest {
            scope,
            agents: vec![agent.into()],
            kinds: &["agent"],
            worker_id: "w".into(),
            now_ms: 0,
            lease_ms: 1000,
        };
        (Waiting { claim, reply, until_ms }, answer)
    }

    fn leased(task_id: &str) -> LeasedTask {
        LeasedTask {
            task_id: task_id.into(),
            tenant_id: "t".into(),
            run_id: "r".into(),
            step_key: "s".into(),
            workflow_id: "wf".into(),
            workflow_version: 1,
            user_id: String::new(),
            run_started_ms: None,
            attempt: 1,
            kind: StepKind::Agent,
            agent: "a".into(),
            task: None,
            input: serde_json::Value::Null,
            lease_token: 7,
            lease_deadline_ms: 1000,
            queued_ms: 0,
            attempt_deadline_ms: None,
            shared_state: None,
            trace_context: None,
        }
    }

    #[test]
    fn one_parked_claim_is_tried_per_matching_task_oldest_first() {
        let mut parked = ParkedClaims::default();
        let (first, _a) = waiting("a", 100);
        let (second, _b) = waiting("a", 100);
        let (other, _c) = waiting("b", 100);
        parked.waiting.extend([first, second, other]);
        let tried = parked.take_matching(&[("t", "a", "agent")]);
        assert_eq!(tried.len(), 1);
        assert_eq!(parked.waiting.len(), 2, "the second 'a' claim and the 'b' claim stay parked");
        assert!(parked.take_matching(&[("other-tenant", "a", "agent"), ("t", "a", "planner")]).is_empty());
    }

    #[test]
    fn an_any_tenant_claim_matches_every_tenant_and_a_tenant_claim_only_its_own() {
        let mut parked = ParkedClaims::default();
        let (any, _a) = scoped(ClaimScope::AnyTenant, "weft:webhook", 100);
        let (own, _b) = waiting("a", 100);
        parked.waiting.extend([any, own]);
        assert!(parked.take_matching(&[("u", "a", "agent")]).is_empty(), "tenant t's claim never takes u's task");
        let tried = parked.take_matching(&[("u", "weft:webhook", "agent"), ("t", "a", "agent")]);
        assert_eq!(tried.len(), 2);
        assert_eq!(tried[0].claim.scope, ClaimScope::AnyTenant);
    }

    #[test]
    fn a_lease_whose_poll_left_is_released_and_unlucky_claims_park_again() {
        let mut parked = ParkedClaims::default();
        let (gone, answer) = waiting("a", 100);
        drop(answer);
        let (unlucky, mut still_waiting) = waiting("a", 100);
        parked.settle(vec![gone, unlucky], vec![Some(leased("task_1")), None], 50);
        let releases = parked.take_releases();
        assert_eq!(releases.len(), 1);
        assert_eq!((releases[0].0.as_str(), releases[0].1.task_id.as_str()), ("t", "task_1"));
        assert_eq!(parked.waiting.len(), 1, "a claim that found nothing waits on");
        assert!(still_waiting.try_recv().is_err(), "and has not been answered");
        parked.expire(100);
        assert!(parked.waiting.is_empty());
        assert!(matches!(still_waiting.try_recv(), Ok(Ok(None))), "its time over, it is told 'no task'");
    }
}
