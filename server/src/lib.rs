//! `weft-server`: the Weft workflow engine as a library, with a thin `weft`
//! binary on top.
//!
//! # Layout
//!
//! - [`config`]: layered configuration (defaults, TOML, env, flags).
//! - [`api`]: the gRPC services, gRPC-web, reflection and health; the only
//!   code that knows tonic. It calls the engine.
//! - [`gateway`]: REST/JSON, SSE and OpenAPI, driven by the proto's
//!   `google.api.http` annotations; it calls the gRPC services in-process.
//! - [`engine`]: definitions compiled to DAGs, the workflow catalog, the
//!   pure run core and the run scheduler (one writer, group commit). It
//!   calls the store.
//! - [`expr`]: JSONPath, condition expressions and `{{ }}` templates, parsed
//!   once and capped in size and depth (from `weft-core`).
//! - [`store`]: the `Store` trait and its SQLite and Postgres
//!   implementations; the only code that knows SQL.
//! - [`model`]: domain types shared by all layers (from `weft-core`, with
//!   the compiler and the run core: the pure layers, in a crate that can
//!   reach no runtime, database or clock).
//! - [`ids`]: fresh resource ids (they read the clock, so not in the core).
//! - [`health`]: what gRPC health reports, and why.
//! - [`outbound`]: SSRF rules, the guarded HTTP client and HMAC signatures
//!   that webhook and http_request steps use.
//!
//! [`run`] is the one entry point: `main` calls it with a bound listener and
//! a shutdown signal, and so do the end-to-end tests, on port 0.

pub mod admin;
pub mod api;
pub mod config;
pub mod engine;
pub mod gateway;
pub mod health;
pub mod ids;
pub mod outbound;
pub mod store;
pub mod telemetry;

// The pure layers live in `weft-core`; their paths stay `crate::model`,
// `crate::expr`.
pub use weft_core::{expr, model};

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::Config;

use crate::engine::{EngineError, TaskQueue, WorkflowCatalog};
use crate::store::OpenStore;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database URL names a store this build cannot open.
    #[error("unsupported database URL '{0}': use sqlite:<file> or postgres://user@host:port/database")]
    UnsupportedDatabase(String),
    /// The store could not be opened or migrated.
    #[error("cannot open the store: {0}")]
    Store(#[from] store::StoreError),
    /// Unfinished runs could not be recovered.
    #[error("cannot recover runs: {0}")]
    Recovery(#[from] EngineError),
    /// The REST bindings are inconsistent.
    #[error(transparent)]
    Gateway(#[from] gateway::GatewayError),
    /// Reflection descriptors could not be loaded.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The outbound HTTP client could not be built.
    #[error("{0}")]
    Outbound(String),
    /// Serving failed.
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The server would listen beyond loopback with no API key to check.
    #[error(
        "refusing to listen on {address}, which is not a loopback address, while no API key exists: anyone \
         who can reach it could do anything. Create the first key with\n\n    {command}\n\nthen start again \
         (or listen on 127.0.0.1)"
    )]
    NoKeysBeyondLoopback {
        /// The listen address.
        address: std::net::SocketAddr,
        /// The command that creates the first key.
        command: String,
    },
    /// The run writer ended while serving (a bug); the server drained and
    /// stops, so a supervisor restarts it and recovery replays its runs.
    #[error("the run writer stopped; restart the server to recover its runs")]
    WriterStopped,
}

/// Opens the store named by the configuration.
async fn open_store(url: &str) -> Result<OpenStore, ServeError> {
    match OpenStore::open(url).await {
        Some(opened) => Ok(opened?),
        None => Err(ServeError::UnsupportedDatabase(url.to_string())),
    }
}

/// Where callers reach this server (callback and webhook trigger URLs):
/// `webhook.public_url`, else the listening address.
fn public_url(config: &Config, listener: &TcpListener) -> Result<String, ServeError> {
    Ok(match &config.webhook.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", listener.local_addr()?),
    })
}

/// What the built-in executor of webhook, http_request and script steps
/// is given: the guarded client, the secret, where callbacks come back.
fn builtin_settings(
    config: &Config,
    listener: &TcpListener,
    secret: &outbound::Secret,
    vault: &engine::builtin::SecretVault,
) -> Result<engine::builtin::BuiltinSettings, ServeError> {
    let allow = outbound::AllowList::parse(&config.outbound.allow_networks).map_err(ServeError::Outbound)?;
    let client = outbound::OutboundClient::new(outbound::ClientLimits {
        allow,
        timeout: std::time::Duration::from_millis(config.outbound.request_timeout_ms),
        max_response_bytes: config.outbound.max_response_bytes,
    })
    .map_err(ServeError::Outbound)?;
    Ok(engine::builtin::BuiltinSettings {
        client,
        secret: secret.clone(),
        public_url: public_url(config, listener)?,
        callback_timeout: std::time::Duration::from_millis(config.webhook.callback_timeout_ms.unwrap_or(3_600_000)),
        script: config.script.clone(),
        vault: vault.clone(),
    })
}

/// Notification subscriptions and, unless `[notifications] dispatch` is
/// off, the dispatcher that delivers them, both under the outbound SSRF
/// rules with the notifications' own request timeout.
fn notifications(
    config: &Config,
    store: &Arc<dyn store::Store>,
) -> Result<(engine::notify::Subscriptions, Option<engine::notify::NotificationDispatcher>), ServeError> {
    let settings = &config.notifications;
    let client = outbound::OutboundClient::new(outbound::ClientLimits {
        allow: outbound::AllowList::parse(&config.outbound.allow_networks).map_err(ServeError::Outbound)?,
        timeout: std::time::Duration::from_millis(settings.request_timeout_ms),
        // Only a refusal's first bytes are logged.
        max_response_bytes: 64 * 1024,
    })
    .map_err(ServeError::Outbound)?;
    let dispatcher = settings
        .dispatch
        .then(|| engine::notify::NotificationDispatcher::start(store.clone(), settings.clone(), client.clone()));
    Ok((engine::notify::Subscriptions::new(store.clone(), settings.clone(), client), dispatcher))
}

/// The key ring of this server, after the startup rules of API keys: no
/// listening beyond loopback while no key exists; anonymous calls (tenant
/// `default`) only on loopback, only until the first key is made, and never
/// with `auth.required`. Warns once when anonymous calls are served.
async fn admit_callers(
    config: &Config,
    listener: &TcpListener,
    store: &Arc<dyn store::Store>,
) -> Result<engine::keys::KeyRing, ServeError> {
    let address = listener.local_addr()?;
    let loopback = address.ip().is_loopback();
    let keys_exist = store.any_key_exists().await?;
    let command = format!(
        "weft keys create --tenant {} --scope admin --database-url '{}'",
        model::DEFAULT_TENANT,
        store::redacted_url(&config.database_url)
    );
    if !loopback && !keys_exist {
        return Err(ServeError::NoKeysBeyondLoopback { address, command });
    }
    let anonymous = loopback && !config.auth.required;
    if anonymous && !keys_exist {
        tracing::warn!(
            "no API key exists yet: calls without a key are served as tenant '{}' because the server listens \
             on loopback only. Create a key to turn this off: {command}",
            model::DEFAULT_TENANT
        );
    } else if !keys_exist {
        tracing::warn!("auth.required is on and no API key exists: every call is refused until one is made: {command}");
    }
    Ok(engine::keys::KeyRing::new(store.clone(), anonymous))
}

/// Serves gRPC, gRPC-web, REST, reflection and health on `listener` until
/// `shutdown` completes, then drains connections and closes the store.
/// Migrations run before the first request is accepted.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let store = open_store(&config.database_url).await?;
    let shared: Arc<dyn store::Store> = store.shared();
    let keys = Arc::new(admit_callers(&config, &listener, &shared).await?);
    let catalog = WorkflowCatalog::new(shared.clone()).with_script_interpreters(config.script.interpreters.clone());
    // Recovery (replaying unfinished runs, re-arming timers) happens here,
    // before the listener accepts the first request. On Postgres this is
    // one replica of possibly several: it recovers the runs of the
    // partitions it takes.
    let (runs, replica) =
        engine::cluster::open_engine(&store, catalog.clone(), config.cluster.notify, config.cluster.partition_lease_ms)
            .await?;
    let runs = runs.with_limits(config.limits.clone());
    runs.scheduler().set_max_paused(config.runs.max_paused_lifetime);
    runs.scheduler().concurrency().set(config.runs.max_concurrent_per_workflow, config.runs.paused_runs_hold_a_slot);
    let tasks = TaskQueue::open(runs.clone(), std::time::Duration::from_millis(config.task_lease_ms));
    tasks.set_unclaimed_after(config.tasks.unclaimed_after);
    let held = runs.scheduler().cluster().map(|link| link.held.clone());
    let retention = engine::retention::RetentionSweeper::start(shared.clone(), config.runs.retention, held);
    let secret = engine::builtin::webhook_secret(shared.as_ref(), config.webhook.secret.as_deref()).await?;
    let vault = engine::builtin::SecretVault::new(shared.clone(), &config.secrets);
    let builtin =
        engine::builtin::BuiltinExecutor::start(tasks.clone(), builtin_settings(&config, &listener, &secret, &vault)?);
    let callbacks = engine::builtin::CallbackReceiver::new(tasks.clone(), secret);
    let (subscriptions, dispatcher) = notifications(&config, &shared)?;
    let triggers = engine::triggers::Triggers::new(
        shared.clone(),
        catalog.clone(),
        runs.clone(),
        &public_url(&config, &listener)?,
    );
    let schedule_wake = Arc::new(tokio::sync::Notify::new());
    let schedules = engine::schedules::Schedules::new(
        shared.clone(),
        runs.clone(),
        config.schedules.clone(),
        schedule_wake.clone(),
    );
    let firer = config.schedules.fire.then(|| {
        let poll = std::time::Duration::from_millis(config.schedules.poll_interval_ms);
        engine::schedules::ScheduleFirer::start(shared.clone(), runs.clone(), poll, schedule_wake)
    });
    let health = health::Health::new();
    let (stop_probe, probe_stopped) = tokio::sync::watch::channel(false);
    let probe = tokio::spawn(health::probe_store(health.clone(), shared.clone(), probe_stopped));
    let context = api::ApiContext {
        catalog: catalog.clone(),
        runs: runs.clone(),
        tasks: tasks.clone(),
        max_message_bytes: config.max_message_bytes,
        health: health.clone(),
        keys,
        vault,
        notifications: subscriptions,
        triggers: triggers.clone(),
        templates: engine::templates::Templates::new(shared.clone(), catalog.clone()),
        schedules,
    };
    let grpc = api::router(context).await?;
    // Browser guards, innermost first: CORS, writes from other origins (403),
    // the Host check (421) outside both, so a rebound page's preflight is
    // refused too.
    let hosts = gateway::host_check::HostCheck::new(
        listener.local_addr()?,
        config.http.host_names(),
        config.webhook.public_url.as_deref(),
    );
    let router = gateway::router(grpc, config.max_message_bytes, callbacks, triggers, health.clone())?
        .layer(api::cors(&config.http.origins()))
        .layer(axum::middleware::from_fn_with_state(
            gateway::origin_check::OriginCheck::new(config.http.origins()),
            gateway::origin_check::check,
        ))
        .layer(axum::middleware::from_fn_with_state(hosts, gateway::host_check::check))
        .layer(axum::middleware::from_fn(request_span))
        .layer(axum::middleware::from_fn(gateway::request_metrics::record));
    tracing::info!(
        address = %listener.local_addr()?,
        database = %store::redacted_url(&config.database_url),
        replica = %replica,
        "weft is serving"
    );
    // Without TCP_NODELAY, small HTTP/2 frames wait on delayed ACKs and a
    // unary gRPC call takes ~40 ms instead of well under one.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(error = %err, "cannot set TCP_NODELAY");
        }
    });
    let closer = runs.clone();
    let writer_died = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drain = {
        let (health, writer_died) = (health.clone(), writer_died.clone());
        async move {
            tokio::select! {
                () = shutdown => {}
                // A writer that ends before shutdown leaves a server that
                // reads but refuses every write: stop serving and exit.
                () = closer.scheduler().writer_stopped() => {
                    tracing::error!("the run writer stopped; draining and exiting so the server is restarted");
                    writer_died.store(true, std::sync::atomic::Ordering::SeqCst);
                    health.set_writer_stopped();
                }
            }
            health.set_draining();
            // Event streams of live runs would otherwise hold the drain open.
            closer.close_streams();
        }
    };
    let served = axum::serve(listener, router).with_graceful_shutdown(drain).await;
    // The sweeper sends to the writer, so it stops first; the writer
    // finishes the commit in hand before the store closes.
    // The fire loop starts runs through the writer, so it stops first.
    if let Some(firer) = firer {
        firer.shutdown().await;
    }
    builtin.shutdown().await;
    if let Some(dispatcher) = dispatcher {
        dispatcher.shutdown().await;
    }
    tasks.shutdown().await;
    retention.shutdown().await;
    runs.shutdown().await;
    let _ = stop_probe.send(true);
    let _ = probe.await;
    store.close().await;
    tracing::info!("weft stopped");
    served?;
    if writer_died.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(ServeError::WriterStopped);
    }
    Ok(())
}

/// A span per request (gRPC, gRPC-web or REST), named by its path; the
/// handlers of calls about one run add a span with its `run_id` inside.
/// A caller's W3C `traceparent` (gRPC metadata and REST headers are both
/// HTTP headers here, before REST is transcoded) becomes its parent, and
/// what runs the request starts remember (`telemetry::propagation`).
async fn request_span(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use tracing::Instrument;
    let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path());
    let incoming = telemetry::propagation::extract(request.headers());
    let served = next.run(request).instrument(span.clone());
    telemetry::propagation::serve_in(incoming, &span, served).await
}
