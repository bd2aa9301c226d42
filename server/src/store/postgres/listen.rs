//! LISTEN on one connection of its own (its `application_name` is the
//! URL's with `-listen` added, `weft-listen` by default), turning
//! notifications from every replica into [`Notice`]s.
//!
//! Nothing depends on a notice arriving: every waiter also polls. So when
//! the connection drops the loop says [`Notice::Lost`] (waiters look at
//! once instead of at their next poll), waits a moment and listens again.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::{broadcast, watch};

use crate::store::cluster::Notice;

/// Notification channels (see [`Notice`]).
pub(super) const INBOX_CHANNEL: &str = "weft_inbox";
pub(super) const INBOX_DONE_CHANNEL: &str = "weft_inbox_done";
pub(super) const TASKS_CHANNEL: &str = "weft_tasks";
pub(super) const EVENTS_CHANNEL: &str = "weft_events";

/// Suffix of the listening connection's application name, so operators
/// (and tests) can tell it apart from the pool's connections.
const LISTEN_SUFFIX: &str = "-listen";

/// The application name the listening connection extends when the URL
/// (or `PGAPPNAME`) names none.
const DEFAULT_APPLICATION: &str = "weft";

/// The application name of the listening connection: the one the process's
/// other connections carry (the URL's `application_name` or `PGAPPNAME`)
/// with [`LISTEN_SUFFIX`] added, `weft-listen` when none is set. Several
/// Weft deployments (or test processes) on one Postgres server tell their
/// listeners apart this way.
pub(super) fn listen_application(options: &PgConnectOptions) -> String {
    let own = options.get_application_name().unwrap_or(DEFAULT_APPLICATION);
    format!("{own}{LISTEN_SUFFIX}")
}

/// Pause before listening again after the connection dropped.
const RECONNECT: Duration = Duration::from_millis(200);

/// Listens until `stop` turns true, sending what it hears to `notices`.
pub(super) async fn run(
    options: PgConnectOptions,
    notices: broadcast::Sender<Notice>,
    mut stop: watch::Receiver<bool>,
) {
    let application = listen_application(&options);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.application_name(&application));
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen_all([INBOX_CHANNEL, INBOX_DONE_CHANNEL, TASKS_CHANNEL, EVENTS_CHANNEL]).await?;
            // Anything sent while no connection listened is unknown.
            let _ = notices.send(Notice::Lost);
            loop {
                match listener.try_recv().await? {
                    Some(notification) => {
                        if let Some(notice) = parse(notification.channel(), notification.payload()) {
                            let _ = notices.send(notice);
                        }
                    }
                    None => return Ok::<(), sqlx::Error>(()),
                }
            }
        };
        tokio::select! {
            ended = listening => {
                match ended {
                    Err(err) => tracing::warn!(error = %err, "the LISTEN connection failed; listening again (polling covers the gap)"),
                    Ok(()) => tracing::warn!("the LISTEN connection closed; listening again (polling covers the gap)"),
                }
                let _ = notices.send(Notice::Lost);
            }
            _ = stop.changed() => break,
        }
        tokio::select! {
            _ = tokio::time::sleep(RECONNECT) => {}
            _ = stop.changed() => break,
        }
    }
    pool.close().await;
}

/// A notification as a notice; `None` for a payload no replica sends.
fn parse(channel: &str, payload: &str) -> Option<Notice> {
    let strings = |value: &serde_json::Value| -> Vec<String> {
        value
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default()
    };
    match channel {
        INBOX_CHANNEL => payload.parse().ok().map(Notice::Inbox),
        INBOX_DONE_CHANNEL => payload.parse().ok().map(Notice::InboxDone),
        EVENTS_CHANNEL => {
            let parts = strings(&serde_json::from_str(payload).ok()?);
            let [replica, run_id] = <[String; 2]>::try_from(parts).ok()?;
            Some(Notice::Events { replica, run_id })
        }
        TASKS_CHANNEL => {
            let value: serde_json::Value = serde_json::from_str(payload).ok()?;
            let count = value.get(4).and_then(serde_json::Value::as_u64).unwrap_or(u64::from(u32::MAX)) as u32;
            let mut parts = strings(&value).into_iter();
            let replica = parts.next()?;
            Some(Notice::Tasks {
                replica,
                tenant: parts.next().unwrap_or_default(),
                agent: parts.next().unwrap_or_default(),
                kind: parts.next().unwrap_or_default(),
                count,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_connection_is_named_after_the_process() {
        let named = |url: &str| listen_application(&url.parse::<PgConnectOptions>().unwrap());
        assert_eq!(named("postgres://u@h/db?application_name=weft-t-7"), "weft-t-7-listen");
        if std::env::var_os("PGAPPNAME").is_none() {
            assert_eq!(named("postgres://u@h/db"), "weft-listen");
        }
    }

    #[test]
    fn payloads_become_notices_and_garbage_is_ignored() {
        assert_eq!(parse(INBOX_CHANNEL, "7"), Some(Notice::Inbox(7)));
        assert_eq!(parse(INBOX_DONE_CHANNEL, "42"), Some(Notice::InboxDone(42)));
        assert_eq!(
            parse(EVENTS_CHANNEL, r#"["r1","wfrun_x"]"#),
            Some(Notice::Events { replica: "r1".into(), run_id: "wfrun_x".into() })
        );
        assert_eq!(
            parse(TASKS_CHANNEL, r#"["r1","t","agent-a","agent",3]"#),
            Some(Notice::Tasks {
                replica: "r1".into(),
                tenant: "t".into(),
                agent: "agent-a".into(),
                kind: "agent".into(),
                count: 3
            })
        );
        // A handed-back lease names no agent: every claim is woken.
        assert!(matches!(parse(TASKS_CHANNEL, r#"["r1"]"#), Some(Notice::Tasks { count: u32::MAX, .. })));
        assert_eq!(parse(INBOX_CHANNEL, "x"), None);
        assert_eq!(parse("other", "1"), None);
    }
}
