//! The smaller command groups: `weft estimate`, `weft schedules …` and
//! `weft templates …`, each a thin layer over one service call.

use weft_sdk::json::to_proto_value;
use weft_sdk::{Weft, pb};

use crate::args::{SchedulesCommand, TemplatesCommand};
use crate::errors::{CliError, CliResult};
use crate::input::read_value;
use crate::output::{Out, details_table, list_table, money, table};
use crate::protojson::answer;

/// `weft estimate WORKFLOW --input …`: EstimateRun.
pub async fn estimate(
    weft: &Weft,
    out: Out,
    workflow: String,
    input: Option<String>,
    version: Option<u32>,
) -> CliResult {
    let input = input.map(|text| read_value(&text, "--input")).transpose()?;
    let request = pb::EstimateRunRequest {
        workflow_id: workflow,
        input: input.as_ref().map(to_proto_value),
        version: version.unwrap_or(0),
    };
    let reply = weft.runs().estimate_run(request).await?.into_inner();
    let json = answer("weft.v1.RunService.EstimateRun", &reply);
    out.show(&json, |json| {
        let mut t = table(&["STEP", "TYPE", "AGENT", "CALLS", "MIN", "MAX", "NOTE"]);
        for step in json["steps"].as_array().map(Vec::as_slice).unwrap_or_default() {
            t.add_row([
                crate::output::cell(&step["stepId"]),
                crate::output::cell(&step["type"]),
                crate::output::cell(&step["agent"]),
                format!("{}-{}", step["callsMin"].as_u64().unwrap_or(0), step["callsMax"].as_u64().unwrap_or(0)),
                money(&step["minCost"]),
                money(&step["maxCost"]),
                crate::output::cell(&step["note"]),
            ]);
        }
        t.add_row([
            "total".to_string(),
            String::new(),
            String::new(),
            format!("{}-{}", json["agentCallsMin"].as_u64().unwrap_or(0), json["agentCallsMax"].as_u64().unwrap_or(0)),
            money(&json["minCost"]),
            money(&json["maxCost"]),
            String::new(),
        ]);
        t
    });
    Ok(())
}

const SCHEDULE_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("WORKFLOW", "workflowId"),
    ("CRON", "cronExpression"),
    ("TIMEZONE", "timezone"),
    ("ENABLED", "enabled"),
    ("NEXT", "nextFireTimes"),
];

/// `weft schedules …`.
pub async fn schedules(weft: &Weft, out: Out, command: SchedulesCommand) -> CliResult {
    let mut client = weft.schedules();
    let (json, list) = match command {
        SchedulesCommand::List { workflow } => {
            let request = pb::ListSchedulesRequest { workflow_id: workflow, page_size: 100, ..Default::default() };
            (answer("weft.v1.ScheduleService.ListSchedules", &client.list_schedules(request).await?.into_inner()), true)
        }
        SchedulesCommand::Get { id } => {
            let request = pb::GetScheduleRequest { schedule_id: id, next_fire_count: 5 };
            (answer("weft.v1.ScheduleService.GetSchedule", &client.get_schedule(request).await?.into_inner()), false)
        }
        SchedulesCommand::Create { workflow, cron, timezone, input } => {
            let input = input.map(|text| read_value(&text, "--input")).transpose()?;
            let schedule = pb::Schedule {
                workflow_id: workflow.clone(),
                cron_expression: cron,
                timezone,
                input_data: input.as_ref().map(to_proto_value),
                ..Default::default()
            };
            let request = pb::CreateScheduleRequest { workflow_id: workflow, schedule: Some(schedule) };
            (
                answer("weft.v1.ScheduleService.CreateSchedule", &client.create_schedule(request).await?.into_inner()),
                false,
            )
        }
        SchedulesCommand::Pause { id } => {
            let request = pb::PauseScheduleRequest { schedule_id: id };
            (
                answer("weft.v1.ScheduleService.PauseSchedule", &client.pause_schedule(request).await?.into_inner()),
                false,
            )
        }
        SchedulesCommand::Resume { id } => {
            let request = pb::ResumeScheduleRequest { schedule_id: id };
            (
                answer("weft.v1.ScheduleService.ResumeSchedule", &client.resume_schedule(request).await?.into_inner()),
                false,
            )
        }
        SchedulesCommand::Delete { id } => {
            let request = pb::DeleteScheduleRequest { schedule_id: id };
            (
                answer("weft.v1.ScheduleService.DeleteSchedule", &client.delete_schedule(request).await?.into_inner()),
                false,
            )
        }
    };
    out.show(&json, |json| match (list, json.get("schedule")) {
        (true, _) => list_table(json, "schedules", SCHEDULE_COLUMNS),
        (false, Some(schedule)) => details_table(schedule),
        (false, None) => details_table(json),
    });
    Ok(())
}

/// `weft templates …`.
pub async fn templates(weft: &Weft, out: Out, command: TemplatesCommand) -> CliResult {
    let mut client = weft.templates();
    match command {
        TemplatesCommand::List { category } => {
            let request = pb::ListTemplatesRequest {
                category: category.unwrap_or_default(),
                page_size: 100,
                ..Default::default()
            };
            let json =
                answer("weft.v1.TemplateService.ListTemplates", &client.list_templates(request).await?.into_inner());
            out.show(&json, |json| {
                list_table(
                    json,
                    "templates",
                    &[
                        ("ID", "id"),
                        ("NAME", "name"),
                        ("CATEGORY", "category"),
                        ("BUILTIN", "isBuiltin"),
                        ("DESCRIPTION", "description"),
                    ],
                )
            });
        }
        TemplatesCommand::Get { id } => {
            let reply = client.get_template(pb::GetTemplateRequest { template_id: id }).await?.into_inner();
            let json = answer("weft.v1.TemplateService.GetTemplate", &reply);
            out.show(&json, |json| details_table(json.get("template").unwrap_or(json)));
        }
        TemplatesCommand::Install { id, name } => {
            let request =
                pb::InstallTemplateRequest { template_id: id, name: name.unwrap_or_default(), ..Default::default() };
            let json = answer(
                "weft.v1.TemplateService.InstallTemplate",
                &client.install_template(request).await?.into_inner(),
            );
            out.show(&json, |json| details_table(json.get("workflow").unwrap_or(json)));
        }
        TemplatesCommand::Create { workflow, name, description, category } => {
            if name.trim().is_empty() {
                return Err(CliError::input("--name must not be empty"));
            }
            let template = pb::Template { name, description, category, ..Default::default() };
            let request =
                pb::CreateTemplateRequest { template: Some(template), workflow_id: workflow, workflow_version: 0 };
            let json =
                answer("weft.v1.TemplateService.CreateTemplate", &client.create_template(request).await?.into_inner());
            out.show(&json, |json| details_table(json.get("template").unwrap_or(json)));
        }
        TemplatesCommand::Delete { id } => {
            let reply = client.delete_template(pb::DeleteTemplateRequest { template_id: id }).await?.into_inner();
            let json = answer("weft.v1.TemplateService.DeleteTemplate", &reply);
            out.show(&json, details_table);
        }
    }
    Ok(())
}
