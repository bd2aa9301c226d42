//! The notification part of the Store contract, the same on SQLite and
//! Postgres: the group commit that writes a notified run event writes its
//! outbox row (only for the notified types, only for a tenant with a
//! subscription, and not when the commit fails); a fan-out is idempotent
//! and consumes its entry; a claim is a lease another claim cannot take
//! until it ends, and an attempt is recorded only under its lease; the log
//! filters by tenant, subscription and status; deleting a subscription
//! deletes its deliveries; pruning keeps pending ones. The Postgres half
//! needs `WEFT_TEST_DATABASE_URL`.

use weft_server::model::{EventRecord, RunStatus};
use weft_server::store::RunBatch;
use weft_server::store::notifications::{
    AttemptRecord, DeliveryQuery, DeliveryRecord, DeliveryStatus, SubscriptionRecord,
};
use weft_tests::store::{on_both_stores, run_record};

fn subscription(id: &str, tenant: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        id: id.into(),
        tenant_id: tenant.into(),
        url: format!("https://hooks.example.com/{id}"),
        event_types: vec!["run.completed".into()],
        workflow_id: None,
        description: String::new(),
        secret: format!("whsec_{id}"),
        created_ms: 1,
    }
}

fn event(run_id: &str, sequence: u64, event_type: &str) -> EventRecord {
    EventRecord {
        run_id: run_id.into(),
        sequence,
        event_type: event_type.into(),
        step_id: None,
        status: "completed".into(),
        output: None,
        error: None,
        cost_cents: None,
        total_cost_cents: Some(0),
        can_retry_from: None,
        action: None,
        data: None,
        duration_ms: None,
        created_ms: 100 + sequence as i64,
    }
}

fn delivery(id: &str, tenant: &str, subscription_id: &str, run_id: &str, sequence: i64) -> DeliveryRecord {
    DeliveryRecord {
        id: id.into(),
        tenant_id: tenant.into(),
        subscription_id: subscription_id.into(),
        run_id: run_id.into(),
        sequence,
        event_type: "run.completed".into(),
        body: "{\"type\":\"run.completed\"}".into(),
        status: DeliveryStatus::Pending,
        attempts: 0,
        last_status_code: None,
        last_error: None,
        created_ms: 100,
        next_attempt_ms: Some(100),
        delivered_ms: None,
    }
}

#[tokio::test]
async fn a_notified_event_reaches_the_outbox_in_its_own_commit_for_subscribed_tenants_only() {
    on_both_stores("a_notified_event_reaches_the_outbox_in_its_own_commit", |store| async move {
        assert!(store.insert_subscription(&subscription("ntf_a", "tenant-a"), 10).await.unwrap());
        let runs = vec![
            run_record("wfrun_a", "tenant-a", RunStatus::Completed, 10),
            run_record("wfrun_b", "tenant-b", RunStatus::Completed, 10),
        ];
        let events = vec![
            event("wfrun_a", 1, "run.started"),
            event("wfrun_a", 2, "step.cost_exceeded"),
            event("wfrun_a", 3, "run.completed"),
            // Tenant B has no subscription: nothing to notify.
            event("wfrun_b", 1, "run.completed"),
        ];
        store.commit_runs(&RunBatch { runs, events, ..RunBatch::default() }).await.unwrap();
        let outbox = store.outbox(10).await.unwrap();
        let kept: Vec<(&str, i64, &str, &str)> = outbox
            .iter()
            .map(|e| (e.run_id.as_str(), e.sequence, e.tenant_id.as_str(), e.event_type.as_str()))
            .collect();
        assert_eq!(
            kept,
            [("wfrun_a", 2, "tenant-a", "step.cost_exceeded"), ("wfrun_a", 3, "tenant-a", "run.completed")]
        );
        assert_eq!(outbox[1].workflow_id, "wf_1");
        let payload: EventRecord = serde_json::from_str(&outbox[1].payload).unwrap();
        assert_eq!(payload, event("wfrun_a", 3, "run.completed"), "the event as committed");

        // A failed commit writes no outbox row either: the same event
        // sequence again breaks the run_events key.
        let again = RunBatch {
            events: vec![event("wfrun_a", 4, "run.failed"), event("wfrun_a", 3, "x")],
            ..RunBatch::default()
        };
        assert!(store.commit_runs(&again).await.is_err());
        assert_eq!(store.outbox(10).await.unwrap().len(), 2);

        // A fan-out consumes its entry, and doing it twice adds nothing.
        let made = [delivery("ntd_1", "tenant-a", "ntf_a", "wfrun_a", 3)];
        store.fan_out("wfrun_a", 3, &made).await.unwrap();
        let twice = [delivery("ntd_2", "tenant-a", "ntf_a", "wfrun_a", 3)];
        store.fan_out("wfrun_a", 3, &twice).await.unwrap();
        store.fan_out("wfrun_a", 2, &[]).await.unwrap();
        assert!(store.outbox(10).await.unwrap().is_empty());
        let log = store.list_deliveries("tenant-a", &DeliveryQuery { limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(log.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["ntd_1"]);
        assert_eq!(log[0], made[0]);
    })
    .await;
}

#[tokio::test]
async fn claims_are_leases_and_attempts_are_recorded_under_their_lease_only() {
    on_both_stores("claims_are_leases_and_attempts_are_recorded_under_their_lease_only", |store| async move {
        assert!(store.insert_subscription(&subscription("ntf_a", "tenant-a"), 10).await.unwrap());
        assert!(store.insert_subscription(&subscription("ntf_b", "tenant-b"), 10).await.unwrap());
        let mut later = delivery("ntd_later", "tenant-a", "ntf_a", "wfrun_a", 2);
        later.next_attempt_ms = Some(5_000);
        store.fan_out("wfrun_a", 1, &[delivery("ntd_a", "tenant-a", "ntf_a", "wfrun_a", 1), later]).await.unwrap();
        store.fan_out("wfrun_b", 1, &[delivery("ntd_b", "tenant-b", "ntf_b", "wfrun_b", 1)]).await.unwrap();

        let claimed = store.claim_deliveries(1_000, 2_000, 10).await.unwrap();
        let mut ids: Vec<&str> = claimed.iter().map(|c| c.delivery.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["ntd_a", "ntd_b"], "only what is due");
        let a = claimed.iter().find(|c| c.delivery.id == "ntd_a").unwrap();
        assert_eq!(
            (a.url.as_str(), a.secret.as_str(), a.lease_until),
            ("https://hooks.example.com/ntf_a", "whsec_ntf_a", 2_000)
        );
        assert!(store.claim_deliveries(1_500, 3_000, 10).await.unwrap().is_empty(), "leased");

        let retry = AttemptRecord {
            status: DeliveryStatus::Pending,
            attempts: 1,
            status_code: Some(503),
            error: Some("busy".into()),
            next_attempt_ms: Some(2_500),
            now_ms: 1_600,
        };
        assert!(!store.record_attempt("ntd_a", 1_999, &retry).await.unwrap(), "another lease's attempt");
        assert!(store.record_attempt("ntd_a", 2_000, &retry).await.unwrap());
        assert!(!store.record_attempt("ntd_a", 2_000, &retry).await.unwrap(), "the lease ended with it");
        // ntd_b's lease ends at 2000: it is claimed again then, with ntd_a.
        let again = store.claim_deliveries(2_600, 9_000, 10).await.unwrap();
        let mut ids: Vec<&str> = again.iter().map(|c| c.delivery.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["ntd_a", "ntd_b"]);
        let a = again.iter().find(|c| c.delivery.id == "ntd_a").unwrap();
        assert_eq!((a.delivery.attempts, a.delivery.last_status_code), (1, Some(503)));
        let done = AttemptRecord {
            status: DeliveryStatus::Delivered,
            attempts: 2,
            status_code: Some(200),
            error: None,
            next_attempt_ms: None,
            now_ms: 2_700,
        };
        assert!(store.record_attempt("ntd_a", 9_000, &done).await.unwrap());

        let query = |subscription: Option<&str>, status| DeliveryQuery {
            subscription_id: subscription.map(str::to_owned),
            status,
            after: None,
            limit: 10,
        };
        let delivered = store.list_deliveries("tenant-a", &query(None, Some(DeliveryStatus::Delivered))).await.unwrap();
        assert_eq!(delivered.len(), 1);
        assert_eq!((delivered[0].delivered_ms, delivered[0].last_error.as_deref()), (Some(2_700), None));
        assert_eq!(store.list_deliveries("tenant-a", &query(Some("ntf_b"), None)).await.unwrap(), vec![]);
        assert_eq!(store.list_deliveries("tenant-b", &query(None, None)).await.unwrap().len(), 1);

        // Pruning takes ended deliveries only; deleting a subscription
        // takes its deliveries, in its tenant only.
        assert_eq!(store.prune_deliveries(10_000, 100).await.unwrap(), 1);
        assert_eq!(store.list_deliveries("tenant-a", &query(None, None)).await.unwrap().len(), 1, "ntd_later stays");
        assert!(!store.delete_subscription("tenant-b", "ntf_a").await.unwrap());
        assert!(store.delete_subscription("tenant-a", "ntf_a").await.unwrap());
        assert!(store.list_deliveries("tenant-a", &query(None, None)).await.unwrap().is_empty());
        assert!(store.get_subscription("tenant-a", "ntf_a").await.unwrap().is_none());
        assert!(store.claim_deliveries(100_000, 200_000, 10).await.unwrap().iter().all(|c| c.delivery.id == "ntd_b"));
    })
    .await;
}

#[tokio::test]
async fn a_tenant_holds_at_most_its_limit_of_subscriptions() {
    on_both_stores("a_tenant_holds_at_most_its_limit_of_subscriptions", |store| async move {
        assert!(store.insert_subscription(&subscription("ntf_1", "t"), 2).await.unwrap());
        assert!(store.insert_subscription(&subscription("ntf_2", "t"), 2).await.unwrap());
        assert!(!store.insert_subscription(&subscription("ntf_3", "t"), 2).await.unwrap());
        assert!(store.insert_subscription(&subscription("ntf_4", "other"), 2).await.unwrap(), "per tenant");
        let listed = store.list_subscriptions("t", None, 10).await.unwrap();
        assert_eq!(listed.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["ntf_1", "ntf_2"]);
        assert_eq!(listed[0], subscription("ntf_1", "t"));
        let after = store.list_subscriptions("t", Some((1, "ntf_1".into())), 10).await.unwrap();
        assert_eq!(after.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["ntf_2"]);
    })
    .await;
}
