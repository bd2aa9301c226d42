//! API keys and tenants in end-to-end tests: servers that require keys,
//! keys made straight on a server's store (as `weft keys create` does),
//! REST calls with a key, and a snapshot of every stored row, to show a
//! refused call changed nothing.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
// Table names come from the database itself, never from input.
use sqlx::{AssertSqlSafe, Connection, Row};
use weft_server::Config;
use weft_server::engine::keys::KeyRing;
use weft_server::model::KeyScope;
use weft_server::store::OpenStore;

use crate::store::TestStore;
use crate::{TestServer, http1};

/// Tables that change without any request (replicas renewing their
/// partitions), left out of [`snapshot`].
const BACKGROUND_TABLES: &[&str] = &["partitions", "replicas", "inbox", "_sqlx_migrations"];

/// A server on a fresh database in `dir` that refuses every call without a
/// valid key (`auth.required`), so no anonymous call blurs a test.
pub async fn start_requiring_keys(dir: &Path) -> TestServer {
    let mut config = Config::default();
    config.auth.required = true;
    TestServer::start_on(dir.join("weft.db"), config).await
}

/// Makes a key of `tenant` with `scope` on the server's store, as
/// `weft keys create` would, and returns its text.
pub async fn make_key(server: &TestServer, tenant: &str, scope: KeyScope) -> String {
    let url = TestStore::from_env().url_for(&server.database).await;
    let store = OpenStore::open(&url).await.expect("a store URL").expect("open the store");
    let made = KeyRing::new(store.shared(), false)
        .create(tenant, scope, &format!("{tenant}-{scope}"), 1_000)
        .await
        .expect("create a key");
    store.close().await;
    made.token
}

/// A REST call with `key` (as `authorization: Bearer`), a JSON body when
/// given; the status and the JSON answer (`Null` when it is not JSON).
pub async fn rest(
    server: &TestServer,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let auth = key.map(|key| format!("Bearer {key}"));
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(auth) = &auth {
        headers.push(("authorization", auth));
    }
    let bytes = match body {
        Some(body) => {
            headers.push(("content-type", "application/json"));
            serde_json::to_vec(body).expect("JSON")
        }
        None => Vec::new(),
    };
    let response = http1::request(server.addr, method, path, &headers, &bytes).await.expect("HTTP exchange");
    (response.status, serde_json::from_slice(&response.body).unwrap_or(Value::Null))
}

/// Every stored row of every table but [`BACKGROUND_TABLES`], as text,
/// sorted: equal snapshots mean nothing was written.
pub async fn snapshot(server: &TestServer) -> BTreeMap<String, Vec<String>> {
    let url = TestStore::from_env().url_for(&server.database).await;
    let mut tables = BTreeMap::new();
    if TestStore::from_env().is_postgres() {
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect to the test schema");
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables");
        for name in names.into_iter().filter(|n| !BACKGROUND_TABLES.contains(&n.as_str())) {
            let sql = format!("SELECT t::text FROM \"{name}\" t ORDER BY 1");
            let rows: Vec<String> =
                sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut conn).await.expect("read a table");
            tables.insert(name, rows);
        }
    } else {
        let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{path}?mode=ro")).await.expect("open the SQLite file");
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .expect("list tables");
        for name in names.into_iter().filter(|n| !BACKGROUND_TABLES.contains(&n.as_str())) {
            let columns: Vec<String> = sqlx::query(AssertSqlSafe(format!("PRAGMA table_info(\"{name}\")")))
                .fetch_all(&mut conn)
                .await
                .expect("table columns")
                .iter()
                .map(|row| row.get::<String, _>("name"))
                .collect();
            let quoted: Vec<String> = columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
            let sql = format!("SELECT {} AS r FROM \"{name}\" ORDER BY 1", quoted.join(" || ',' || "));
            let rows: Vec<String> =
                sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut conn).await.expect("read a table");
            tables.insert(name, rows);
        }
    }
    tables
}
