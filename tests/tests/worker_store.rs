//! The WorkerStore contract, asserted the same way against SQLite and
//! Postgres: upsert, touch (forward only, never a forgotten worker), list
//! (newest sight first, a damaged row skipped), count and prune. The
//! Postgres half needs `WEFT_TEST_DATABASE_URL`; outside CI it says it was
//! skipped when the database is missing, under CI it fails.

use std::sync::Arc;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnection;
use weft_server::model::definition::Money;
use weft_server::store::workers::AgentCostHint;
use weft_server::store::{OpenStore, Store, WorkerRecord};
use weft_tests::store::{fresh_schema_url, postgres_or_skip};

const T: &str = "default";

fn worker(id: &str, agents: &[&str], seen_ms: i64) -> WorkerRecord {
    WorkerRecord {
        worker_id: id.into(),
        name: format!("host of {id}"),
        agents: agents.iter().map(|a| a.to_string()).collect(),
        concurrency: 3,
        cost_hints: vec![AgentCostHint {
            agent: agents[0].into(),
            min: Money { amount: 2, currency: "usd".into() },
            max: Money { amount: 9, currency: "usd".into() },
        }],
        registered_ms: seen_ms,
        last_seen_ms: seen_ms,
    }
}

async fn check(store: Arc<dyn Store>, url: &str) {
    store.upsert_worker(T, &worker("a", &["x"], 1_000)).await.unwrap();
    store.upsert_worker(T, &worker("b", &["y", "z"], 2_000)).await.unwrap();
    store.upsert_worker("other", &worker("a", &["q"], 2_000)).await.unwrap();

    // Touch moves the last sight forward, never back, and answers the row.
    let touched = store.touch_worker(T, "a", 3_000, 0).await.unwrap().expect("a is known");
    assert_eq!((touched.last_seen_ms, touched.registered_ms), (3_000, 1_000));
    assert_eq!(touched, WorkerRecord { last_seen_ms: 3_000, ..worker("a", &["x"], 1_000) });
    let older = store.touch_worker(T, "a", 2_500, 0).await.unwrap().unwrap();
    assert_eq!(older.last_seen_ms, 3_000, "a late sighting does not move it back");
    assert_eq!(store.touch_worker(T, "nobody", 3_000, 0).await.unwrap(), None);
    // b was last seen at 2000: forgotten for anyone keeping sights from 2001.
    assert_eq!(store.touch_worker(T, "b", 9_000, 2_001).await.unwrap(), None);
    let listed = store.list_workers(T, 0, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|w| (w.worker_id.as_str(), w.last_seen_ms)).collect::<Vec<_>>(),
        [("a", 3_000), ("b", 2_000)]
    );
    assert_eq!(listed[1].agents, ["y", "z"], "agents keep their order");
    assert_eq!(store.list_workers(T, 2_001, 10).await.unwrap().len(), 1, "only workers seen since");
    assert_eq!(store.list_workers(T, 0, 1).await.unwrap().len(), 1, "at most the limit");
    assert_eq!(store.list_workers("other", 0, 10).await.unwrap()[0].agents, ["q"], "tenants apart");

    // A registration again replaces the row, times included.
    store.upsert_worker(T, &worker("a", &["x2"], 4_000)).await.unwrap();
    let again = store.touch_worker(T, "a", 4_000, 0).await.unwrap().unwrap();
    assert_eq!((again.agents.as_slice(), again.registered_ms), (["x2".to_string()].as_slice(), 4_000));

    assert_eq!(store.count_other_workers(T, "a", 0).await.unwrap(), 1);
    assert_eq!(store.count_other_workers(T, "new", 0).await.unwrap(), 2);
    assert_eq!(store.count_other_workers(T, "new", 2_001).await.unwrap(), 1);

    // A id no registration can have (the api refuses it) is not an error.
    assert_eq!(store.touch_worker(T, "nul\0id", 1, 0).await.unwrap(), None);

    // A damaged document is skipped by a listing and is Corrupt for its worker.
    write_raw(
        url,
        "INSERT INTO workers (tenant_id, id, registration, registered_at, last_seen) \
         VALUES ('default', 'broken', '{\"name\": 5}', 5000, 5000)",
    )
    .await;
    let ids: Vec<String> = store.list_workers(T, 0, 10).await.unwrap().into_iter().map(|w| w.worker_id).collect();
    assert_eq!(ids, ["a", "b"], "the damaged row is left out, the others listed");
    let broken = store.touch_worker(T, "broken", 6_000, 0).await.unwrap_err();
    assert!(broken.to_string().contains("worker 'broken'"), "{broken}");

    // Pruning deletes the rows last seen before the cut, a batch at a time.
    assert_eq!(store.prune_workers(4_000, 10).await.unwrap(), 2, "b here and a of the other tenant");
    assert_eq!(store.prune_workers(4_000, 10).await.unwrap(), 0);
    let left: Vec<String> = store.list_workers(T, 0, 10).await.unwrap().into_iter().map(|w| w.worker_id).collect();
    assert_eq!(left, ["a"]);
}

/// Runs `sql` on a connection of its own to the store at `url`, for
/// writing what the store never would.
async fn write_raw(url: &str, sql: &'static str) {
    if url.starts_with("sqlite:") {
        let mut conn = SqliteConnection::connect(url).await.expect("connect to SQLite");
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        let _ = conn.close().await;
    } else {
        let mut conn = PgConnection::connect(url).await.expect("connect to Postgres");
        sqlx::query(sql).execute(&mut conn).await.unwrap();
        let _ = conn.close().await;
    }
}

#[tokio::test]
async fn both_stores_keep_worker_registrations_to_one_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let sqlite = OpenStore::open(&url).await.unwrap().unwrap();
    check(sqlite.shared(), &url).await;
    sqlite.close().await;

    let Some(base) = postgres_or_skip("both_stores_keep_worker_registrations_to_one_contract").await else { return };
    let url = fresh_schema_url(&base).await;
    let postgres = OpenStore::open(&url).await.unwrap().unwrap();
    check(postgres.shared(), &url).await;
    postgres.close().await;
}
