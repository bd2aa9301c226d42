//! The `weft` binary: parse the command line, load the configuration, set up
//! tracing, and hand over to [`weft_server::run`]; or run a client command
//! of [`weft_cli`] against a running server; or print shell completions.

use std::path::PathBuf;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use tokio::net::TcpListener;
use weft_server::config::{Config, Overrides};
use weft_server::model::KeyScope;

/// glibc's allocator spent about a fifth of a request in malloc/free and
/// consolidation; mimalloc lifts unary gRPC throughput by about 60%.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Weft: a gRPC-first workflow engine.
#[derive(Parser)]
#[command(
    name = "weft",
    version,
    about = "Weft, a gRPC-first workflow engine: `weft serve` runs the server; the other commands are its client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The client commands' connection and output flags.
    #[command(flatten)]
    client: weft_cli::Global,
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC, gRPC-web, REST and reflection on one port.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on [default: 127.0.0.1:7070; env: WEFT_LISTEN].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Refuse every call without a valid API key, even on loopback
        /// before any key exists [env: WEFT_REQUIRE_AUTH].
        #[arg(long)]
        require_auth: bool,
    },
    /// Manage API keys, directly on the database (no server needed).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print a shell completion script: `weft completions bash > /etc/bash_completion.d/weft`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    #[command(flatten)]
    Client(weft_cli::Command),
}

/// Where the configuration and the store are.
#[derive(clap::Args)]
struct StoreArgs {
    /// TOML configuration file (keys: listen, database_url,
    /// max_message_bytes, log, [auth], [http], [limits], …). Env WEFT_* and
    /// flags override it.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Store URL: sqlite:<file> or postgres://user@host:port/db
    /// [default: sqlite:weft.db; env: WEFT_DATABASE_URL].
    #[arg(long, value_name = "URL", global = true)]
    database_url: Option<String>,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it, once: the server keeps only its hash.
    Create {
        /// The tenant the key acts for (lowercase letters, digits, '-', '_').
        #[arg(long, default_value = weft_server::model::DEFAULT_TENANT)]
        tenant: String,
        /// read, write, worker or admin.
        #[arg(long, value_parser = parse_scope)]
        scope: KeyScope,
        /// A label for people.
        #[arg(long, default_value = "")]
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List a tenant's keys (never their secrets).
    List {
        /// The tenant.
        #[arg(long, default_value = weft_server::model::DEFAULT_TENANT)]
        tenant: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key; running servers refuse it within 2 seconds.
    Revoke {
        /// The key's id, key_….
        id: String,
        /// The tenant the key belongs to.
        #[arg(long, default_value = weft_server::model::DEFAULT_TENANT)]
        tenant: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_scope(text: &str) -> Result<KeyScope, String> {
    KeyScope::parse(text).ok_or_else(|| format!("'{text}' is not a scope: use read, write, worker or admin"))
}

impl StoreArgs {
    /// The configuration these flags, the file and the environment give.
    fn load(self, listen: Option<std::net::SocketAddr>, require_auth: bool) -> anyhow::Result<Config> {
        let overrides = Overrides { listen, database_url: self.database_url, require_auth };
        Ok(Config::load(self.config.as_deref(), |name| std::env::var(name).ok(), overrides)?)
    }
}

/// Completes on Ctrl-C or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: the server logs "serving"
/// before the drain future runs, and a SIGTERM in between must not kill the
/// process with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let ctrl_c = tokio::spawn(tokio::signal::ctrl_c());
    async move {
        #[cfg(unix)]
        let terminate = async {
            match terminate {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = ctrl_c => {},
            _ = terminate => {},
        }
        tracing::info!("shutting down: draining connections");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (store, listen, require_auth) = match cli.command {
        Command::Serve { store, listen, require_auth } => (store, listen, require_auth),
        Command::Keys { command } => return keys(command).await,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "weft", &mut std::io::stdout());
            return Ok(());
        }
        Command::Client(command) => {
            let code = weft_cli::run(cli.client, command).await;
            // The exit code carries the outcome (a watched run's, a refusal);
            // flush first, as `exit` skips destructors.
            let _ = std::io::Write::flush(&mut std::io::stdout());
            std::process::exit(code);
        }
    };
    let config = store.load(listen, require_auth)?;
    let _telemetry = weft_server::telemetry::init(&config)?;
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    weft_server::run(listener, config, shutdown_signal()).await?;
    Ok(())
}

/// Runs a `weft keys` command.
async fn keys(command: KeysCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        KeysCommand::Create { tenant, scope, name, store } => {
            let config = store.load(None, false)?;
            weft_server::admin::keys::create(&config, &tenant, scope, &name, &mut out).await?;
        }
        KeysCommand::List { tenant, store } => {
            let config = store.load(None, false)?;
            weft_server::admin::keys::list(&config, &tenant, &mut out).await?;
        }
        KeysCommand::Revoke { id, tenant, store } => {
            let config = store.load(None, false)?;
            weft_server::admin::keys::revoke(&config, &tenant, &id, &mut out).await?;
        }
    }
    Ok(())
}
