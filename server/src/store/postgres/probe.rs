//! The first connection at start-up, made alone before the pool, so a
//! Postgres that cannot be reached is reported by its real cause (refused,
//! unknown host, bad password, missing database) within seconds instead of
//! as the pool's "timed out" after its acquire timeout.
//!
//! The pool retries failed connections until its timeout and then reports
//! only that it timed out, hiding the cause; one direct connection returns
//! the driver's error at once.

use std::io::ErrorKind;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::store::StoreError;

/// How long the probe waits for the server to accept, authenticate and
/// answer. Refusals, unknown hosts and bad passwords come back at once;
/// only a host that drops packets uses it all. Two seconds is long even
/// for a TLS handshake across regions, and short enough that a
/// misconfigured start fails before anyone wonders.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// SQLSTATEs of a refused login: 28P01 invalid_password, 28000
/// invalid_authorization_specification (no such role, pg_hba refusal).
const AUTH_SQLSTATES: [&str; 2] = ["28P01", "28000"];

/// SQLSTATE 3D000 invalid_catalog_name: the database does not exist.
const NO_DATABASE_SQLSTATE: &str = "3D000";

/// Connects once to `options` and closes the connection again; an error
/// names the address (never the password) and the cause.
pub(super) async fn probe(options: &PgConnectOptions) -> Result<(), StoreError> {
    let unreachable =
        |cause: String| StoreError::Unreachable(format!("cannot connect to Postgres at {}: {cause}", address(options)));
    match tokio::time::timeout(PROBE_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => {
            // The pool makes its own connections; a failed goodbye to
            // this one changes nothing.
            let _ = connection.close().await;
            Ok(())
        }
        Ok(Err(err)) => Err(unreachable(cause(&err, options))),
        Err(_elapsed) => Err(unreachable(format!(
            "no answer within {} s (is the host reachable, the port right?)",
            PROBE_TIMEOUT.as_secs()
        ))),
    }
}

/// Where `options` connect: `host:port`, `[v6]:port`, or the Unix socket.
pub(super) fn address(options: &PgConnectOptions) -> String {
    if let Some(socket) = options.get_socket() {
        return format!("socket {}", socket.display());
    }
    let host = options.get_host();
    let port = options.get_port();
    // The URL's `[::1]` keeps its brackets; a bare IPv6 host (from
    // PGHOST) gets them, so the port stays readable.
    if host.contains(':') && !host.starts_with('[') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// The cause of a failed connection, in words an operator acts on.
fn cause(err: &sqlx::Error, options: &PgConnectOptions) -> String {
    match err {
        sqlx::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => "connection refused (is Postgres running and listening there?)".into(),
            ErrorKind::TimedOut => "connection timed out".into(),
            ErrorKind::NotFound if options.get_socket().is_some() => "no such socket".into(),
            // Something answered, but not as Postgres (an HTTP proxy, the
            // wrong port).
            ErrorKind::UnexpectedEof => format!("the server there does not speak Postgres ({io})"),
            // DNS failures come from getaddrinfo as an uncategorised I/O
            // error whose text says so ("failed to lookup address …").
            _ => io.to_string(),
        },
        sqlx::Error::Database(db) => {
            let code = db.code();
            let code = code.as_deref().unwrap_or("");
            if AUTH_SQLSTATES.contains(&code) {
                format!("authentication failed for user '{}': {}", options.get_username(), db.message())
            } else if code == NO_DATABASE_SQLSTATE {
                format!("database '{}' does not exist", options.get_database().unwrap_or(options.get_username()))
            } else {
                format!("{} (SQLSTATE {code})", db.message())
            }
        }
        sqlx::Error::Tls(tls) => format!("TLS failed: {tls}"),
        // Anything else is rare at connect time; the driver's words are
        // the best we have. They never include the password.
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn addresses_name_host_and_port_never_the_password() {
        let options = PgConnectOptions::from_str("postgres://weft:s3cret@db.internal:6543/weft").unwrap();
        assert_eq!(address(&options), "db.internal:6543");
        let options = PgConnectOptions::from_str("postgres://weft@[::1]/weft").unwrap();
        assert_eq!(address(&options), "[::1]:5432");
    }

    /// A port nothing listens on: bound, then closed, so the kernel
    /// refuses at once.
    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn a_refused_connection_says_so_quickly_with_the_address() {
        let port = closed_port();
        let options = PgConnectOptions::from_str(&format!("postgres://weft:s3cret@127.0.0.1:{port}/weft")).unwrap();
        let started = std::time::Instant::now();
        let err = probe(&options).await.unwrap_err().to_string();
        assert!(started.elapsed() < PROBE_TIMEOUT, "took {:?}", started.elapsed());
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(err.contains("connection refused"), "{err}");
        assert!(!err.contains("s3cret"), "{err}");
    }
}
