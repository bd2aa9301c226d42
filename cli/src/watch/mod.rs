//! `weft runs watch RUN`: follows a run until it ends. The run is read
//! first (GetRun), so the view starts from where the run is; then its event
//! stream (StreamRunEvents, resumed by the SDK across dropped connections)
//! says when something changed, and the view is redrawn from a fresh
//! GetRun, at most every [`REDRAW`], so a burst of events (a 1000-item map)
//! costs a few reads, not one per event. Ends printing the result or the
//! error; the exit code is the outcome: 0 completed, 1 failed, 2 partial,
//! 3 cancelled.

mod render;
mod view;

use std::time::Duration;

use tokio_stream::StreamExt;
use weft_sdk::pb::{self, RunStatus};
use weft_sdk::{Weft, json::from_proto_value};

use crate::args::Format;
use crate::errors::CliResult;
use crate::output::{Out, money, seconds};
use crate::protojson::to_json;
use render::Renderer;
use view::outcome;

/// Shortest time between two redraws.
const REDRAW: Duration = Duration::from_millis(100);

/// How often a quiet run is redrawn anyway (running steps' durations).
const TICK: Duration = Duration::from_secs(1);

/// Follows `run_id` to its end; the outcome's exit code.
pub async fn watch(weft: &Weft, out: Out, run_id: &str) -> CliResult<i32> {
    let client = weft.runs();
    let get = |mut client: pb::run_service_client::RunServiceClient<weft_sdk::Transport>, id: String| async move {
        client.get_run(pb::GetRunRequest { run_id: id }).await.map(|a| a.into_inner().run.unwrap_or_default())
    };
    // An explicit -o json/yaml asks for the final run as a document, not a view.
    let document = out.explicit && out.format != Format::Table;
    let mut renderer = (!document).then(|| Renderer::new(out.tty));
    let mut run = get(client.clone(), run_id.to_string()).await?;
    if let Some(renderer) = &mut renderer {
        renderer.update(&run);
    }
    if !is_terminal(&run) {
        let events = weft.stream_run(run_id.to_string(), 0);
        tokio::pin!(events);
        let mut ticker = tokio::time::interval(REDRAW);
        let mut dirty = false;
        let mut quiet = Duration::ZERO;
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(Ok(event)) => {
                        dirty = true;
                        if event.r#type.starts_with("run.") && matches!(
                            event.r#type.as_str(), "run.completed" | "run.failed" | "run.partial" | "run.cancelled"
                        ) {
                            break;
                        }
                    }
                    Some(Err(error)) => return Err(error.into()),
                    // The stream ended without a terminal event: read the run.
                    None => break,
                },
                _ = ticker.tick() => {
                    quiet += REDRAW;
                    if dirty || quiet >= TICK {
                        run = get(client.clone(), run_id.to_string()).await?;
                        if let Some(renderer) = &mut renderer {
                            renderer.update(&run);
                        }
                        dirty = false;
                        quiet = Duration::ZERO;
                        if is_terminal(&run) {
                            break;
                        }
                    }
                }
            }
        }
        // The stream can end (or a terminal event arrive) a moment before
        // the read shows it; poll briefly until the run is terminal.
        run = get(client.clone(), run_id.to_string()).await?;
        while !is_terminal(&run) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            run = get(client.clone(), run_id.to_string()).await?;
        }
    }
    let status = RunStatus::try_from(run.status).unwrap_or(RunStatus::Unspecified);
    let code = outcome(status).unwrap_or(1);
    match &mut renderer {
        Some(renderer) => {
            renderer.update(&run);
            renderer.finish();
            print_result(&run, status);
        }
        None => out.show(&to_json("weft.v1.Run", &run), |_| String::new()),
    }
    Ok(code)
}

fn is_terminal(run: &pb::Run) -> bool {
    outcome(RunStatus::try_from(run.status).unwrap_or(RunStatus::Unspecified)).is_some()
}

/// The closing lines: the outcome, duration and cost, then the output or
/// the error and where a retry would start.
fn print_result(run: &pb::Run, status: RunStatus) {
    let cost = run
        .cost
        .as_ref()
        .map(|c| money(&serde_json::json!({"amount": c.amount, "currency": c.currency})))
        .unwrap_or_else(|| "$0.00".into());
    let word = view::run_status_word(status);
    println!("run {} {word} in {}, cost {cost}", run.id, seconds(u64::from(run.duration)));
    if let Some(output) = &run.output {
        println!("output: {}", from_proto_value(output));
    }
    if let Some(error) = &run.error {
        let step = if error.step_id.is_empty() { String::new() } else { format!(" at step '{}'", error.step_id) };
        println!("error: {}{step}: {}", error.code, error.message);
    }
    if !run.cancel_reason.is_empty() {
        println!("cancelled: {}", run.cancel_reason);
    }
    if !run.can_retry_from.is_empty() {
        println!("retry with: weft runs retry {} --from {}", run.id, run.can_retry_from);
    }
}
