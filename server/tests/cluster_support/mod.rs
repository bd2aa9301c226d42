//! Support for the tests that run several `weft` processes on one Postgres
//! schema: a fresh schema per test, child processes that can be killed,
//! stopped and resumed by signal, and a look at who holds the partitions.
//!
//! The database may be shared with other users and other test processes,
//! so everything here is named to be found again by its creator alone:
//! each `weft` child connects with an `application_name` of its own
//! ([`Weft::application`]), and schemas carry this checkout's
//! [`checkout_tag`] (the end-to-end suite's sweep drops only stale
//! schemas with its own tag).
//!
//! Postgres-only. Without `WEFT_TEST_DATABASE_URL` a test says it was
//! skipped; under `CI=true` that (or an unreachable database) fails it.

#![allow(unsafe_code, reason = "kill(2) to SIGKILL, SIGSTOP and SIGCONT the replicas under test")]
#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The Postgres URL the tests may create schemas in, or `None` after
/// saying the test was skipped. Under CI a missing or unreachable
/// database panics instead.
pub async fn postgres_or_skip(test: &str) -> Option<String> {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let url = std::env::var("WEFT_TEST_DATABASE_URL").ok().filter(|url| !url.trim().is_empty());
    let Some(url) = url else {
        assert!(!in_ci, "{test}: WEFT_TEST_DATABASE_URL is not set; CI must provide Postgres");
        let _ = writeln!(std::io::stderr(), "SKIPPED {test}: WEFT_TEST_DATABASE_URL is not set");
        return None;
    };
    match PgConnection::connect(&url).await {
        Ok(conn) => {
            let _ = conn.close().await;
            Some(url)
        }
        Err(err) if !in_ci => {
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: cannot reach WEFT_TEST_DATABASE_URL ({err})");
            None
        }
        Err(err) => panic!("{test}: cannot reach WEFT_TEST_DATABASE_URL={url}: {err}"),
    }
}

/// A short tag naming this checkout on this host for this user: the
/// schemas it creates carry it, and sweeps drop only schemas with their
/// own tag. The same function as `weft_tests::store::checkout_tag` (a
/// crate the server's tests cannot use), so both sweeps agree.
pub fn checkout_tag() -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(std::path::Path::new("/"));
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let user = std::env::var("USER").unwrap_or_default();
    // FNV-1a: stable across processes and Rust versions, unlike std's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in format!("{}\n{}\n{}", root.display(), host.trim(), user).bytes() {
        hash = (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    format!("{hash:08x}")
}

/// A schema of its own for one test, dropped when the test passes (a
/// failed test leaves it for a look; the end-to-end suite's sweep of this
/// checkout's `weft_t_<tag>_` schemas removes it hours later).
pub struct Schema {
    base: String,
    pub name: String,
    /// `base` with every connection's `search_path` set to the schema.
    pub url: String,
}

impl Schema {
    pub async fn create(base: &str, test: &str) -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("weft_t_{}_{}_{test}_{}", checkout_tag(), nanos / 1_000_000_000, nanos % 1_000_000_000);
        let mut conn = PgConnection::connect(base).await.expect("connect to Postgres");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .expect("create the schema");
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{name}");
        Self { base: base.to_owned(), name, url }
    }

    /// A connection into the schema, for looking at what was stored.
    pub async fn connect(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect into the schema")
    }

    /// Drops the schema; call at the end of a passing test.
    pub async fn drop(self) {
        let mut conn = PgConnection::connect(&self.base).await.expect("connect to Postgres");
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", self.name))).execute(&mut conn).await;
    }

    /// Replica id → partitions it holds, as the table says now.
    pub async fn owners(&self) -> HashMap<String, i64> {
        let mut conn = self.connect().await;
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT owner, COUNT(*) FROM partitions WHERE owner IS NOT NULL GROUP BY owner")
                .fetch_all(&mut conn)
                .await
                .expect("read the partitions");
        rows.into_iter().collect()
    }

    /// One line on who holds what: per owner the partitions it holds,
    /// their highest epoch and how long their leases still run on the
    /// database's clock (negative: ran out that long ago), for a failure
    /// message that says which partitions were stuck and why.
    pub async fn partition_report(&self) -> String {
        let mut conn = self.connect().await;
        let rows: Vec<(String, i64, i64, i64, i64, String)> = sqlx::query_as(
            "SELECT COALESCE(owner, '-'), COUNT(*), MAX(epoch), \
                    MIN(lease_until - (extract(epoch from clock_timestamp()) * 1000)::bigint), \
                    MAX(lease_until - (extract(epoch from clock_timestamp()) * 1000)::bigint), \
                    string_agg(id::text, ',' ORDER BY id) \
             FROM partitions GROUP BY owner ORDER BY owner",
        )
        .fetch_all(&mut conn)
        .await
        .expect("read the partitions");
        rows.iter()
            .map(|(owner, n, epoch, min, max, ids)| {
                let ids = if *n <= 8 { format!(" [{ids}]") } else { String::new() };
                format!("{owner}: {n}{ids} epoch<={epoch} lease {min}..{max} ms")
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The busy Postgres sessions of one `weft` process (found by its own
/// `application_name`), one line each: state, how long in it, the open
/// transaction's age, whether it locks `partitions` rows (`FOR SHARE` in a
/// fenced commit, an update in a takeover) and the statement. A session
/// idle in a transaction that locks partitions keeps a takeover of those
/// rows waiting.
pub async fn sessions_report(schema: &Schema, application: &str) -> String {
    let mut conn = schema.connect().await;
    let lines: Vec<String> = sqlx::query_scalar(
        "SELECT format('pid %s %s for %s ms, xact %s ms%s: %s', a.pid, a.state, \
                  (extract(epoch from clock_timestamp() - a.state_change) * 1000)::bigint, \
                  (extract(epoch from clock_timestamp() - a.xact_start) * 1000)::bigint, \
                  CASE WHEN EXISTS (SELECT 1 FROM pg_locks l \
                                    WHERE l.pid = a.pid AND l.relation = 'partitions'::regclass) \
                       THEN ' LOCKS partitions' ELSE '' END, \
                  left(regexp_replace(a.query, '\\s+', ' ', 'g'), 70)) \
         FROM pg_stat_activity a WHERE a.application_name IN ($1, $1 || '-listen') AND a.state <> 'idle' \
         ORDER BY a.pid",
    )
    .bind(application)
    .fetch_all(&mut conn)
    .await
    .expect("read pg_stat_activity");
    lines.join("\n")
}

/// Whether a session of the `weft` process named `application`, owner
/// `replica`, sits idle in a transaction while rows of the partitions it
/// owns are locked (`FOR SHARE` by its fenced commit): frozen now, it would
/// keep them locked for as long as it stays frozen. The rows are probed
/// with `SKIP LOCKED`, which waits on nothing and holds nothing afterwards.
pub async fn idle_holding_partitions(schema: &Schema, application: &str, replica: &str) -> bool {
    let mut conn = schema.connect().await;
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
                        WHERE application_name = $1 AND state = 'idle in transaction') \
            AND (SELECT COUNT(*) FROM partitions WHERE owner = $2) > \
                (SELECT COUNT(*) FROM (SELECT 1 FROM partitions WHERE owner = $2 \
                                       FOR NO KEY UPDATE SKIP LOCKED) AS free)",
    )
    .bind(application)
    .bind(replica)
    .fetch_one(&mut conn)
    .await
    .expect("read pg_stat_activity and the partitions")
}

/// A `weft serve` child process on a schema. Dropping it resumes and kills
/// the process, so a failing test leaves nothing behind.
pub struct Weft {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// The replica id the process logged when it began serving.
    pub replica: String,
    /// The `application_name` of the process's Postgres connections, unique
    /// to it (its LISTEN connection adds `-listen`): what a test looks for
    /// in `pg_stat_activity`, so it never sees other processes' sessions.
    pub application: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// A fresh `application_name` for one `weft` child: this test process's
/// pid, a counter, and the clock, so test processes on different hosts
/// sharing the database do not collide either.
fn unique_application() -> String {
    static STARTED: AtomicUsize = AtomicUsize::new(0);
    let n = STARTED.fetch_add(1, Ordering::SeqCst);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().subsec_nanos();
    format!("weft-t-{}-{n}-{nanos:x}", std::process::id())
}

impl Weft {
    /// Starts `weft serve` on `database_url` with extra environment, and
    /// waits until it logs that it serves. Its connections are named
    /// [`Self::application`].
    pub fn start(database_url: &str, env: &[(&str, &str)]) -> Self {
        let application = unique_application();
        let separator = if database_url.contains('?') { '&' } else { '?' };
        let database_url = format!("{database_url}{separator}application_name={application}");
        let mut command = Command::new(env!("CARGO_BIN_EXE_weft"));
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("WEFT_DATABASE_URL", &database_url)
            .env("WEFT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("spawn weft");
        // Read the log on a thread of its own: the serving line is awaited
        // with a deadline, and the rest is kept for failure messages (and
        // drained, so the child never blocks on a full pipe).
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (serving_tx, serving_rx) = std::sync::mpsc::channel();
        let keep = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("weft is serving") {
                    let _ = serving_tx.send(line.clone());
                }
                keep.lock().unwrap().push(line);
            }
        });
        let serving = serving_rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("weft did not report serving within 60 s: {:#?}", log.lock().unwrap())
        });
        let field = |name: &str| {
            serving
                .split_whitespace()
                .find_map(|part| part.strip_prefix(name))
                .unwrap_or_else(|| panic!("the serving line names {name}: {serving}"))
                .to_string()
        };
        let (addr, replica) = (field("address="), field("replica="));
        Self { child, url: format!("http://{addr}"), replica, application, log }
    }

    /// The `application_name` of the process's LISTEN connection.
    pub fn listen_application(&self) -> String {
        format!("{}-listen", self.application)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL: the process dies without a word to anyone.
    pub fn kill(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// SIGSTOP: the process freezes; its sockets stay open, its leases run out.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Freezes the process at a moment one of its Postgres sessions is idle
    /// in a transaction holding `partitions` rows (in the middle of a
    /// fenced group commit): tries up to `tries` times, thawing it again
    /// after each miss (a stop of a few milliseconds, far below any lease).
    /// Answers at which try it caught one, if it did; either way the
    /// process is frozen.
    pub async fn freeze_mid_transaction(&self, schema: &Schema, tries: usize) -> Option<usize> {
        for attempt in 0..tries {
            self.freeze();
            if idle_holding_partitions(schema, &self.application, &self.replica).await {
                return Some(attempt + 1);
            }
            if attempt + 1 == tries {
                break;
            }
            self.thaw();
            // Land at a different point of the next commit.
            tokio::time::sleep(Duration::from_millis(1 + (attempt % 7) as u64)).await;
        }
        None
    }

    /// SIGCONT after [`Self::freeze`].
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        let status = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(status, 0, "signal {signal} to weft {}", self.pid());
    }

    /// Log lines that match `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|line| line.contains(needle)).cloned().collect()
    }

    /// The last lines of the log, for a failure message.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log.lock().unwrap();
        log[log.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Weft {
    fn drop(&mut self) {
        // SAFETY: as in `signal`; a stopped child must be resumed to die.
        unsafe {
            libc::kill(self.pid(), libc::SIGCONT);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints a figure the test reports where `cargo test` does not capture
/// it (stderr directly), prefixed with the test file's name.
pub fn report(file: &str, line: &str) {
    let _ = writeln!(std::io::stderr(), "{file}: {line}");
}

/// Polls `check` every 20 ms until it answers true or `limit` passes;
/// answers how long it took, or `None` on timeout.
pub async fn time_until<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}
