//! `weft runs …`: start (optionally followed live), list, get, cancel,
//! retry, pause, resume; `watch` hands over to [`crate::watch`].

use serde_json::Value;
use weft_sdk::json::to_proto_value;
use weft_sdk::{Weft, pb};

use crate::args::RunsCommand;
use crate::errors::{CliError, CliResult};
use crate::input::read_value;
use crate::output::{Out, cell, list_table, money, seconds, table};
use crate::protojson::{answer, enum_number};

/// Runs one `weft runs` command; the exit code (the run's outcome for the
/// watching ones).
pub async fn run(weft: &Weft, out: Out, command: RunsCommand) -> CliResult<i32> {
    let mut client = weft.runs();
    match command {
        RunsCommand::Start { workflow, input, idempotency_key, version, watch } => {
            let input = input.map(|text| read_value(&text, "--input")).transpose()?;
            let request = pb::StartRunRequest {
                workflow_id: workflow,
                input: input.as_ref().map(to_proto_value),
                idempotency_key: idempotency_key.unwrap_or_default(),
                version: version.unwrap_or(0),
                ..Default::default()
            };
            let reply = client.start_run(request).await?.into_inner();
            if watch {
                return crate::watch::watch(weft, out, &reply.run_id).await;
            }
            show_run(out, &answer("weft.v1.RunService.StartRun", &reply));
        }
        RunsCommand::Watch { run } => return crate::watch::watch(weft, out, &run).await,
        RunsCommand::List { workflow, status, limit } => {
            let status = match status {
                Some(text) => enum_number("weft.v1.RunStatus", &text).filter(|n| *n != 0).ok_or_else(|| {
                    CliError::input(format!(
                        "unknown status '{text}': use pending, queued, running, paused, completed, failed, partial or cancelled"
                    ))
                })?,
                None => 0,
            };
            let request = pb::ListRunsRequest {
                workflow_id: workflow.unwrap_or_default(),
                status,
                page_size: limit,
                ..Default::default()
            };
            let reply = client.list_runs(request).await?.into_inner();
            crate::output::note_more(&reply.next_page_token, reply.runs.len(), reply.total);
            let json = answer("weft.v1.RunService.ListRuns", &reply);
            out.show(&json, |json| {
                list_table(
                    json,
                    "runs",
                    &[
                        ("ID", "id"),
                        ("WORKFLOW", "workflowId"),
                        ("STATUS", "status"),
                        ("COST", "cost"),
                        ("SECONDS", "duration"),
                        ("CREATED", "createdAt"),
                    ],
                )
            });
        }
        RunsCommand::Get { run } => {
            let reply = client.get_run(pb::GetRunRequest { run_id: run }).await?.into_inner();
            show_run(out, &answer("weft.v1.RunService.GetRun", &reply));
        }
        RunsCommand::Cancel { run, reason } => {
            let reply = client.cancel_run(pb::CancelRunRequest { run_id: run, reason }).await?.into_inner();
            show_run(out, &answer("weft.v1.RunService.CancelRun", &reply));
        }
        RunsCommand::Retry { run, from } => {
            let request = pb::RetryRunFromRequest { run_id: run, step_id: from.unwrap_or_default() };
            let reply = client.retry_run_from(request).await?.into_inner();
            show_run(out, &answer("weft.v1.RunService.RetryRunFrom", &reply));
        }
        RunsCommand::Pause { run, reason } => {
            let reply = client.pause_run(pb::PauseRunRequest { run_id: run, reason }).await?.into_inner();
            show_run(out, &answer("weft.v1.RunService.PauseRun", &reply));
        }
        RunsCommand::Resume { run, event, payload } => {
            let payload = payload.map(|text| read_value(&text, "--payload")).transpose()?;
            let request = pb::ResumeRunRequest {
                run_id: run,
                event: event.unwrap_or_default(),
                payload: payload.as_ref().map(to_proto_value),
                ..Default::default()
            };
            let reply = client.resume_run(request).await?.into_inner();
            show_run(out, &answer("weft.v1.RunService.ResumeRun", &reply));
        }
    }
    Ok(0)
}

/// A run: as JSON/YAML, or its summary and steps as tables.
fn show_run(out: Out, json: &Value) {
    out.show(json, |run| {
        let mut summary = table(&["FIELD", "VALUE"]);
        for key in ["id", "workflowId", "workflowVersion", "status", "cost", "duration", "canRetryFrom", "createdAt"] {
            let value = &run[key];
            if value.is_null() {
                continue;
            }
            let text = match key {
                "cost" => money(value),
                "duration" => seconds(value.as_u64().unwrap_or(0)),
                _ => cell(value),
            };
            summary.add_row([key.to_string(), text]);
        }
        if let Some(error) = run.get("error") {
            summary.add_row(["error".to_string(), cell(&error["message"])]);
        }
        if let Some(output) = run.get("output") {
            summary.add_row(["output".to_string(), cell(output)]);
        }
        let steps = list_table(
            run,
            "steps",
            &[
                ("STEP", "id"),
                ("TYPE", "type"),
                ("STATUS", "status"),
                ("PARENT", "parentId"),
                ("COST", "cost"),
                ("SECONDS", "duration"),
            ],
        );
        if run["steps"].as_array().is_some_and(|s| !s.is_empty()) {
            format!("{summary}\n{steps}")
        } else {
            summary.to_string()
        }
    });
}
