//! TemplateService end to end: every built-in template installs and runs
//! to completion with the Rust SDK's example worker serving its agents
//! (the approval approved through the API, http_request pointed at a local
//! receiver); a tenant saves a chosen workflow version as a template,
//! lists it with the built-ins through every filter and both ways of
//! paging, installs it and deletes it, and never sees another tenant's;
//! built-ins cannot be deleted; every RPC refuses bad input naming the
//! field, storing nothing; and 003's curl examples answer as documented.
//! The store half runs on SQLite and Postgres.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;
use tonic::Code;
use tonic_types::StatusExt;
use weft_sdk::{Weft, pb};
use weft_server::Config;
use weft_server::model::KeyScope;
use weft_server::store::templates::{TemplateQuery, TemplateRecord};
use weft_tests::auth::{make_key, rest, snapshot, start_requiring_keys};
use weft_tests::examples::example;
use weft_tests::receiver::{Answer, Receiver};
use weft_tests::runs::{json_of, start, step, wait_for};
use weft_tests::shape::assert_shape;
use weft_tests::store::on_both_stores;
use weft_tests::{TestServer, chain_workflow, http1, workflows};

/// The built-ins the server ships, by id.
const BUILTINS: [&str; 5] =
    ["approval-email", "fetch-and-notify", "lead-enrichment", "map-reduce-summary", "scheduled-report"];

/// The field a refusal names, from its BadRequest details.
fn field(status: &tonic::Status) -> String {
    let details = status.get_error_details();
    let bad = details.bad_request().unwrap_or_else(|| panic!("no BadRequest in {status:?}"));
    bad.field_violations[0].field.clone()
}

fn list(category: &str, is_builtin: Option<bool>, limit: u32, offset: u32) -> pb::ListTemplatesRequest {
    pb::ListTemplatesRequest { category: category.into(), is_builtin, limit, offset, ..Default::default() }
}

async fn list_ids(client: &Weft, request: pb::ListTemplatesRequest) -> (Vec<String>, u32) {
    let page = client.templates().list_templates(request).await.expect("ListTemplates").into_inner();
    (page.templates.into_iter().map(|t| t.id).collect(), page.total)
}

async fn install(client: &Weft, template_id: &str, name: &str) -> pb::Workflow {
    let request =
        pb::InstallTemplateRequest { template_id: template_id.into(), name: name.into(), ..Default::default() };
    client.templates().install_template(request).await.expect("InstallTemplate").into_inner().workflow.unwrap()
}

/// A template saved from a version of a workflow.
fn saved_from(name: &str, category: &str, workflow_id: &str, version: u32) -> pb::CreateTemplateRequest {
    pb::CreateTemplateRequest {
        template: Some(pb::Template { name: name.into(), category: category.into(), ..Default::default() }),
        workflow_id: workflow_id.into(),
        workflow_version: version,
    }
}

/// Installs `template_id` over 003's REST route (201 `{workflow_id}`),
/// starts it with `input`, and returns the run once it is paused or ended.
async fn install_and_start(server: &TestServer, client: &Weft, template_id: &str, input: Value) -> pb::Run {
    // Workflow names are unique per tenant, and a template may be installed twice.
    static INSTALLED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = INSTALLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = format!("/api/workflows/templates/{template_id}/install");
    let (status, installed) =
        http1::json(server.addr, "POST", &path, Some(json!({"name": format!("{template_id} {n}")}))).await;
    assert_eq!(status, 201, "{installed}");
    assert_shape(&installed, &json!({"workflow_id": "wf_"}), "install");
    let workflow_id = installed["workflow_id"].as_str().unwrap();
    let run = start(client, workflow_id, input).await;
    let settled = [pb::RunStatus::Completed, pb::RunStatus::Failed, pb::RunStatus::Paused, pb::RunStatus::Cancelled];
    wait_for(client, &run.id, &settled, 30).await
}

fn assert_completed(run: &pb::Run, template_id: &str) {
    assert_eq!(run.status, pb::RunStatus::Completed as i32, "{template_id}: {run:?}");
}

#[tokio::test]
async fn every_builtin_template_installs_and_runs_to_completion() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    // The fetch-and-notify template's URLs point at a local receiver.
    config.outbound.allow_networks = vec!["127.0.0.0/8".into()];
    let server = TestServer::start_on(dir.path().join("weft.db"), config).await;
    let client = server.client().await;
    let mut worker = Command::new(example("worker"))
        .env("WEFT_URL", server.url())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the worker example starts");

    let (ids, total) = list_ids(&client, list("", Some(true), 0, 0)).await;
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, BUILTINS, "every built-in is listed");
    assert_eq!(total, 5);

    let run = install_and_start(&server, &client, "lead-enrichment", json!({"company": "Stripe"})).await;
    assert_completed(&run, "lead-enrichment");
    let profile = json_of(&step(&run, "profile").output);
    assert_eq!((&profile["company"], &profile["score"]), (&json!("Stripe"), &json!(82)), "{profile}");
    assert_eq!(profile["news"].as_array().map(Vec::len), Some(3), "each article was rated: {profile}");

    let run =
        install_and_start(&server, &client, "approval-email", json!({"to": "a@example.com", "topic": "Q3"})).await;
    assert_eq!(run.status, pb::RunStatus::Paused as i32, "the email waits for a person: {run:?}");
    assert_eq!(step(&run, "send").status, pb::StepStatus::Pending as i32, "nothing is sent before the approval");
    let pending = pb::ListApprovalsRequest {
        run_id: run.id.clone(),
        status: pb::ApprovalStatus::Pending as i32,
        ..Default::default()
    };
    let approvals = client.approvals().list_approvals(pending).await.unwrap().into_inner().approvals;
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0].action, "send_email");
    let decide = pb::DecideApprovalRequest {
        approval_id: approvals[0].id.clone(),
        decision: pb::ApprovalDecision::Approve as i32,
        decided_by: "alice".into(),
        ..Default::default()
    };
    client.approvals().decide_approval(decide).await.expect("DecideApproval");
    let run = wait_for(&client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 30).await;
    assert_completed(&run, "approval-email");
    let sent = json_of(&step(&run, "send").output);
    assert_eq!(
        (&sent["sent"], &sent["to"], &sent["subject"]),
        (&json!(true), &json!("a@example.com"), &json!("About Q3"))
    );
    // A rejection sends nothing.
    let input = json!({"to": "b@example.com", "topic": "Q4"});
    let run = install_and_start(&server, &client, "approval-email", input).await;
    assert_eq!(run.status, pb::RunStatus::Paused as i32, "{run:?}");
    let pending = pb::ListApprovalsRequest {
        run_id: run.id.clone(),
        status: pb::ApprovalStatus::Pending as i32,
        ..Default::default()
    };
    let approval = client.approvals().list_approvals(pending).await.unwrap().into_inner().approvals.remove(0);
    let reject = pb::DecideApprovalRequest {
        approval_id: approval.id,
        decision: pb::ApprovalDecision::Deny as i32,
        ..Default::default()
    };
    client.approvals().decide_approval(reject).await.expect("DecideApproval");
    let run = wait_for(&client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 30).await;
    assert_eq!(run.status, pb::RunStatus::Failed as i32, "{run:?}");
    assert_ne!(step(&run, "send").status, pb::StepStatus::Completed as i32, "a rejected email is not sent");

    let receiver = Receiver::start(vec![Answer::json(200, json!({"healthy": true}))]).await;
    let input = json!({"url": receiver.url("/status?check=1"), "notify_url": receiver.url("/notify")});
    let run = install_and_start(&server, &client, "fetch-and-notify", input).await;
    assert_completed(&run, "fetch-and-notify");
    let received = receiver.received();
    assert_eq!(received.len(), 2, "{received:?}");
    assert_eq!((received[0].method.as_str(), received[0].path.as_str()), ("GET", "/status?check=1"));
    assert_eq!((received[1].method.as_str(), received[1].path.as_str()), ("POST", "/notify"));
    let notified = received[1].json();
    assert_eq!(notified["source"], json!(receiver.url("/status?check=1")));
    assert_eq!(notified["status"], "200");
    assert_eq!(notified["body"], r#"{"healthy":true}"#, "{notified}");

    let items = json!({"items": ["one two three", "four five", "six seven eight nine ten eleven twelve thirteen"]});
    let run = install_and_start(&server, &client, "map-reduce-summary", items).await;
    assert_completed(&run, "map-reduce-summary");
    let combined = json_of(&step(&run, "combine").output);
    assert_eq!(combined["items"], 3, "{combined}");
    assert_eq!(combined["summary"], "one two three; four five; six seven eight nine ten eleven twelve thirteen");

    // Meant for a schedule, which may give no input at all.
    let path = "/api/workflows/templates/scheduled-report/install";
    let (status, installed) = http1::json(server.addr, "POST", path, Some(json!({"name": "nightly"}))).await;
    assert_eq!(status, 201, "{installed}");
    let request =
        pb::StartRunRequest { workflow_id: installed["workflow_id"].as_str().unwrap().into(), ..Default::default() };
    let run = client.runs().start_run(request).await.expect("a run without input").into_inner().run.unwrap();
    let run = wait_for(&client, &run.id, &[pb::RunStatus::Completed, pb::RunStatus::Failed], 30).await;
    assert_completed(&run, "scheduled-report");
    assert_eq!(json_of(&step(&run, "report").output)["period"], "daily");
    let weekly = install_and_start(&server, &client, "scheduled-report", json!({"period": "weekly"})).await;
    assert_eq!(json_of(&step(&weekly, "report").output)["title"], "Weekly report");

    let pid = worker.id().expect("the worker is running").to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), worker.wait()).await;
}

#[tokio::test]
async fn a_tenant_saves_lists_installs_and_deletes_its_templates_and_sees_no_other_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_requiring_keys(dir.path()).await;
    let a = server.client().await.with_api_key(&make_key(&server, "tenant-a", KeyScope::Write).await).unwrap();
    let b_key = make_key(&server, "tenant-b", KeyScope::Write).await;
    let b = server.client().await.with_api_key(&b_key).unwrap();

    // A workflow at two versions; the template copies the first.
    let workflow = workflows::create_pb(&a, chain_workflow("two-steps", 2)).await;
    let update = pb::UpdateWorkflowRequest {
        workflow: Some(pb::Workflow {
            id: workflow.id.clone(),
            steps: chain_workflow("one", 1).steps,
            ..Default::default()
        }),
        ..Default::default()
    };
    a.workflows().update_workflow(update).await.expect("version 2");
    let saved = a.templates().create_template(saved_from("Two steps", "testing", &workflow.id, 1)).await;
    let saved = saved.expect("CreateTemplate").into_inner().template.unwrap();
    assert!(saved.id.starts_with("tmpl_") && saved.id.len() == 5 + 26, "{}", saved.id);
    assert!(!saved.is_builtin && saved.create_time.is_some());
    let copied = saved.workflow.as_ref().unwrap();
    assert_eq!(copied.steps.len(), 2, "version 1 was copied, not the latest");
    assert_eq!((copied.id.as_str(), copied.version), ("", 0), "a template's definition is no workflow");
    let latest = a.templates().create_template(saved_from("Latest", "other", &workflow.id, 0)).await.unwrap();
    let latest = latest.into_inner().template.unwrap();
    assert_eq!(latest.workflow.unwrap().steps.len(), 1, "version 0 means the latest");
    let inline = pb::CreateTemplateRequest {
        template: Some(pb::Template {
            name: "Inline".into(),
            description: "written by hand".into(),
            category: "testing".into(),
            tags: vec!["hand".into()],
            workflow: Some(chain_workflow("inline", 1)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let inline = a.templates().create_template(inline).await.unwrap().into_inner().template.unwrap();

    // Built-ins first, then the tenant's by name; every filter; both pagings.
    let (all, total) = list_ids(&a, list("", None, 0, 0)).await;
    assert_eq!(total, 8);
    let mut builtins = all[..5].to_vec();
    builtins.sort();
    assert_eq!(builtins, BUILTINS);
    assert_eq!(
        all[5..],
        [inline.id.clone(), latest.id.clone(), saved.id.clone()],
        "by name: Inline, Latest, Two steps"
    );
    assert_eq!(list_ids(&a, list("testing", None, 0, 0)).await, (vec![inline.id.clone(), saved.id.clone()], 2));
    assert_eq!(list_ids(&a, list("", Some(false), 0, 0)).await.1, 3);
    assert_eq!(list_ids(&a, list("", Some(true), 0, 0)).await.1, 5);
    assert_eq!(list_ids(&a, list("sales", Some(true), 0, 0)).await, (vec!["lead-enrichment".to_owned()], 1));
    assert_eq!(list_ids(&a, list("testing", Some(true), 0, 0)).await, (vec![], 0));
    let tagged = pb::ListTemplatesRequest { tag: "hand".into(), ..Default::default() };
    assert_eq!(list_ids(&a, tagged).await, (vec![inline.id.clone()], 1));
    assert_eq!(list_ids(&a, list("", None, 2, 4)).await, (all[4..6].to_vec(), 8), "a window across both kinds");
    assert_eq!(list_ids(&a, list("", None, 5, 7)).await, (all[7..].to_vec(), 8));
    assert_eq!(list_ids(&a, list("", None, 5, 100)).await, (vec![], 8));
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let request = pb::ListTemplatesRequest { page_size: 3, page_token: token, ..Default::default() };
        let page = a.templates().list_templates(request).await.unwrap().into_inner();
        paged.extend(page.templates.into_iter().map(|t| t.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(paged, all, "pages of 3 give every template once, in order");

    // Installing makes version 1 of a new workflow, named as asked.
    let installed = install(&a, &saved.id, "from my template").await;
    assert_eq!((installed.name.as_str(), installed.version), ("from my template", 1));
    assert_eq!(installed.change_summary, format!("Installed from template {}", saved.id));
    assert_eq!(installed.steps.len(), 2);
    assert_eq!(installed.status, pb::WorkflowStatus::Active as i32);
    let named = install(&a, "lead-enrichment", "").await;
    assert_eq!(named.name, "Lead enrichment", "the template's name by default");

    // Tenant B sees the built-ins and nothing of tenant A's.
    assert_eq!(list_ids(&b, list("", None, 0, 0)).await.1, 5);
    let get = |id: &str| pb::GetTemplateRequest { template_id: id.into() };
    let refused = b.templates().get_template(get(&saved.id)).await.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");
    let stolen = pb::InstallTemplateRequest { template_id: saved.id.clone(), ..Default::default() };
    assert_eq!(b.templates().install_template(stolen).await.unwrap_err().code(), Code::NotFound);
    let delete = |id: &str| pb::DeleteTemplateRequest { template_id: id.into() };
    assert_eq!(b.templates().delete_template(delete(&saved.id)).await.unwrap_err().code(), Code::NotFound);
    let copy = b.templates().create_template(saved_from("Copy", "", &workflow.id, 1)).await.unwrap_err();
    assert_eq!(copy.code(), Code::NotFound, "another tenant's workflow cannot be saved: {copy:?}");
    let builtin = b.templates().get_template(get("map-reduce-summary")).await.unwrap().into_inner().template.unwrap();
    assert!(builtin.is_builtin && builtin.workflow.unwrap().input_schema.is_some());

    // Built-ins stay; a tenant's template goes, its installs stay.
    let kept = a.templates().delete_template(delete("lead-enrichment")).await.unwrap_err();
    assert_eq!(kept.code(), Code::FailedPrecondition, "{kept:?}");
    let (status, answer) = rest(&server, "DELETE", "/v1/templates/scheduled-report", Some(&b_key), None).await;
    assert_eq!(status, 409, "{answer}");
    let deleted = a.templates().delete_template(delete(&saved.id)).await.unwrap().into_inner();
    assert!(deleted.success && deleted.message == "Template deleted successfully");
    assert_eq!(a.templates().get_template(get(&saved.id)).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(a.templates().delete_template(delete(&saved.id)).await.unwrap_err().code(), Code::NotFound);
    let still = pb::GetWorkflowRequest { id: installed.id.clone() };
    assert!(a.workflows().get_workflow(still).await.is_ok(), "an installed workflow outlives its template");
    server.stop().await;
}

#[tokio::test]
async fn every_rpc_refuses_bad_input_naming_the_field_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let workflow = workflows::create_pb(&client, chain_workflow("source", 1)).await;
    let before = snapshot(&server).await;
    let long = |n: usize| "x".repeat(n);
    let t = client.templates();

    let mut refusals: Vec<(tonic::Status, Code, &str)> = Vec::new();
    for (request, wanted) in [
        (pb::ListTemplatesRequest { category: long(65), ..Default::default() }, "category"),
        (pb::ListTemplatesRequest { tag: long(65), ..Default::default() }, "tag"),
        (pb::ListTemplatesRequest { page_token: "not-a-token".into(), ..Default::default() }, "page_token"),
    ] {
        refusals.push((t.clone().list_templates(request).await.unwrap_err(), Code::InvalidArgument, wanted));
    }
    // A token is bound to the filters it was made under.
    let first = t.clone().list_templates(pb::ListTemplatesRequest { page_size: 1, ..Default::default() }).await;
    let token = first.unwrap().into_inner().next_page_token;
    let other = pb::ListTemplatesRequest { category: "sales".into(), page_token: token, ..Default::default() };
    refusals.push((t.clone().list_templates(other).await.unwrap_err(), Code::InvalidArgument, "page_token"));

    for id in ["", &long(129)] {
        let get = pb::GetTemplateRequest { template_id: id.into() };
        refusals.push((t.clone().get_template(get).await.unwrap_err(), Code::InvalidArgument, "template_id"));
    }
    let unknown = pb::GetTemplateRequest { template_id: "tmpl_00000000000000000000000000".into() };
    refusals.push((t.clone().get_template(unknown).await.unwrap_err(), Code::NotFound, ""));

    let install = |name: String, tags: Vec<String>, status: i32| pb::InstallTemplateRequest {
        template_id: "lead-enrichment".into(),
        name,
        tags,
        status,
    };
    for (request, code, wanted) in [
        (install(long(201), vec![], 0), Code::InvalidArgument, "name"),
        (install("\u{7}bell".into(), vec![], 0), Code::InvalidArgument, "name"),
        (install("ok".into(), vec![String::new()], 0), Code::InvalidArgument, "tags[0]"),
        (install("ok".into(), vec!["t".into(); 51], 0), Code::InvalidArgument, "tags"),
        (install("ok".into(), vec![], 99), Code::InvalidArgument, "status"),
        (pb::InstallTemplateRequest { template_id: "no-such".into(), ..Default::default() }, Code::NotFound, ""),
        (pb::InstallTemplateRequest::default(), Code::InvalidArgument, "template_id"),
    ] {
        refusals.push((t.clone().install_template(request).await.unwrap_err(), code, wanted));
    }

    let named = |name: &str, description: &str, category: &str, tags: Vec<String>| pb::Template {
        name: name.into(),
        description: description.into(),
        category: category.into(),
        tags,
        workflow: Some(chain_workflow("w", 1)),
        ..Default::default()
    };
    let create = |template: Option<pb::Template>, workflow_id: &str, version: u32| pb::CreateTemplateRequest {
        template,
        workflow_id: workflow_id.into(),
        workflow_version: version,
    };
    let bare = |name: &str| Some(pb::Template { name: name.into(), ..Default::default() });
    let broken = pb::Workflow {
        name: "broken".into(),
        steps: vec![pb::Step { id: "a".into(), r#type: "agent".into(), ..Default::default() }],
        ..Default::default()
    };
    let mut with_broken = named("Broken", "", "", vec![]);
    with_broken.workflow = Some(broken);
    for (request, code, wanted) in [
        (create(None, "", 0), Code::InvalidArgument, "template"),
        (create(Some(named("", "", "", vec![])), "", 0), Code::InvalidArgument, "template.name"),
        (create(Some(named(&long(201), "", "", vec![])), "", 0), Code::InvalidArgument, "template.name"),
        (create(Some(named("n", &long(10_001), "", vec![])), "", 0), Code::InvalidArgument, "template.description"),
        (create(Some(named("n", "", &long(65), vec![])), "", 0), Code::InvalidArgument, "template.category"),
        (create(Some(named("n", "", "", vec![long(65)])), "", 0), Code::InvalidArgument, "template.tags[0]"),
        (create(Some(named("n", "", "", vec![])), &workflow.id, 0), Code::InvalidArgument, "workflow_id"),
        (create(bare("n"), "", 0), Code::InvalidArgument, "template.workflow"),
        (create(bare("n"), "", 2), Code::InvalidArgument, "workflow_version"),
        (create(Some(with_broken), "", 0), Code::InvalidArgument, "steps[0].agent"),
        (create(bare("n"), "wf_unknown", 0), Code::NotFound, ""),
        (create(bare("n"), &workflow.id, 9), Code::NotFound, ""),
        // A workflow id over 128 characters (anything not `wf_…` is a name).
        (create(bare("n"), &format!("wf_{}", long(126)), 0), Code::InvalidArgument, "workflow_id"),
        (create(bare("n"), &long(201), 0), Code::InvalidArgument, "workflow_id"),
    ] {
        refusals.push((t.clone().create_template(request).await.unwrap_err(), code, wanted));
    }

    for (id, code, wanted) in [
        ("", Code::InvalidArgument, "template_id"),
        ("tmpl_unknown", Code::NotFound, ""),
        ("approval-email", Code::FailedPrecondition, ""),
    ] {
        let delete = pb::DeleteTemplateRequest { template_id: id.into() };
        refusals.push((t.clone().delete_template(delete).await.unwrap_err(), code, wanted));
    }

    // Output-only timestamps a client sends are ignored, even ones no JSON
    // timestamp can spell (year 0): no crash, no refusal.
    let mut dated = chain_workflow("dated", 1);
    dated.create_time = Some(prost_types::Timestamp { seconds: -62_135_596_861, nanos: 0 });
    dated.update_time = dated.create_time;
    let template = pb::Template { name: "Dated".into(), workflow: Some(dated), ..Default::default() };
    let request = pb::CreateTemplateRequest { template: Some(template), ..Default::default() };
    let saved = t.clone().create_template(request).await.expect("the timestamps are ignored");
    let id = saved.into_inner().template.unwrap().id;
    t.clone().delete_template(pb::DeleteTemplateRequest { template_id: id }).await.unwrap();

    for (status, code, wanted) in &refusals {
        assert_eq!(status.code(), *code, "{wanted}: {status:?}");
        if !wanted.is_empty() {
            assert_eq!(field(status), *wanted, "{status:?}");
        }
    }
    // The same refusals over REST are 4xx, never 5xx.
    let body = json!({"name": "x".repeat(201)});
    let (status, answer) =
        rest(&server, "POST", "/api/workflows/templates/lead-enrichment/install", None, Some(&body)).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = rest(&server, "POST", "/v1/templates", None, Some(&json!({"name": ""}))).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(snapshot(&server).await, before, "a refused call stored something");
    server.stop().await;
}

/// Overwrites a column of a stored template by hand, as a damaged database
/// (or a careless operator) could hold it.
async fn poison(server: &TestServer, column: &str, value: &str, id: &str) {
    use sqlx::Connection;
    let store = weft_tests::store::TestStore::from_env();
    let url = store.url_for(&server.database).await;
    if store.is_postgres() {
        let sql = format!("UPDATE templates SET {column} = CAST($1 AS JSONB) WHERE id = $2");
        let sql = if column == "tags" { sql } else { sql.replace("CAST($1 AS JSONB)", "$1") };
        let mut conn = sqlx::postgres::PgConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value).bind(id).execute(&mut conn).await.unwrap();
    } else {
        let sql = format!("UPDATE templates SET {column} = ?1 WHERE id = ?2");
        let mut conn = sqlx::sqlite::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(value).bind(id).execute(&mut conn).await.unwrap();
    }
}

#[tokio::test]
async fn a_damaged_stored_template_still_lists_and_reads_and_is_not_installed() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let saved = pb::CreateTemplateRequest {
        template: Some(pb::Template {
            name: "Damaged".into(),
            workflow: Some(chain_workflow("d", 1)),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = client.templates().create_template(saved).await.unwrap().into_inner().template.unwrap().id;
    poison(&server, "definition", "{not json", &id).await;
    poison(&server, "tags", r#"{"not": "a list"}"#, &id).await;

    let (ids, total) = list_ids(&client, list("", Some(false), 0, 0)).await;
    assert_eq!((ids, total), (vec![id.clone()], 1), "the row still lists");
    let got = client.templates().get_template(pb::GetTemplateRequest { template_id: id.clone() }).await;
    let got = got.expect("the row still reads").into_inner().template.unwrap();
    let workflow = got.workflow.unwrap();
    assert!(workflow.description.contains("cannot be read") && workflow.steps.is_empty(), "{workflow:?}");
    assert!(got.tags.is_empty());
    let install = pb::InstallTemplateRequest { template_id: id.clone(), ..Default::default() };
    let refused = client.templates().install_template(install).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert_eq!(refused.get_error_details().error_info().unwrap().reason, "TEMPLATE_UNREADABLE");
    let deleted = client.templates().delete_template(pb::DeleteTemplateRequest { template_id: id }).await;
    assert!(deleted.is_ok(), "a damaged template can still be deleted");
    server.stop().await;
}

/// A template whose definition carries `filler` bytes in its inputSchema.
fn bulky(name: &str, filler: usize) -> pb::CreateTemplateRequest {
    let mut workflow = chain_workflow(name, 1);
    let schema = json!({"type": "object", "description": "x".repeat(filler)});
    workflow.input_schema = weft_server::api::convert_runs::struct_to_pb(&schema);
    pb::CreateTemplateRequest {
        template: Some(pb::Template { name: name.into(), workflow: Some(workflow), ..Default::default() }),
        ..Default::default()
    }
}

#[tokio::test]
async fn definitions_are_bounded_and_a_page_of_large_ones_stops_early() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let client = server.client().await;
    let over = client.templates().create_template(bulky("too big", 1024 * 1024)).await.unwrap_err();
    assert_eq!((over.code(), field(&over)), (Code::InvalidArgument, "template.workflow".into()), "{over:?}");
    assert!(over.message().contains("1048576-byte limit"), "{over:?}");
    for name in ["a", "b", "c"] {
        client.templates().create_template(bulky(name, 900_000)).await.expect("under the limit");
    }
    // Three of ~900 KB pass the 2 MiB a page holds: two come, then the third.
    let first = pb::ListTemplatesRequest { is_builtin: Some(false), page_size: 10, ..Default::default() };
    let first = client.templates().list_templates(first).await.unwrap().into_inner();
    assert_eq!((first.templates.len(), first.total), (2, 3));
    assert!(!first.next_page_token.is_empty());
    let next = pb::ListTemplatesRequest {
        is_builtin: Some(false),
        page_size: 10,
        page_token: first.next_page_token,
        ..Default::default()
    };
    let next = client.templates().list_templates(next).await.unwrap().into_inner();
    assert_eq!(next.templates.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["c"]);
    assert!(next.next_page_token.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn rest_answers_in_the_shapes_003_documents() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;

    // GET /api/workflows/templates  (query: category, is_builtin, limit, offset)
    let (status, listed) = http1::json(
        addr,
        "GET",
        "/api/workflows/templates?category=notifications&is_builtin=true&limit=1&offset=1",
        None,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let template = json!({"id": "s", "name": "s", "description": "s", "category": "s", "is_builtin": true,
        "tags": ["s"], "workflow": {"name": "s", "steps": [{"...": true}], "input_schema": {"...": true}, "...": true},
        "created_at": "t"});
    assert_shape(&listed, &json!({"templates": [template], "total": 2, "next_page_token": ""}), "list");
    assert_eq!(listed["total"], 2, "two built-ins are about notifications");
    assert_eq!(listed["templates"][0]["id"], "fetch-and-notify", "by name: Approval-gated email, Fetch and notify");

    // GET /api/workflows/templates/{id}: the bare template.
    let (status, got) = http1::json(addr, "GET", "/api/workflows/templates/lead-enrichment", None).await;
    assert_eq!(status, 200, "{got}");
    assert_shape(&got, &template, "get");
    assert_eq!(got["workflow"]["steps"][0]["id"], "research");
    let (status, missing) = http1::json(addr, "GET", "/api/workflows/templates/no-such", None).await;
    assert_eq!(status, 404);
    assert_shape(&missing, &json!({"error": "e", "error_code": "TEMPLATE_NOT_FOUND"}), "unknown template");

    // POST /api/workflows/templates/{id}/install {"name": …} → 201 {"workflow_id": …}
    let body = json!({"name": "My custom pipeline"});
    let (status, installed) =
        http1::json(addr, "POST", "/api/workflows/templates/lead-enrichment/install", Some(body)).await;
    assert_eq!(status, 201, "{installed}");
    assert_shape(&installed, &json!({"workflow_id": "wf_abc123"}), "install");
    let id = installed["workflow_id"].as_str().unwrap();
    assert!(id.starts_with("wf_"));
    let (_, workflow) = http1::json(addr, "GET", &format!("/api/workflows/{id}"), None).await;
    assert_eq!((&workflow["name"], &workflow["version"]), (&json!("My custom pipeline"), &json!(1)), "{workflow}");

    // /v1: a create answers 201 with the bare template, a delete 200.
    let body = json!({"name": "Mine", "category": "testing", "workflow": {"name": "mine",
        "steps": [{"id": "a", "type": "agent", "agent": "w", "task": "t"}]}});
    let (status, created) = http1::json(addr, "POST", "/v1/templates", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    // protobuf's JSON mapping leaves `isBuiltin: false` out.
    assert_eq!((created.get("isBuiltin"), &created["category"]), (None, &json!("testing")), "{created}");
    let saved = created["id"].as_str().unwrap();
    let (status, copied) =
        http1::json(addr, "POST", &format!("/v1/templates?workflowId={id}"), Some(json!({"name": "Copy"}))).await;
    assert_eq!(status, 201, "{copied}");
    assert_eq!(copied["workflow"]["name"], "My custom pipeline", "copied from the workflow named by the query");
    let (status, deleted) = http1::json(addr, "DELETE", &format!("/v1/templates/{saved}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(deleted, json!({"success": true, "message": "Template deleted successfully"}));
    server.stop().await;
}

fn record(id: &str, tenant: &str, name: &str, category: &str, tags: &[&str]) -> TemplateRecord {
    TemplateRecord {
        id: id.into(),
        tenant_id: tenant.into(),
        name: name.into(),
        description: "d".into(),
        category: category.into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        definition: r#"{"name":"n","steps":[{"id":"a","agent":"w","task":"t"}]}"#.into(),
        created_ms: 7,
    }
}

#[tokio::test]
async fn the_store_keeps_templates_per_tenant_with_filters_windows_and_a_limit() {
    on_both_stores("templates store", |store| async move {
        for r in [
            record("tmpl_b", "t1", "Beta", "data", &["x"]),
            record("tmpl_a", "t1", "Alpha", "data", &["x", "y"]),
            record("tmpl_c", "t1", "Gamma", "ops", &[]),
            record("tmpl_z", "t2", "Alpha", "data", &["x"]),
        ] {
            assert!(store.insert_template(&r, 3).await.unwrap());
        }
        assert!(!store.insert_template(&record("tmpl_d", "t1", "Delta", "", &[]), 3).await.unwrap(), "t1 is full");
        assert_eq!(store.get_template("t1", "tmpl_d").await.unwrap(), None, "a refused insert stores nothing");
        let got = store.get_template("t1", "tmpl_a").await.unwrap().unwrap();
        assert_eq!(got, record("tmpl_a", "t1", "Alpha", "data", &["x", "y"]));
        assert_eq!(store.get_template("t2", "tmpl_a").await.unwrap(), None, "another tenant's is not found");

        let ids = |page: (Vec<TemplateRecord>, u32)| (page.0.into_iter().map(|r| r.id).collect::<Vec<_>>(), page.1);
        let query = |category: Option<&str>, tag: Option<&str>, offset, limit| TemplateQuery {
            category: category.map(str::to_owned),
            tag: tag.map(str::to_owned),
            offset,
            limit,
        };
        let listed = store.list_templates("t1", &query(None, None, 0, 10)).await.unwrap();
        assert_eq!(ids(listed), (vec!["tmpl_a".into(), "tmpl_b".into(), "tmpl_c".into()], 3));
        let listed = store.list_templates("t1", &query(Some("data"), None, 0, 10)).await.unwrap();
        assert_eq!(ids(listed), (vec!["tmpl_a".into(), "tmpl_b".into()], 2));
        let listed = store.list_templates("t1", &query(None, Some("y"), 0, 10)).await.unwrap();
        assert_eq!(ids(listed), (vec!["tmpl_a".into()], 1));
        let listed = store.list_templates("t1", &query(None, None, 1, 1)).await.unwrap();
        assert_eq!(ids(listed), (vec!["tmpl_b".into()], 3));
        let listed = store.list_templates("t1", &query(None, None, 0, 0)).await.unwrap();
        assert_eq!(ids(listed), (vec![], 3), "a window of nothing still counts");

        assert!(!store.delete_template("t2", "tmpl_a").await.unwrap(), "not another tenant's");
        assert!(store.delete_template("t1", "tmpl_a").await.unwrap());
        assert!(!store.delete_template("t1", "tmpl_a").await.unwrap());
        assert!(store.insert_template(&record("tmpl_d", "t1", "Delta", "", &[]), 3).await.unwrap(), "room again");
    })
    .await;
}
