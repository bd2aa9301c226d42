//! Migration 0020 (unique workflow names) on both stores, over data
//! written before it: a store is migrated, then put back to the state
//! before 0020 (its unique index dropped, its row in `_sqlx_migrations`
//! removed), given workflows that share names, and opened again, which
//! runs 0020 over them. The oldest of each name keeps it, every other is
//! renamed `<name> (<id>)` in the column and in its latest version's
//! definition and source, a definition that is not JSON does not stop
//! the upgrade, other tenants and empty names are left alone, and the
//! index then refuses a duplicate.

use serde_json::json;
use sqlx::{PgPool, SqlitePool};
use weft_server::model::{Definition, WorkflowStatus};
use weft_server::store::{NewWorkflow, OpenStore, StoreError};
use weft_tests::store::{fresh_schema_url, postgres_or_skip};

/// Raw SQL on either store, to write what the store API would refuse.
enum Raw {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Raw {
    async fn connect(url: &str) -> Self {
        if url.starts_with("postgres") {
            Self::Postgres(PgPool::connect(url).await.unwrap())
        } else {
            Self::Sqlite(SqlitePool::connect(url).await.unwrap())
        }
    }

    async fn execute(&self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Self::Sqlite(pool) => drop(sqlx::query(sql).execute(pool).await.unwrap()),
            Self::Postgres(pool) => drop(sqlx::query(sql).execute(pool).await.unwrap()),
        }
    }

    async fn text(&self, sql: &str) -> String {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        }
    }

    async fn close(self) {
        match self {
            Self::Sqlite(pool) => pool.close().await,
            Self::Postgres(pool) => pool.close().await,
        }
    }
}

/// A valid one-step definition named `name`, as stored.
fn definition(name: &str) -> String {
    json!({"name": name, "steps": [{"id": "s", "type": "transform", "output": {"v": "$.input.v"}}]}).to_string()
}

/// A workflow row at `latest` version, created at `created_ms`, named `name`.
async fn workflow(raw: &Raw, tenant: &str, id: &str, created_ms: i64, latest: i64, name: &str) {
    raw.execute(&format!(
        "INSERT INTO workflows (tenant_id, id, status, trigger_type, tags, latest_version, created_at, updated_at, name) \
         VALUES ('{tenant}', '{id}', 'active', 'manual', '[]', {latest}, {created_ms}, {created_ms}, '{name}')"
    ))
    .await;
}

/// A version row; `source` is SQL (`NULL` or a quoted literal).
async fn version(raw: &Raw, tenant: &str, id: &str, version: i64, definition: &str, source: &str) {
    raw.execute(&format!(
        "INSERT INTO workflow_versions (tenant_id, workflow_id, version, definition, change_summary, created_at, source) \
         VALUES ('{tenant}', '{id}', {version}, '{definition}', 'v', 1, {source})"
    ))
    .await;
}

async fn migrates_duplicates(url: &str) {
    // Migrated to the latest schema, then back to the one before 0020.
    OpenStore::open(url).await.unwrap().unwrap().close().await;
    let raw = Raw::connect(url).await;
    raw.execute("DROP INDEX workflows_unique_name").await;
    raw.execute("DELETE FROM _sqlx_migrations WHERE version = 20").await;

    // Tenant t: three workflows named "dup"; the oldest by creation is
    // wf_c, though its id sorts last.
    workflow(&raw, "t", "wf_c", 100, 1, "dup").await;
    version(&raw, "t", "wf_c", 1, &definition("dup"), "NULL").await;
    workflow(&raw, "t", "wf_a", 300, 2, "dup").await;
    version(&raw, "t", "wf_a", 1, &definition("first"), "NULL").await;
    let source = json!({"steps": [{"id": "s", "type": "transform", "config": {"output": {"v": "$.input.v"}}}],
        "name": "dup"});
    version(&raw, "t", "wf_a", 2, &definition("dup"), &format!("'{source}'")).await;
    workflow(&raw, "t", "wf_b", 200, 1, "dup").await;
    version(&raw, "t", "wf_b", 1, "not json {", "'not json either'").await;
    // Another tenant's "dup", two empty names, and a long name twice.
    workflow(&raw, "u", "wf_d", 50, 1, "dup").await;
    version(&raw, "u", "wf_d", 1, &definition("dup"), "NULL").await;
    for id in ["wf_e", "wf_f"] {
        workflow(&raw, "t", id, 10, 1, "").await;
        version(&raw, "t", id, 1, "not json {", "NULL").await;
    }
    let long = "l".repeat(199);
    for (id, created) in [("wf_long1", 10), ("wf_long2", 20)] {
        workflow(&raw, "t", id, created, 1, &long).await;
        version(&raw, "t", id, 1, &definition(&long), "NULL").await;
    }
    raw.close().await;

    let opened = OpenStore::open(url).await.expect("the upgrade runs over duplicates").unwrap();
    let store = opened.shared();
    let by_name = |tenant: &'static str, name: String| {
        let store = store.clone();
        async move { store.workflow_by_name(tenant, &name).await.unwrap().map(|found| found.id) }
    };
    assert_eq!(by_name("t", "dup".into()).await.as_deref(), Some("wf_c"), "the oldest keeps the name");
    assert_eq!(by_name("u", "dup".into()).await.as_deref(), Some("wf_d"), "other tenants are left alone");
    assert_eq!(by_name("t", "dup (wf_a)".into()).await.as_deref(), Some("wf_a"));
    assert_eq!(by_name("t", "dup (wf_b)".into()).await.as_deref(), Some("wf_b"));

    let renamed = store.get_workflow("t", "wf_a").await.unwrap();
    assert_eq!((renamed.definition.name.as_str(), renamed.version), ("dup (wf_a)", 2), "GetWorkflow agrees");
    assert_eq!(renamed.definition.steps.len(), 1);
    let first = store.get_workflow_version("t", "wf_a", 1).await.unwrap();
    assert_eq!(first.definition.name, "first", "older versions are history and stay as written");
    let written = store.get_version_source("t", "wf_a", 2).await.unwrap().expect("the source is kept");
    assert_eq!(written["name"], "dup (wf_a)");
    assert_eq!(written["steps"], source["steps"], "the rest of the source is untouched");
    assert_eq!(store.get_workflow("t", "wf_c").await.unwrap().definition.name, "dup");

    let raw = Raw::connect(url).await;
    let column = |id: &str| format!("SELECT name FROM workflows WHERE id = '{id}'");
    let stored = |id: &str, what: &str| format!("SELECT {what} FROM workflow_versions WHERE workflow_id = '{id}'");
    assert_eq!(raw.text(&stored("wf_b", "definition")).await, "not json {", "left as it was");
    assert_eq!(raw.text(&stored("wf_b", "source")).await, "not json either");
    assert_eq!(raw.text(&column("wf_e")).await, "");
    assert_eq!(raw.text(&column("wf_f")).await, "");
    assert_eq!(raw.text(&column("wf_long1")).await, long);
    let cut = raw.text(&column("wf_long2")).await;
    assert_eq!(cut.chars().count(), 200, "{cut}");
    assert!(cut.ends_with(" (wf_long2)") && cut.starts_with("lll"), "{cut}");
    raw.close().await;

    // From now on the index refuses a second workflow with a taken name.
    let again = NewWorkflow {
        id: "wf_new".into(),
        status: WorkflowStatus::Active,
        trigger_type: "manual".into(),
        tags: Vec::new(),
        change_summary: "v".into(),
        definition: serde_json::from_str::<Definition>(&definition("dup")).unwrap(),
        source: None,
        request_id: None,
        now_ms: 1,
    };
    match store.create_workflow("t", again).await {
        Err(StoreError::NameTaken { name }) => assert_eq!(name, "dup"),
        other => panic!("a duplicate name was not refused: {other:?}"),
    }
    opened.close().await;
}

#[tokio::test]
async fn migration_0020_renames_duplicates_on_both_stores() {
    let dir = tempfile::tempdir().unwrap();
    migrates_duplicates(&format!("sqlite://{}", dir.path().join("m.db").display())).await;
    let Some(base) = postgres_or_skip("migration_0020_renames_duplicates_on_both_stores").await else { return };
    migrates_duplicates(&fresh_schema_url(&base).await).await;
}
