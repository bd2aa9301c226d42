//! Which store the end-to-end suite runs on, switched by the environment so
//! every test runs on both without being copied:
//!
//! - `WEFT_TEST_STORE` unset or `sqlite`: each server gets its own SQLite
//!   file (the default).
//! - `WEFT_TEST_STORE=postgres` with `WEFT_TEST_DATABASE_URL`: each server
//!   gets its own fresh schema `weft_t_<tag>_<secs>_<random>` in that
//!   database, reached through `options=-csearch_path=<schema>` in its URL.
//!   `<tag>` names this checkout on this host for this user
//!   ([`checkout_tag`]).
//!
//! A test names its database by a file path either way (`dir/weft.db`);
//! on Postgres the path maps to one schema for the life of the test
//! process, so a restart on "the same file" reuses the same schema.
//! Schemas are left behind when a test ends (a restart may still need
//! them) and dropped by the first server of a later test process of the
//! same checkout once they are more than [`STALE_AFTER`] old. The database
//! may be shared: schemas with another tag (another user's, another
//! checkout's) are never touched.
//!
//! An unreachable database is a failure with a clear message, never a
//! silent pass on SQLite.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::OnceCell;
use weft_server::store::{OpenStore, Store};

/// Environment variable choosing the store: `sqlite` (default) or `postgres`.
pub const STORE_VAR: &str = "WEFT_TEST_STORE";
/// Environment variable holding the Postgres URL tests may use.
pub const DATABASE_VAR: &str = "WEFT_TEST_DATABASE_URL";
/// Schemas older than this are left over from earlier test processes.
pub const STALE_AFTER: Duration = Duration::from_secs(3 * 60 * 60);
/// Prefix of every schema the suite creates (then [`checkout_tag`]).
const SCHEMA_PREFIX: &str = "weft_t_";

/// A short tag naming this checkout on this host for this user: the
/// schemas it creates carry it, and the sweep drops only schemas with its
/// own tag. `server/tests/cluster_support` computes the same, so the
/// sweep also removes what failed multi-process tests left.
pub fn checkout_tag() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("/"));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let user = std::env::var("USER").unwrap_or_default();
    // FNV-1a: stable across processes and Rust versions, unlike std's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in format!("{}\n{}\n{}", root.display(), host.trim(), user).bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

/// `weft_t_<tag>_`: the start of every schema this checkout creates.
fn own_prefix() -> String {
    format!("{SCHEMA_PREFIX}{}_", checkout_tag())
}

/// The store the suite runs servers on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestStore {
    /// A SQLite file per server.
    Sqlite,
    /// A fresh schema per server in the database at this URL.
    Postgres(String),
}

impl TestStore {
    /// The store chosen by `WEFT_TEST_STORE`; panics with the reason when
    /// Postgres is asked for without a URL, or the variable is misspelt.
    pub fn from_env() -> Self {
        match std::env::var(STORE_VAR).ok().as_deref().map(str::trim) {
            None | Some("") | Some("sqlite") => Self::Sqlite,
            Some("postgres") => match postgres_url() {
                Some(url) => Self::Postgres(url),
                None => panic!("{STORE_VAR}=postgres needs {DATABASE_VAR}=postgres://user@host:port/database"),
            },
            Some(other) => panic!("{STORE_VAR}={other} names no store: use sqlite or postgres"),
        }
    }

    /// Whether servers run on Postgres.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The database URL of a server whose data is named `database`: the
    /// file itself on SQLite, its schema on Postgres (created on first use).
    pub async fn url_for(&self, database: &Path) -> String {
        match self {
            Self::Sqlite => format!("sqlite://{}", database.display()),
            Self::Postgres(base) => {
                let schema = schema_for(base, database).await;
                schema_url(base, &schema)
            }
        }
    }
}

/// `WEFT_TEST_DATABASE_URL`, if set and not blank.
pub fn postgres_url() -> Option<String> {
    std::env::var(DATABASE_VAR).ok().filter(|url| !url.trim().is_empty())
}

/// Whether this runs under CI (`CI=true`), where a missing database fails.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// For tests that need Postgres whatever the suite's store: the database
/// URL, or `None` after printing that the test was skipped. Under CI a
/// missing or unreachable database fails the test instead.
pub async fn postgres_or_skip(test: &str) -> Option<String> {
    let Some(url) = postgres_url() else {
        assert!(!in_ci(), "{test}: {DATABASE_VAR} is not set; CI must provide Postgres");
        skipped(&format!("{test}: {DATABASE_VAR} is not set, so its Postgres half did not run"));
        return None;
    };
    match PgConnection::connect(&url).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Some(url)
        }
        Err(err) if !in_ci() => {
            skipped(&format!("{test}: cannot reach {DATABASE_VAR} ({err}), so its Postgres half did not run"));
            None
        }
        Err(err) => panic!("{test}: cannot reach {DATABASE_VAR}={url}: {err}"),
    }
}

/// Says a test was skipped where a developer sees it: straight to stderr,
/// which the test harness does not capture (it captures `eprintln!`).
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED {why}");
}

/// A fresh schema in the database at `base` (also dropping stale ones the
/// first time in this process), and the URL that connects into it.
pub async fn fresh_schema_url(base: &str) -> String {
    let schema = create_schema(base).await;
    schema_url(base, &schema)
}

/// Opens the store of a server whose data is named `database`, on the
/// suite's store, for tests that look at what was stored.
pub async fn open_store(database: &Path) -> OpenStore {
    let url = TestStore::from_env().url_for(database).await;
    OpenStore::open(&url).await.expect("a test URL names a store").expect("open the test store")
}

/// `base` with `search_path` set to `schema` for every connection.
fn schema_url(base: &str, schema: &str) -> String {
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{schema}")
}

/// Schema of each database path seen in this process.
static SCHEMAS: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

async fn schema_for(base: &str, database: &Path) -> String {
    if let Some(schema) = SCHEMAS.lock().unwrap().get_or_insert_with(HashMap::new).get(database) {
        return schema.clone();
    }
    let schema = create_schema(base).await;
    SCHEMAS.lock().unwrap().get_or_insert_with(HashMap::new).insert(database.to_owned(), schema.clone());
    schema
}

async fn create_schema(base: &str) -> String {
    static SWEPT: OnceCell<()> = OnceCell::const_new();
    let mut conn = PgConnection::connect(base)
        .await
        .unwrap_or_else(|err| panic!("{STORE_VAR}=postgres but {DATABASE_VAR}={base} is unreachable: {err}"));
    SWEPT.get_or_init(|| drop_stale_schemas(base)).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let mut random = std::collections::hash_map::RandomState::new().build_hasher();
    random.write_u128(now.as_nanos());
    let schema = format!("{}{}_{:016x}", own_prefix(), now.as_secs(), random.finish());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|err| panic!("cannot create schema {schema}: {err}"));
    let _ = conn.close().await;
    schema
}

/// Drops the schemas earlier test processes of this checkout left, once
/// they are stale (a test process running beside this one keeps its young
/// schemas; other checkouts' and users' schemas are not ours to drop).
async fn drop_stale_schemas(base: &str) {
    let Ok(mut conn) = PgConnection::connect(base).await else { return };
    let cutoff = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().saturating_sub(STALE_AFTER).as_secs();
    let prefix = own_prefix();
    // The tag is hex, so only the prefix's underscores need escaping.
    let pattern = format!("{}%", prefix.replace('_', "\\_"));
    let names: Vec<String> = sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1")
        .bind(pattern)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
    for name in names {
        let created = name.strip_prefix(&prefix).and_then(|rest| rest.split('_').next()?.parse::<u64>().ok());
        if created.is_some_and(|secs| secs < cutoff) {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                .execute(&mut conn)
                .await;
        }
    }
    let _ = conn.close().await;
}

/// A run row for the store tests: version 1 of workflow `wf_1`, started
/// when created, no input, output or error. Tests set what they look at
/// with struct update syntax.
pub fn run_record(
    id: &str,
    tenant: &str,
    status: weft_server::model::RunStatus,
    created_ms: i64,
) -> weft_server::model::RunRecord {
    weft_server::model::RunRecord {
        id: id.into(),
        tenant_id: tenant.into(),
        workflow_id: "wf_1".into(),
        workflow_version: 1,
        user_id: String::new(),
        status,
        input: None,
        output: None,
        shared_state: None,
        error: None,
        error_code: None,
        cancel_reason: None,
        can_retry_from: None,
        pending_action: None,
        cost_cents: 0,
        trigger: "manual".into(),
        idempotency_key: String::new(),
        retry_of_run_id: None,
        created_ms,
        started_ms: Some(created_ms),
        completed_ms: None,
        retention_ms: None,
        schedule_id: None,
        scheduled_ms: None,
    }
}

/// For store contract tests: runs `check` on a fresh SQLite file, then on
/// a fresh Postgres schema (see [`postgres_or_skip`] for when that half
/// is skipped).
pub async fn on_both_stores<F, Fut>(name: &str, check: F)
where
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = format!("sqlite://{}", dir.path().join("c.db").display());
    let sqlite = OpenStore::open(&file).await.expect("a SQLite URL").expect("open SQLite");
    check(sqlite.shared()).await;
    sqlite.close().await;

    let Some(base) = postgres_or_skip(name).await else { return };
    let postgres =
        OpenStore::open(&fresh_schema_url(&base).await).await.expect("a Postgres URL").expect("open Postgres");
    assert!(matches!(postgres, OpenStore::Postgres(_)));
    check(postgres.shared()).await;
    postgres.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn exists(conn: &mut PgConnection, schema: &str) -> bool {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
            .bind(schema)
            .fetch_one(conn)
            .await
            .unwrap()
    }

    /// The sweep drops this checkout's stale schemas and nobody else's: a
    /// stale schema named as another checkout (or an older Weft, without a
    /// tag) would have it stays.
    #[tokio::test]
    async fn the_sweep_drops_only_this_checkouts_stale_schemas() {
        let Some(base) = postgres_or_skip("the_sweep_drops_only_this_checkouts_stale_schemas").await else { return };
        let mut conn = PgConnection::connect(&base).await.unwrap();
        let old = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().saturating_sub(STALE_AFTER * 2).as_secs();
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
        let own = format!("{}{old}_sweep{nanos}", own_prefix());
        let untagged = format!("{SCHEMA_PREFIX}{old}_sweep{nanos}");
        let foreign = format!("{SCHEMA_PREFIX}00000000_{old}_sweep{nanos}");
        for schema in [&own, &untagged, &foreign] {
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
        }
        drop_stale_schemas(&base).await;
        let (own_left, untagged_left, foreign_left) =
            (exists(&mut conn, &own).await, exists(&mut conn, &untagged).await, exists(&mut conn, &foreign).await);
        for schema in [&own, &untagged, &foreign] {
            let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await.unwrap();
        }
        assert!(!own_left, "this checkout's stale schema {own} was dropped");
        assert!(untagged_left && foreign_left, "schemas of others were left: {untagged_left} {foreign_left}");
    }
}
