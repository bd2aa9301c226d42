//! Tenants are separate worlds: two tenants with the same workflow names,
//! agent names, worker ids and idempotency keys each see only their own
//! workflows, runs, events, approvals, workers and keys; a worker only ever
//! receives its own tenant's tasks; a stream only follows its own tenant's
//! runs. KeyService's own bad input is here too.

use serde_json::json;
use tokio_stream::StreamExt;
use tonic::Code;
use weft_sdk::{Weft, pb};
use weft_server::model::KeyScope;
use weft_tests::auth::{make_key, rest, start_requiring_keys};
use weft_tests::{TestServer, chain_workflow, runs, workers, workflows};

async fn client(server: &TestServer, key: &str) -> Weft {
    server.client().await.with_api_key(key).expect("a key is header text")
}

/// What one tenant made: the same names as the other tenant's.
struct Tenant {
    admin: Weft,
    worker: Weft,
    workflow: String,
    run: String,
    approval_run: String,
}

async fn populate(server: &TestServer, tenant: &str) -> Tenant {
    let admin = client(server, &make_key(server, tenant, KeyScope::Admin).await).await;
    let worker = client(server, &make_key(server, tenant, KeyScope::Worker).await).await;
    let workflow = workflows::create_pb(&admin, chain_workflow("same-name", 1)).await;
    let mut start = runs::start_request(&workflow.id, &json!({"company": tenant}));
    start.idempotency_key = "same-key".into();
    let run = admin.runs().start_run(start).await.expect("StartRun").into_inner().run_id;
    let gate = pb::Workflow {
        name: "gate".into(),
        steps: vec![pb::Step {
            id: "gate".into(),
            r#type: "approval".into(),
            action: "go".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let gate = workflows::create_pb(&admin, gate).await;
    let approval_run = runs::start(&admin, &gate.id, json!({})).await.id;
    workers::register(&worker, "same-worker", &["worker"]).await;
    Tenant { admin, worker, workflow: workflow.id, run, approval_run }
}

#[tokio::test]
async fn every_list_stream_and_poll_shows_only_the_callers_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;
    let a = populate(&server, "tenant-a").await;
    let b = populate(&server, "tenant-b").await;
    assert_ne!(a.run, b.run, "the same idempotency key in two tenants names two runs");

    for (me, other) in [(&a, &b), (&b, &a)] {
        let listed =
            me.admin.workflows().list_workflows(pb::ListWorkflowsRequest::default()).await.unwrap().into_inner();
        assert_eq!(listed.workflows.len(), 2, "own workflows only");
        assert!(listed.workflows.iter().all(|w| w.id != other.workflow));

        let runs = me.admin.runs().list_runs(pb::ListRunsRequest::default()).await.unwrap().into_inner();
        let ids: Vec<&str> = runs.runs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 2, "own runs only: {ids:?}");
        assert!(ids.contains(&me.run.as_str()) && !ids.contains(&other.run.as_str()));

        let filtered = pb::ListRunsRequest { workflow_id: other.workflow.clone(), ..Default::default() };
        // Another tenant's workflow is no workflow of this one: not found.
        assert_eq!(me.admin.runs().list_runs(filtered).await.unwrap_err().code(), Code::NotFound);

        let events = pb::ListRunEventsRequest { run_id: other.run.clone(), ..Default::default() };
        assert_eq!(me.admin.runs().list_run_events(events).await.unwrap_err().code(), Code::NotFound);

        let approvals = weft_tests::eventually("the approval opens", 10, || async {
            let listed =
                me.admin.approvals().list_approvals(pb::ListApprovalsRequest::default()).await?.into_inner().approvals;
            if listed.is_empty() { Err(tonic::Status::not_found("not yet")) } else { Ok(listed) }
        })
        .await;
        assert_eq!(approvals.len(), 1);
        assert_eq!(approvals[0].run_id, me.approval_run, "own approvals only");

        let listed = me.admin.workers().list_workers(pb::ListWorkersRequest::default()).await.unwrap().into_inner();
        assert_eq!(listed.workers.len(), 1, "own workers only");

        let keys = me.admin.keys().list_keys(pb::ListKeysRequest {}).await.unwrap().into_inner().keys;
        assert_eq!(keys.len(), 2, "own keys only");

        // A stream follows its own tenant's run, and not the other's.
        let mut own = std::pin::pin!(me.admin.stream_run(me.run.clone(), 0));
        let first = own.next().await.expect("an event").expect("the own run streams");
        assert_eq!(first.run_id, me.run);
        let request = pb::StreamRunEventsRequest { run_id: other.run.clone(), after_sequence: 0 };
        let refused = me.admin.runs().stream_run_events(request).await.map(|_| ()).unwrap_err();
        assert_eq!(refused.code(), Code::NotFound);
    }

    // Over REST too: the other tenant's run is 404, its SSE stream as well.
    let key_a = make_key(&server, "tenant-a", KeyScope::Read).await;
    let (status, _) = rest(&server, "GET", &format!("/v1/runs/{}", b.run), Some(&key_a), None).await;
    assert_eq!(status, 404);
    let (status, _) = rest(&server, "GET", &format!("/v1/runs/{}/events:stream", b.run), Some(&key_a), None).await;
    assert_eq!(status, 404);

    // Each worker gets its own tenant's task, though both serve agent
    // "worker" under the same worker id.
    let task_a = workers::poll_one(&a.worker, "same-worker").await;
    let task_b = workers::poll_one(&b.worker, "same-worker").await;
    assert_eq!(task_a.run_id, a.run);
    assert_eq!(task_b.run_id, b.run);
    assert!(workers::poll(&a.worker, "same-worker", 1).await.is_none(), "tenant A has no task left, B's stay B's");
    // A's worker key cannot complete B's task, even knowing its id and lease.
    let stolen = a.worker.workers().complete_task(workers::complete_request(&task_b, &json!({}), None)).await;
    assert_eq!(stolen.unwrap_err().code(), Code::NotFound);
    workers::complete(&b.worker, &task_b, &json!({"ok": true})).await;
    let done = runs::wait_finished(&b.admin, &b.run, 10).await;
    assert_eq!(done.status(), pb::RunStatus::Completed);
    let still = runs::get_run(&a.admin, &a.run).await;
    assert_ne!(still.status(), pb::RunStatus::Completed, "tenant A's run is untouched by B's worker");
    server.stop().await;
}

#[tokio::test]
async fn key_service_refuses_bad_input_and_keys_act_only_in_their_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;
    let admin_key = make_key(&server, "acme", KeyScope::Admin).await;
    let admin = client(&server, &admin_key).await;
    let keys = admin.keys();

    let unset = keys.clone().create_key(pb::CreateKeyRequest { scope: 0, name: "x".into() }).await.unwrap_err();
    assert_eq!(unset.code(), Code::InvalidArgument);
    assert!(unset.message().contains("scope"), "{}", unset.message());
    let unknown = keys.clone().create_key(pb::CreateKeyRequest { scope: 99, name: "x".into() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    let long = keys
        .clone()
        .create_key(pb::CreateKeyRequest { scope: pb::KeyScope::Read.into(), name: "n".repeat(201) })
        .await
        .unwrap_err();
    assert_eq!(long.code(), Code::InvalidArgument);
    assert!(long.message().contains("200"), "{}", long.message());
    let control = keys
        .clone()
        .create_key(pb::CreateKeyRequest { scope: pb::KeyScope::Read.into(), name: "a\u{7}b".into() })
        .await
        .unwrap_err();
    assert_eq!(control.code(), Code::InvalidArgument);
    for key_id in ["", &"k".repeat(129)] {
        let err = keys.clone().revoke_key(pb::RevokeKeyRequest { key_id: key_id.to_owned() }).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{key_id:?}");
    }
    let missing = keys.clone().revoke_key(pb::RevokeKeyRequest { key_id: "key_nope".into() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        keys.clone().list_keys(pb::ListKeysRequest {}).await.unwrap().into_inner().keys.len(),
        1,
        "nothing stored"
    );

    // A key made over the API acts in its maker's tenant, and dies on revocation.
    let made = keys
        .clone()
        .create_key(pb::CreateKeyRequest { scope: pb::KeyScope::Write.into(), name: "ci".into() })
        .await
        .unwrap()
        .into_inner();
    let key = made.key.unwrap();
    assert_eq!(key.tenant, "acme");
    assert!(made.secret.starts_with("wk_"));
    let writer = client(&server, &made.secret).await;
    let created = workflows::create_pb(&writer, chain_workflow("by-writer", 1)).await;
    let seen = admin.workflows().get_workflow(pb::GetWorkflowRequest { id: created.id.clone() }).await;
    assert!(seen.is_ok(), "the writer's workflow is in acme");
    keys.clone().revoke_key(pb::RevokeKeyRequest { key_id: key.key_id.clone() }).await.unwrap();
    let after = writer.workflows().get_workflow(pb::GetWorkflowRequest { id: created.id }).await.unwrap_err();
    assert_eq!(after.code(), Code::Unauthenticated, "a revoked key fails on its next call");

    // REST: the key in x-api-key, with the documented JSON body.
    let body = json!({"scope": "read", "name": "from-rest"});
    let response = weft_tests::http1::request(
        server.addr,
        "POST",
        "/v1/keys",
        &[("x-api-key", made.secret.as_str()), ("content-type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(response.status, 401, "a revoked key over REST too");
    let (status, made) = rest(&server, "POST", "/v1/keys", Some(&admin_key), Some(&body)).await;
    assert_eq!(status, 201, "a create answers 201: {made}");
    assert_eq!(made["key"]["scope"], "read", "{made}");
    assert!(made["secret"].as_str().is_some_and(|s| s.starts_with("wk_")), "{made}");
    let (status, refused) = rest(&server, "POST", "/v1/keys", Some(&admin_key), Some(&json!({"scope": "root"}))).await;
    assert_eq!(status, 400, "{refused}");
    let (status, listed) = rest(&server, "GET", "/v1/keys", Some(&admin_key), None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["keys"].as_array().map(Vec::len), Some(3), "{listed}");
    assert!(!listed.to_string().contains("wk_"), "secrets are never listed");
    server.stop().await;
}
