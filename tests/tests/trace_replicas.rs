//! A run's trace context with two replicas on one Postgres schema: starts
//! sent to one replica for runs whose partition the other holds travel
//! through the inbox, and the context must travel with them, so every run
//! stores the `traceparent` its caller sent whichever replica commits it.
//! Postgres-only; skipped (with a message) outside CI when no database is
//! given.

use std::collections::BTreeSet;

use serde_json::json;
use sqlx::Connection;
use weft_sdk::pb;
use weft_server::api::convert::value_to_pb;
use weft_server::store::cluster::partition_of_key;
use weft_tests::replicas::{self, Replica};
use weft_tests::store::{fresh_schema_url, postgres_or_skip};

async fn replica(url: &str) -> Replica {
    replicas::start(url, |_| {}).await
}

/// Partition -> owner, read from the schema.
async fn partition_owners(url: &str) -> Vec<(i16, Option<String>)> {
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_as("SELECT id, owner FROM partitions ORDER BY id").fetch_all(&mut conn).await.unwrap()
}

#[tokio::test]
async fn starts_forwarded_to_the_partitions_holder_keep_their_trace_context() {
    let name = "starts_forwarded_to_the_partitions_holder_keep_their_trace_context";
    let Some(base) = postgres_or_skip(name).await else { return };
    let url = fresh_schema_url(&base).await;
    let a = replica(&url).await;
    let b = replica(&url).await;
    replicas::until_split_evenly(&url).await;

    let workflow = pb::Workflow {
        name: "traced".into(),
        steps: vec![pb::Step {
            id: "scrape".into(),
            r#type: "agent".into(),
            agent: "web-researcher".into(),
            task: "t".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let request = pb::CreateWorkflowRequest { workflow: Some(workflow), ..Default::default() };
    let workflow_id = a.client.workflows().create_workflow(request).await.unwrap().into_inner().id;

    // Every start goes to A. A start with an idempotency key belongs to the
    // key's partition, so those B holds are started by B, through the inbox.
    let mut sent = Vec::new();
    for i in 0..12u32 {
        let traceparent = format!("00-{:032x}-00f067aa0ba902b7-01", 0xabc0 + i);
        let start = pb::StartRunRequest {
            workflow_id: workflow_id.clone(),
            input: Some(value_to_pb(&json!({}))),
            idempotency_key: format!("trace-{i}"),
            ..Default::default()
        };
        let mut request = tonic::Request::new(start);
        request.metadata_mut().insert("traceparent", traceparent.parse().unwrap());
        request.metadata_mut().insert("tracestate", format!("weft=t{i}").parse().unwrap());
        let run_id = a.client.runs().start_run(request).await.unwrap().into_inner().run.unwrap().id;
        sent.push((run_id, format!("trace-{i}"), traceparent, format!("weft=t{i}")));
    }

    let owners = partition_owners(&url).await;
    let holders: BTreeSet<_> = sent
        .iter()
        .map(|(_, key, ..)| owners[usize::from(partition_of_key(weft_server::model::DEFAULT_TENANT, key))].1.clone())
        .collect();
    assert_eq!(holders.len(), 2, "some of the runs went through the other replica's inbox: {holders:?}");

    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    for (run_id, _, traceparent, tracestate) in &sent {
        let stored: (Option<String>, Option<String>) =
            sqlx::query_as("SELECT trace_parent, trace_state FROM runs WHERE id = $1")
                .bind(run_id)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(stored, (Some(traceparent.clone()), Some(tracestate.clone())), "{run_id}");
    }
    conn.close().await.unwrap();

    for replica in [a, b] {
        replica.stop().await;
    }
}
