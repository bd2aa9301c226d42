//! The trigger part of the Store contract, the same on SQLite and
//! Postgres: a deploy creates the row once and keeps its deploy time on a
//! repeat; arming needs a deployed row and numbers each window; a window
//! is claimed once (a second claim, an expired window, an undeployed row
//! claim nothing); a released window can be claimed again, but not after a
//! newer arm; rows are found by webhook id whatever the tenant, and never
//! by another tenant's workflow id. The Postgres half needs
//! `WEFT_TEST_DATABASE_URL`.

use std::sync::Arc;

use weft_server::store::Store;
use weft_tests::store::on_both_stores;

#[tokio::test]
async fn a_window_is_claimed_once_and_only_while_open_and_deployed() {
    on_both_stores("a_window_is_claimed_once_and_only_while_open_and_deployed", |store: Arc<dyn Store>| async move {
        assert!(store.arm_trigger("t1", "wf_a", "wh_a", "s", 2_000).await.unwrap().is_none(), "not deployed");
        let first = store.deploy_trigger("t1", "wf_a", "wh_a", "s1", 100).await.unwrap();
        assert!(first.deployed && first.deployed_ms == Some(100) && first.armed_until_ms.is_none());
        let again = store.deploy_trigger("t1", "wf_a", "wh_a", "s2", 200).await.unwrap();
        assert_eq!((again.deployed_ms, again.webhook_secret.as_str()), (Some(100), "s2"), "deployed once");
        assert!(store.get_trigger("t2", "wf_a").await.unwrap().is_none(), "another tenant sees nothing");
        assert_eq!(store.find_webhook("wh_a").await.unwrap().unwrap().tenant_id, "t1");

        assert!(store.claim_window("wh_a", 1_000).await.unwrap().is_none(), "never armed");
        let armed = store.arm_trigger("t1", "wf_a", "wh_a", "s2", 2_000).await.unwrap().unwrap();
        assert_eq!((armed.arm_sequence, armed.armed_until_ms), (1, Some(2_000)));
        let window = store.claim_window("wh_a", 1_000).await.unwrap().expect("the open window");
        assert_eq!((window.arm_sequence, window.armed_until_ms), (1, 2_000));
        assert!(store.claim_window("wh_a", 1_001).await.unwrap().is_none(), "claimed once");

        // A window given back can be claimed again, unless re-armed since.
        store.release_window("wh_a", window).await.unwrap();
        let window = store.claim_window("wh_a", 1_002).await.unwrap().expect("given back");
        store.arm_trigger("t1", "wf_a", "wh_a", "s2", 5_000).await.unwrap().unwrap();
        store.release_window("wh_a", window).await.unwrap();
        let row = store.find_webhook("wh_a").await.unwrap().unwrap();
        assert_eq!((row.arm_sequence, row.armed_until_ms), (2, Some(5_000)), "the newer arm stands");

        // Expired, then undeployed: nothing to claim.
        assert!(store.claim_window("wh_a", 5_000).await.unwrap().is_none(), "the window ended");
        store.arm_trigger("t1", "wf_a", "wh_a", "s2", 9_000).await.unwrap().unwrap();
        let undeployed = store.undeploy_trigger("t1", "wf_a").await.unwrap().unwrap();
        assert!(!undeployed.deployed && undeployed.armed_until_ms.is_none() && undeployed.deployed_ms.is_none());
        assert!(store.claim_window("wh_a", 6_000).await.unwrap().is_none(), "undeployed");

        store.record_webhook_fire("wh_a", "wfrun_1", 7_000, Some("fp")).await.unwrap();
        let fired = store.get_trigger("t1", "wf_a").await.unwrap().unwrap();
        assert_eq!((fired.last_fired_ms, fired.last_run_id.as_deref()), (Some(7_000), Some("wfrun_1")));
        assert_eq!(fired.last_delivery.as_deref(), Some("fp"));
    })
    .await;
}
