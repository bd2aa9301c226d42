//! `weft workflows …`: apply, list, get, validate, versions, diff,
//! rollback and delete, each one call of WorkflowService. Workflow
//! arguments are an id (`wf_…`) or a name; the server resolves them.

use std::path::Path;

use owo_colors::OwoColorize;
use serde_json::{Value, json};
use weft_sdk::{Weft, pb};

use crate::args::{Format, WorkflowsCommand};
use crate::errors::{CliError, CliResult};
use crate::input::read_document;
use crate::output::{Out, details_table, list_table, table};
use crate::protojson::{answer, enum_number, from_json, to_json};

const WORKFLOW_COLUMNS: &[(&str, &str)] =
    &[("ID", "id"), ("NAME", "name"), ("VERSION", "version"), ("STATUS", "status"), ("UPDATED", "updatedAt")];

/// Runs one `weft workflows` command.
pub async fn run(weft: &Weft, out: Out, command: WorkflowsCommand) -> CliResult {
    let mut client = weft.workflows();
    match command {
        WorkflowsCommand::Apply { file, summary } => {
            let workflow = read_workflow(&file)?;
            let request = pb::ApplyWorkflowRequest { workflow: Some(workflow), change_summary: summary };
            let reply = client.apply_workflow(request).await?.into_inner();
            let json = answer("weft.v1.WorkflowService.ApplyWorkflow", &reply);
            out.show(&json, |json| {
                let mut t = table(&["NAME", "ID", "VERSION", "OUTCOME"]);
                let w = &json["workflow"];
                t.add_row([&w["name"], &w["id"], &w["version"], &json["outcome"]].map(crate::output::cell));
                t
            });
        }
        WorkflowsCommand::List { status, tag } => {
            let status = match status {
                Some(text) => enum_number("weft.v1.WorkflowStatus", &text).filter(|n| *n != 0).ok_or_else(|| {
                    CliError::input(format!("unknown status '{text}': use draft, active, paused or archived"))
                })?,
                None => 0,
            };
            let request =
                pb::ListWorkflowsRequest { status, tag: tag.unwrap_or_default(), page_size: 100, ..Default::default() };
            let reply = client.list_workflows(request).await?.into_inner();
            crate::output::note_more(&reply.next_page_token, reply.workflows.len(), reply.total);
            let json = answer("weft.v1.WorkflowService.ListWorkflows", &reply);
            out.show(&json, |json| list_table(json, "workflows", WORKFLOW_COLUMNS));
        }
        WorkflowsCommand::Get { workflow, version } => {
            let found = match version {
                Some(version) => {
                    client
                        .get_workflow_version(pb::GetWorkflowVersionRequest { id: workflow, version })
                        .await?
                        .into_inner()
                        .workflow
                }
                None => client.get_workflow(pb::GetWorkflowRequest { id: workflow }).await?.into_inner().workflow,
            };
            let json = to_json("weft.v1.Workflow", &found.unwrap_or_default());
            out.show(&json, workflow_table);
        }
        WorkflowsCommand::Validate { file } => {
            let workflow = read_workflow(&file)?;
            let request = pb::ValidateWorkflowRequest { workflow: Some(workflow), definition: None };
            let reply = client.validate_workflow(request).await?.into_inner();
            let json = answer("weft.v1.WorkflowService.ValidateWorkflow", &reply);
            // Problems go to stderr whatever the format, so a script sees them too.
            for problem in &reply.problems {
                let step = if problem.step_id.is_empty() {
                    "workflow".to_string()
                } else {
                    format!("step '{}'", problem.step_id)
                };
                eprintln!("{step}: {} [{}] at {}", problem.message, problem.code, problem.field);
            }
            if out.format != Format::Table {
                out.show(&json, details_table);
            } else if reply.valid {
                println!("{} is valid", file.display());
            }
            if !reply.valid {
                return Err(CliError::Invalid(reply.problems.len().max(reply.errors.len())));
            }
        }
        WorkflowsCommand::Versions { workflow } => {
            let reply =
                client.list_workflow_versions(pb::ListWorkflowVersionsRequest { id: workflow }).await?.into_inner();
            let json = answer("weft.v1.WorkflowService.ListWorkflowVersions", &reply);
            out.show(&json, |json| {
                list_table(
                    json,
                    "versions",
                    &[("VERSION", "version"), ("CREATED", "createdAt"), ("SUMMARY", "changeSummary")],
                )
            });
        }
        WorkflowsCommand::Diff { workflow, v1, v2 } => {
            let request = pb::DiffWorkflowVersionsRequest { id: workflow, v1, v2 };
            let reply = client.diff_workflow_versions(request).await?.into_inner();
            let json = answer("weft.v1.WorkflowService.DiffWorkflowVersions", &reply);
            match out.format {
                Format::Table => print_patch(&json, out.tty)?,
                Format::Json | Format::Yaml => out.show(&json, details_table),
            }
        }
        WorkflowsCommand::Rollback { workflow, version } => {
            let request = pb::RollbackWorkflowRequest { id: workflow, version, change_summary: String::new() };
            let reply = client.rollback_workflow(request).await?.into_inner();
            let json = to_json("weft.v1.Workflow", &reply.workflow.unwrap_or_default());
            out.show(&json, workflow_table);
        }
        WorkflowsCommand::Delete { workflow } => {
            let reply = client.delete_workflow(pb::DeleteWorkflowRequest { id: workflow }).await?.into_inner();
            let json = answer("weft.v1.WorkflowService.DeleteWorkflow", &reply);
            out.show(&json, details_table);
        }
    }
    Ok(())
}

/// A definition file as a Workflow message, errors naming the file.
fn read_workflow(path: &Path) -> CliResult<pb::Workflow> {
    let document = read_document(path)?;
    if !document.is_object() {
        return Err(CliError::input(format!("{}: a workflow definition is an object", path.display())));
    }
    from_json("weft.v1.Workflow", document)
        .map_err(|e| CliError::input(format!("{} is not a workflow definition: {e}", path.display())))
}

/// A workflow's summary fields, then one row per step.
fn workflow_table(json: &Value) -> comfy_table::Table {
    let mut summary = json.clone();
    if let Value::Object(fields) = &mut summary {
        fields.retain(|k, _| matches!(k.as_str(), "id" | "name" | "version" | "status" | "description" | "updatedAt"));
    }
    let mut t = details_table(&summary);
    for step in json["steps"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let what = [&step["agent"], &step["task"]].iter().filter_map(|v| v.as_str()).collect::<Vec<_>>().join(": ");
        let depends =
            step["dependsOn"].as_array().map(|d| d.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "));
        let mut line = format!("{} {}", step["type"].as_str().unwrap_or("agent"), what);
        if let Some(depends) = depends.filter(|d| !d.is_empty()) {
            line.push_str(&format!(" (after {depends})"));
        }
        t.add_row([format!("step {}", step["id"].as_str().unwrap_or_default()), line]);
    }
    t
}

/// The patch as one line per operation: `+` added, `-` removed, `~`
/// replaced, coloured on a terminal.
fn print_patch(json: &Value, colour: bool) -> CliResult {
    let operations = json.get("diff").cloned().unwrap_or_else(|| json!([]));
    let patch: json_patch::Patch = serde_json::from_value(operations)
        .map_err(|e| CliError::input(format!("the server's diff is not a JSON Patch: {e}")))?;
    println!("v{} -> v{}: {}", json["v1"], json["v2"], json["summary"].as_str().unwrap_or_default());
    for operation in &patch.0 {
        let (mark, line) = match operation {
            json_patch::PatchOperation::Add(op) => ('+', format!("{} {}", op.path, op.value)),
            json_patch::PatchOperation::Remove(op) => ('-', op.path.to_string()),
            json_patch::PatchOperation::Replace(op) => ('~', format!("{} {}", op.path, op.value)),
            json_patch::PatchOperation::Move(op) => ('>', format!("{} -> {}", op.from, op.path)),
            json_patch::PatchOperation::Copy(op) => ('=', format!("{} -> {}", op.from, op.path)),
            json_patch::PatchOperation::Test(op) => ('?', format!("{} {}", op.path, op.value)),
        };
        let text = format!("{mark} {line}");
        match (colour, mark) {
            (false, _) => println!("{text}"),
            (true, '+') => println!("{}", text.green()),
            (true, '-') => println!("{}", text.red()),
            (true, '~') => println!("{}", text.yellow()),
            (true, _) => println!("{}", text.cyan()),
        }
    }
    Ok(())
}
