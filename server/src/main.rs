//! The `weft` binary: parse the command line, load the configuration, set up
//! tracing, and hand over to [`weft_server::run`].

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use weft_server::config::{Config, Overrides};

/// glibc's allocator spent about a fifth of a request in malloc/free and
/// consolidation; mimalloc lifts unary gRPC throughput by about 60%.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Weft: a gRPC-first workflow engine.
#[derive(Parser)]
#[command(name = "weft", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve gRPC, gRPC-web, REST and reflection on one port.
    Serve {
        /// TOML configuration file (keys: listen, database_url,
        /// max_message_bytes, log). Env WEFT_* and flags override it.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Address to listen on [default: 127.0.0.1:7070; env: WEFT_LISTEN].
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Store URL: sqlite:<file> or postgres://user@host:port/db
        /// [default: sqlite:weft.db; env: WEFT_DATABASE_URL].
        #[arg(long, value_name = "URL")]
        database_url: Option<String>,
    },
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
    let Command::Serve { config, listen, database_url } = Cli::parse().command;
    let config = Config::load(config.as_deref(), |name| std::env::var(name).ok(), Overrides { listen, database_url })?;
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&config.log).context("invalid log filter")?)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let listener =
        TcpListener::bind(config.listen).await.with_context(|| format!("cannot listen on {}", config.listen))?;
    weft_server::run(listener, config, shutdown_signal()).await?;
    Ok(())
}
