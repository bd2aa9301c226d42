//! The `weft` command line for people: workflows, runs, approvals and
//! estimates, as a client of a running server over gRPC. The `weft` binary
//! (in `server/`) flattens these subcommands beside `serve` and `keys`.
//!
//! Exit codes: 0 success; 1 the server refused (the message and its
//! ErrorInfo reason go to stderr) or a definition is invalid; 2 bad input
//! on this side. `runs watch` (and `runs start --watch`) end with the run's
//! outcome: 0 completed, 1 failed, 2 partial, 3 cancelled.

mod approvals;
pub mod args;
mod connect;
mod errors;
mod input;
mod others;
mod output;
mod protojson;
mod runs;
mod watch;
mod workflows;

pub use args::{Command, Global};

/// Runs a client command; the process exit code.
pub async fn run(global: Global, command: Command) -> i32 {
    let out = output::Out::new(global.output);
    let result = match connect::connect(&global) {
        Ok(weft) => dispatch(&weft, out, command).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{error}");
            error.exit_code()
        }
    }
}

async fn dispatch(weft: &weft_sdk::Weft, out: output::Out, command: Command) -> errors::CliResult<i32> {
    match command {
        Command::Workflows(command) => workflows::run(weft, out, command).await.map(|()| 0),
        Command::Runs(command) => runs::run(weft, out, command).await,
        Command::Approvals(command) => approvals::run(weft, out, command).await.map(|()| 0),
        Command::Estimate { workflow, input, version } => {
            others::estimate(weft, out, workflow, input, version).await.map(|()| 0)
        }
        Command::Schedules(command) => others::schedules(weft, out, command).await.map(|()| 0),
        Command::Templates(command) => others::templates(weft, out, command).await.map(|()| 0),
    }
}
