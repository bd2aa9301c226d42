//! Behaviour of normalize → validate → compile as a whole, on the documented
//! examples and on definitions with many problems at once.

use petgraph::graph::NodeIndex;
use serde_json::{Value, json};

use super::*;
use crate::fixtures::lead_pipeline;
use crate::model::definition::StepDef;

fn definition(value: Value) -> Definition {
    serde_json::from_value(value).expect("test definition deserializes")
}

fn codes(problems: &[Problem]) -> Vec<ProblemCode> {
    problems.iter().map(|p| p.code).collect()
}

fn agent(id: &str) -> Value {
    json!({"id": id, "type": "agent", "agent": "a", "task": "t"})
}

fn compiled(value: Value) -> CompiledWorkflow {
    match compile(&definition(value)) {
        Ok(workflow) => workflow,
        Err(problems) => panic!("expected a valid definition, got {problems:#?}"),
    }
}

fn edge(workflow: &CompiledWorkflow, from: &str, to: &str) -> Option<EdgeKind> {
    let (from, to) = (workflow.node(from)?, workflow.node(to)?);
    workflow.successors(from).find(|(v, _)| *v == to).map(|(_, kind)| kind)
}

#[test]
fn seed_complete_example_lead_pipeline_is_valid() {
    let def = definition(lead_pipeline());
    assert_eq!(validate(&def), []);
    let workflow = compiled(lead_pipeline());
    assert_eq!(workflow.len(), 12);
    assert!(workflow.input_schema().is_some());
    let research = workflow.node("research").expect("research node");
    let child_ids: Vec<&str> = workflow
        .step(research)
        .expect("research step")
        .children()
        .iter()
        .map(|&c| workflow.graph()[c].as_str())
        .collect();
    assert_eq!(child_ids, ["twitter", "linkedin", "news"]);
    assert_eq!(edge(&workflow, "twitter", "research"), Some(EdgeKind::SubStepDone));
    assert_eq!(edge(&workflow, "route", "approve-crm"), Some(EdgeKind::OnTrue));
    assert_eq!(edge(&workflow, "route", "archive"), Some(EdgeKind::OnFalse));
    assert_eq!(edge(&workflow, "score", "fallback-score"), None, "goto targets are not dependencies");
    let score = workflow.step(workflow.node("score").expect("score node")).expect("score step");
    assert_eq!(score.failure_goto(), workflow.node("fallback-score"));
    let map = workflow.step(workflow.node("score-news").expect("map node")).expect("map step");
    assert_eq!(map.map_step(), workflow.node("score-article"));
    assert_eq!(edge(&workflow, "reshape", "score-article"), Some(EdgeKind::ParentStart));
    let order = workflow.topological_order();
    let position = |id: &str| order.iter().position(|&v| workflow.graph()[v] == id);
    assert!(position("twitter") < position("research"));
    assert!(position("research") < position("reshape"));
    assert!(position("score-article") < position("score-news"));
    assert!(position("route") < position("archive"));
    let roots: Vec<&str> = workflow.roots().map(|v| workflow.graph()[v].as_str()).collect();
    // A parallel step waits for its sub-steps, so they are the roots.
    assert_eq!(roots, ["twitter", "linkedin", "news", "fallback-score"]);
}

#[test]
fn compiled_steps_carry_parsed_expressions() {
    let workflow = compiled(lead_pipeline());
    let state = json!({
        "input": {"company": "Stripe"},
        "score": {"output": {"score": 82}},
        "article": {"title": "Stripe raises"},
        "reshape": {"output": {"linkedin": "in/stripe"}},
    });
    let node = |id: &str| workflow.node(id).expect("node exists");
    let twitter = workflow.step(node("twitter")).expect("twitter");
    assert_eq!(twitter.task().expect("task parsed").render(&state), "Twitter for Stripe");
    let route = workflow.step(node("route")).expect("route");
    assert!(route.condition().expect("condition parsed").evaluate(&state));
    let fallback = workflow.step(node("fallback-score")).expect("fallback");
    let (key, path) = &fallback.input_map()[0];
    assert_eq!((key.as_str(), path.first(&state)), ("linkedin", Some(&json!("in/stripe"))));
    let approve = workflow.step(node("approve-crm")).expect("approval");
    assert_eq!(approve.timeout(), Some(std::time::Duration::from_secs(4 * 3600)));
    assert_eq!(approve.kind(), StepKind::Approval);
    let article = workflow.step_def(node("score-article")).expect("map sub-step definition");
    assert_eq!(article.agent, "relevance-scorer");
    let news = workflow.step_def(node("news")).expect("parallel child definition");
    assert_eq!(news.agent, "news-agent");
}

#[test]
fn documented_step_type_examples_are_valid() {
    let def = definition(json!({"steps": [
        {"id": "scrape", "type": "agent", "agent": "web-researcher",
         "task": "Scrape company info from {{ input.website }}", "inputMap": {"website": "$.input.website"}},
        {"id": "score", "type": "agent", "agent": "scorer", "task": "Score", "dependsOn": ["scrape"]},
        {"id": "check-score", "type": "condition", "dependsOn": ["score"], "expression": "$.score.output.score >= 70",
         "onTrue": {"next": "send-to-crm"}, "onFalse": {"next": "archive"}},
        agent("send-to-crm"), agent("archive"), agent("send-intro-email"), agent("draft-email"),
        agent("send-invoice"), agent("send-reminder"), agent("pre-filter"),
        {"id": "wait-24h", "type": "delay", "duration": 86400, "dependsOn": ["send-intro-email"]},
        {"id": "approve-send", "type": "approval", "action": "send_email", "timeout": "4h",
         "defaultAction": "deny", "dependsOn": ["draft-email"]},
        {"id": "notify-crm", "type": "webhook", "url": "https://hooks.yourapp.com/lead-created", "method": "POST",
         "waitForCallback": false, "inputMap": {"lead": "$.enrich.output.lead"}, "headers": {"X-Source": "theazo"}},
        {"id": "score-each", "type": "map", "dependsOn": ["scrape"], "over": "$.scrape.output.leads", "as": "lead",
         "concurrency": 5, "step": {"id": "score-lead", "type": "agent", "agent": "scorer",
         "task": "Score this lead: {{ lead.company }}", "inputMap": {"lead": "$.lead"}}},
        {"id": "plan", "type": "planner", "agent": "task-planner",
         "task": "Given these {{ input.count }} leads, produce a list of research tasks", "dependsOn": ["pre-filter"]},
        {"id": "wait-payment", "type": "wait", "event": "payment.confirmed", "timeout": "48h",
         "onTimeout": {"next": "send-reminder"}, "dependsOn": ["send-invoice"]},
        {"id": "fetch", "type": "http_request", "method": "GET", "url": "https://api.example.com/data",
         "body": {"q": "{{ input.company }}", "n": [1, "x {{ input.count }}"]}},
        {"id": "cleanup", "type": "script", "language": "python", "script": "print('hi')"},
        {"id": "each", "type": "loop", "over": "$.input.items", "maxIterations": 10, "steps": [agent("body")]},
        {"id": "writer", "type": "agent", "agent": "data-agent", "task": "Fetch", "stateWrites": ["company", "metadata"]},
        {"id": "reader", "type": "agent", "agent": "scorer", "task": "Score", "dependsOn": ["writer"],
         "stateReads": ["company"]}
    ]}));
    assert_eq!(validate(&def), []);
    let workflow = compile(&def).expect("valid");
    let fetch = workflow.step(workflow.node("fetch").expect("fetch")).expect("fetch step");
    let pointers: Vec<&str> = fetch.body_templates().iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(pointers, ["/q", "/n/1"]);
    assert_eq!(edge(&workflow, "wait-payment", "send-reminder"), Some(EdgeKind::OnTimeout));
}

#[test]
fn reports_every_problem_of_a_definition_at_once() {
    let def = definition(json!({
        "inputSchema": {"type": "not-a-type"},
        "steps": [
            {"id": "fetch", "type": "http_request", "url": "https://api.example.com"},
            {"id": "fetch", "type": "http_request", "url": "https://api.example.com"},
            {"id": "notify", "agent": "a", "task": "t", "dependsOn": ["ghost"]},
            {"id": "a", "agent": "a", "task": "t", "dependsOn": ["b"]},
            {"id": "b", "agent": "a", "task": "t", "dependsOn": ["a"]},
            {"id": "odd", "type": "teleport"},
            {"id": "mapper", "agent": "a", "task": "t", "inputMap": {"company": "$.scrape.output[[["}},
            {"id": "check", "type": "condition", "expression": "$.x >=", "onTrue": {"next": "notify"}},
            {"id": "risky", "agent": "a", "task": "t", "onStepFailure": {"action": "goto", "target": "nowhere"}}
        ]
    }));
    let problems = validate(&def);
    let found = codes(&problems);
    for expected in [
        ProblemCode::InvalidSchema,
        ProblemCode::DuplicateStepId,
        ProblemCode::MissingDependency,
        ProblemCode::UnknownStepType,
        ProblemCode::InvalidJsonPath,
        ProblemCode::InvalidExpression,
        ProblemCode::UnknownGotoTarget,
        ProblemCode::Cycle,
    ] {
        assert!(found.contains(&expected), "{expected:?} missing from {problems:#?}");
    }
    let by_code = |code| problems.iter().find(|p| p.code == code).expect("present");
    let missing = by_code(ProblemCode::MissingDependency);
    assert_eq!(missing.message, "Step 'notify' depends on 'ghost' which doesn't exist");
    assert_eq!((missing.step_id.as_str(), missing.field.as_str()), ("notify", "steps[2].dependsOn[0]"));
    let path = by_code(ProblemCode::InvalidJsonPath);
    assert_eq!((path.step_id.as_str(), path.field.as_str()), ("mapper", "steps[6].inputMap.company"));
    assert_eq!(by_code(ProblemCode::InvalidSchema).step_id, "");
    assert_eq!(by_code(ProblemCode::InvalidExpression).field, "steps[7].expression");
    assert_eq!(by_code(ProblemCode::UnknownGotoTarget).field, "steps[8].onStepFailure.target");
    assert!(compile(&def).is_err_and(|all| all == problems), "compile reports the same problems");
}

#[test]
fn cycle_message_names_its_path() {
    let def = definition(json!({"steps": [
        {"id": "step_a", "agent": "x", "task": "t", "dependsOn": ["step_b"]},
        {"id": "step_b", "agent": "x", "task": "t", "dependsOn": ["step_a"]},
    ]}));
    let problems = validate(&def);
    assert_eq!(codes(&problems), [ProblemCode::Cycle]);
    assert_eq!(problems[0].message, "Cycle detected: step_a → step_b → step_a");
    assert_eq!(problems[0].step_id, "step_a");
    assert_eq!(problems[0].field, "steps[0].dependsOn");
}

#[test]
fn every_cycle_is_reported_once_including_branch_loops() {
    let def = definition(json!({"steps": [
        {"id": "a", "agent": "x", "task": "t", "dependsOn": ["c"]},
        {"id": "b", "agent": "x", "task": "t", "dependsOn": ["a"]},
        {"id": "c", "agent": "x", "task": "t", "dependsOn": ["b", "a"]},
        {"id": "loop", "type": "condition", "expression": "$.input.x == 1", "onTrue": {"next": "loop"}},
        {"id": "d", "agent": "x", "task": "t", "dependsOn": ["e"]},
        {"id": "e", "agent": "x", "task": "t", "dependsOn": ["d"]},
        {"id": "downstream", "agent": "x", "task": "t", "dependsOn": ["e"]},
    ]}));
    let messages: Vec<String> = validate(&def).into_iter().map(|p| p.message).collect();
    assert_eq!(messages, ["Cycle detected: a → c → a", "Cycle detected: loop → loop", "Cycle detected: d → e → d"]);
}

#[test]
fn self_dependency_is_its_own_problem_not_a_cycle() {
    let def = definition(json!({"steps": [{"id": "a", "agent": "x", "task": "t", "dependsOn": ["a"]}]}));
    let problems = validate(&def);
    assert_eq!(codes(&problems), [ProblemCode::SelfDependency]);
    assert_eq!(problems[0].message, "Step 'a' depends on itself");
}

#[test]
fn a_sub_step_depending_on_its_parent_is_explained() {
    let def = definition(json!({"steps": [
        {"id": "p", "type": "parallel", "steps": [{"id": "c", "agent": "x", "task": "t", "dependsOn": ["p"]}]},
        {"id": "q", "type": "parallel", "dependsOn": ["d"], "steps": [{"id": "d", "agent": "x", "task": "t"}]},
    ]}));
    let problems = validate(&def);
    assert_eq!(codes(&problems), [ProblemCode::InvalidField], "{problems:#?}");
    assert_eq!(problems[0].field, "steps[0].steps[0].dependsOn[0]");
}

#[test]
fn parallel_children_start_with_their_parent_and_finish_before_it() {
    let workflow = compiled(json!({"steps": [
        agent("before"),
        {"id": "fan", "type": "parallel", "dependsOn": ["before"], "steps": [
            agent("one"),
            {"id": "inner", "type": "parallel", "steps": [agent("deep")]}
        ]},
        {"id": "after", "agent": "x", "task": "t", "dependsOn": ["fan"]},
    ]}));
    assert_eq!(edge(&workflow, "before", "one"), Some(EdgeKind::ParentStart));
    assert_eq!(edge(&workflow, "before", "deep"), Some(EdgeKind::ParentStart));
    assert_eq!(edge(&workflow, "deep", "inner"), Some(EdgeKind::SubStepDone));
    assert_eq!(edge(&workflow, "inner", "fan"), Some(EdgeKind::SubStepDone));
    assert_eq!(edge(&workflow, "fan", "after"), Some(EdgeKind::DependsOn));
}

#[test]
fn unordered_writers_of_one_state_key_are_serialized_with_a_warning() {
    let def = definition(json!({"steps": [
        {"id": "w1", "agent": "x", "task": "t", "stateWrites": ["company", "company"]},
        {"id": "w2", "agent": "x", "task": "t", "stateWrites": ["company"]},
        {"id": "w3", "agent": "x", "task": "t", "dependsOn": ["w1", "w2"], "stateWrites": ["company", "other"]},
        {"id": "w4", "agent": "x", "task": "t", "stateWrites": ["other"]},
    ]}));
    assert_eq!(validate(&def), [], "serialized writers are no error");
    let problems = warnings(&def);
    assert_eq!(codes(&problems), [ProblemCode::ConflictingStateWrites, ProblemCode::ConflictingStateWrites]);
    assert!(problems.iter().all(Problem::is_warning));
    assert!(problems[0].message.contains("'company'"), "{}", problems[0].message);
    assert!(problems[0].message.contains("'w2' will run after 'w1'"), "{}", problems[0].message);
    assert!(problems[1].message.contains("'other'"), "{}", problems[1].message);
    assert!(problems[1].message.contains("'w4' will run after 'w3'"), "{}", problems[1].message);
    // Definition order, as far as the DAG allows: w3 waits for w1 and w2.
    let workflow = compile(&def).expect("serialized writers compile");
    assert_eq!(edge(&workflow, "w1", "w2"), Some(EdgeKind::StateOrder));
    assert_eq!(edge(&workflow, "w3", "w4"), Some(EdgeKind::StateOrder));
    assert_eq!(edge(&workflow, "w2", "w3"), Some(EdgeKind::DependsOn), "already ordered: no extra edge");
    let ordered = definition(json!({"steps": [
        {"id": "w1", "agent": "x", "task": "t", "stateWrites": ["k"]},
        {"id": "mid", "agent": "x", "task": "t", "dependsOn": ["w1"]},
        {"id": "w2", "agent": "x", "task": "t", "dependsOn": ["mid"], "stateWrites": ["k"]},
    ]}));
    assert_eq!(validate(&ordered), []);
    assert_eq!(warnings(&ordered), []);
}

#[test]
fn writer_order_follows_definition_order_where_dependencies_allow() {
    // 'late' is written after 'early' but 'early' waits for 'slow', which
    // is defined last: 'slow' is pulled ahead, so 'early' still goes first.
    let def = definition(json!({"steps": [
        {"id": "early", "agent": "x", "task": "t", "dependsOn": ["slow"], "stateWrites": ["k"]},
        {"id": "late", "agent": "x", "task": "t", "stateWrites": ["k"]},
        {"id": "slow", "agent": "x", "task": "t"},
    ]}));
    let workflow = compile(&def).expect("compiles");
    assert_eq!(edge(&workflow, "early", "late"), Some(EdgeKind::StateOrder));
    // Where the DAG already orders them the other way round, that order
    // stands and nothing is added.
    let reversed = definition(json!({"steps": [
        {"id": "a", "agent": "x", "task": "t", "dependsOn": ["b"], "stateWrites": ["k"]},
        {"id": "b", "agent": "x", "task": "t", "stateWrites": ["k"]},
    ]}));
    assert_eq!(warnings(&reversed), []);
    // Writers of several keys never form a cycle: each edge follows one
    // topological layout.
    let crossed = definition(json!({"steps": [
        {"id": "p", "agent": "x", "task": "t", "stateWrites": ["k", "j"]},
        {"id": "q", "agent": "x", "task": "t", "stateWrites": ["j", "k"]},
        {"id": "r", "agent": "x", "task": "t", "stateWrites": ["k"]},
    ]}));
    let workflow = compile(&crossed).expect("no cycle");
    assert_eq!(edge(&workflow, "p", "q"), Some(EdgeKind::StateOrder));
    assert_eq!(edge(&workflow, "q", "r"), Some(EdgeKind::StateOrder));
    assert_eq!(edge(&workflow, "q", "p"), None);
    assert_eq!(warnings(&crossed).len(), 3, "k: p→q, q→r; j: p→q");
}

#[test]
fn writers_inside_a_map_are_ordered_through_their_map() {
    let def = definition(json!({"steps": [
        {"id": "each", "type": "map", "over": "$.input.items",
         "step": {"id": "one", "agent": "x", "task": "t", "stateWrites": ["k"]}},
        {"id": "solo", "agent": "x", "task": "t", "stateWrites": ["k"]},
    ]}));
    let workflow = compile(&def).expect("compiles");
    assert_eq!(edge(&workflow, "each", "solo"), Some(EdgeKind::StateOrder));
    assert_eq!(edge(&workflow, "one", "solo"), None);
}

#[test]
fn a_step_and_its_goto_recovery_may_write_one_key() {
    // The recovery runs only once the step failed, and a failed step
    // writes nothing: they are never in flight together.
    let def = definition(json!({"steps": [
        {"id": "score", "agent": "x", "task": "t", "stateWrites": ["score"],
         "onStepFailure": {"action": "goto", "target": "fallback"}},
        {"id": "fallback", "agent": "x", "task": "t", "stateWrites": ["score"]},
        {"id": "other", "agent": "x", "task": "t", "stateWrites": ["score"]},
    ]}));
    let problems = warnings(&def);
    assert_eq!(codes(&problems), [ProblemCode::ConflictingStateWrites], "only 'other' is unordered: {problems:?}");
}

#[test]
fn ids_must_be_well_formed_unreserved_and_unique() {
    let long = "x".repeat(MAX_ID_LEN + 1);
    let def = definition(json!({"steps": [
        {"id": "", "agent": "x", "task": "t"},
        {"id": "has space", "agent": "x", "task": "t"},
        {"id": long, "agent": "x", "task": "t"},
        {"id": "input", "agent": "x", "task": "t"},
        {"id": "state", "agent": "x", "task": "t"},
        {"id": "ok.id-1_x", "agent": "x", "task": "t"},
        {"id": "p", "type": "parallel", "steps": [{"id": "ok.id-1_x", "agent": "x", "task": "t"}]},
    ]}));
    let problems = validate(&def);
    assert_eq!(
        codes(&problems),
        [
            ProblemCode::DuplicateStepId,
            ProblemCode::InvalidStepId,
            ProblemCode::InvalidStepId,
            ProblemCode::InvalidStepId,
            ProblemCode::InvalidStepId,
            ProblemCode::InvalidStepId,
        ]
    );
    assert_eq!(problems[1].message, "The step at steps[0] has no id; every step needs one");
}

#[test]
fn required_fields_are_reported_per_type() {
    let cases = [
        (json!({"id": "s", "type": "agent"}), vec!["agent", "task"]),
        (json!({"id": "s", "type": "planner", "agent": "p"}), vec!["task"]),
        (json!({"id": "s", "type": "parallel"}), vec!["steps"]),
        (json!({"id": "s", "type": "condition"}), vec!["expression", "onTrue"]),
        (json!({"id": "s", "type": "delay"}), vec!["duration"]),
        (json!({"id": "s", "type": "approval"}), vec!["action"]),
        (json!({"id": "s", "type": "webhook"}), vec!["url"]),
        (json!({"id": "s", "type": "http_request"}), vec!["url"]),
        // No output: a join point yielding {}.
        (json!({"id": "s", "type": "transform"}), vec![]),
        (json!({"id": "s", "type": "map"}), vec!["over", "step"]),
        (json!({"id": "s", "type": "loop"}), vec!["over", "step"]),
        (json!({"id": "s", "type": "wait"}), vec!["event"]),
        (json!({"id": "s", "type": "script"}), vec!["language", "script"]),
    ];
    for (step, fields) in cases {
        let problems = validate(&definition(json!({"steps": [step]})));
        assert!(problems.iter().all(|p| p.code == ProblemCode::MissingField), "{problems:#?}");
        let found: Vec<&str> = problems.iter().map(|p| p.field.trim_start_matches("steps[0].")).collect();
        assert_eq!(found, fields);
    }
}

#[test]
fn field_values_outside_their_sets_are_reported() {
    let def = definition(json!({"steps": [
        {"id": "h", "type": "webhook", "url": "ftp://x", "method": "FETCH", "headers": {"Bad Name": "v"}},
        {"id": "ap", "type": "approval", "action": "x", "defaultAction": "maybe"},
        {"id": "sc", "type": "script", "language": "ruby", "script": "puts 1"},
        {"id": "m", "type": "map", "over": "$.input.xs", "concurrency": 5000, "as": "input", "step": agent("ms")},
        {"id": "r", "agent": "x", "task": "t", "retries": 101, "timeout": "soon",
         "onStepFailure": {"action": "retry"}},
        {"id": "w", "type": "wait", "event": "e", "onTimeout": {"next": "r"}},
        {"id": "f", "agent": "x", "task": "t", "onStepFailure": {"action": "stop", "target": "r"}},
        {"id": "ag", "agent": "x", "task": "t", "url": "https://example.com", "duration": 5},
    ]}));
    let found: Vec<(String, ProblemCode)> = validate(&def).into_iter().map(|p| (p.field, p.code)).collect();
    let expected = [
        ("steps[0].url", ProblemCode::InvalidField),
        ("steps[0].method", ProblemCode::InvalidField),
        ("steps[0].headers.Bad Name", ProblemCode::InvalidField),
        ("steps[1].defaultAction", ProblemCode::InvalidField),
        ("steps[2].language", ProblemCode::InvalidField),
        ("steps[3].concurrency", ProblemCode::LimitExceeded),
        ("steps[3].as", ProblemCode::InvalidField),
        ("steps[4].onStepFailure.action", ProblemCode::InvalidField),
        ("steps[4].retries", ProblemCode::LimitExceeded),
        ("steps[4].timeout", ProblemCode::InvalidField),
        ("steps[5].timeout", ProblemCode::MissingField),
        ("steps[6].onStepFailure.target", ProblemCode::InvalidField),
        ("steps[7].duration", ProblemCode::InvalidField),
        ("steps[7].url", ProblemCode::InvalidField),
    ];
    let expected: Vec<(String, ProblemCode)> = expected.iter().map(|(f, c)| (f.to_string(), *c)).collect();
    assert_eq!(found, expected);
}

#[test]
fn unknown_branch_targets_are_reported() {
    let def = definition(json!({"steps": [
        {"id": "c", "type": "condition", "expression": "$.input.x > 1",
         "onTrue": {"next": "yes"}, "onFalse": {"next": ""}},
        {"id": "w", "type": "wait", "event": "e", "timeout": "1h", "onTimeout": {"next": "later"}},
    ]}));
    let problems = validate(&def);
    assert_eq!(
        codes(&problems),
        [ProblemCode::UnknownBranchTarget, ProblemCode::MissingField, ProblemCode::UnknownBranchTarget]
    );
    assert_eq!(problems[0].message, "Step 'c' has an onTrue branch to 'yes' which doesn't exist");
}

#[test]
fn deeply_nested_expression_is_a_clean_validation_error() {
    let deep = format!("{}$.a == 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let nested_path = format!("$[?{}@.a{}]", "(".repeat(2_000), ")".repeat(2_000));
    let def = definition(json!({"steps": [
        {"id": "c", "type": "condition", "expression": deep, "onTrue": {"next": "a"}},
        {"id": "a", "agent": "x", "task": "{{ input.x }}", "inputMap": {"x": nested_path}},
    ]}));
    let problems = validate(&def);
    assert_eq!(codes(&problems), [ProblemCode::InvalidExpression, ProblemCode::InvalidJsonPath]);
    assert!(problems.iter().all(|p| p.message.len() < 400), "messages stay short: {problems:#?}");
}

#[test]
fn bad_task_templates_are_reported() {
    let def = definition(json!({"steps": [
        {"id": "a", "agent": "x", "task": "Scrape {{ input.website"},
        {"id": "b", "agent": "x", "task": "Scrape }} input"},
        {"id": "h", "type": "http_request", "url": "https://e.com", "body": {"x": ["{{ }}"]}},
    ]}));
    let problems = validate(&def);
    assert_eq!(codes(&problems), [ProblemCode::InvalidTemplate; 3]);
    assert_eq!(problems[0].field, "steps[0].task");
}

#[test]
fn empty_definition_is_reported() {
    let problems = validate(&Definition::default());
    assert_eq!(codes(&problems), [ProblemCode::EmptyDefinition]);
    let only_end = definition(json!({"states": {"done": {"type": "succeed"}}}));
    assert_eq!(validate(&only_end), [], "a lone end state is a step");
    let broken_dialect = definition(json!({"states": {"s": {"type": "task", "task": "f", "next": "gone"}}}));
    let mut normalized = broken_dialect.clone();
    assert_eq!(codes(&normalize(&mut normalized)), [ProblemCode::UnknownBranchTarget]);
    assert_eq!(codes(&validate(&normalized)), [ProblemCode::EmptyDefinition], "reported once, by normalize");
}

#[test]
fn validate_checks_unnormalized_definitions_as_normalized() {
    let def = definition(json!({"steps": [
        {"id": "fetch", "type": "http_request", "config": {"method": "GET", "url": "https://api.example.com/data"}},
        {"id": "notify", "type": "agent_task", "config": {"agent_id": "agent_123", "goal": "Summarize",
         "depends_on": ["fetch"]}},
    ]}));
    assert_eq!(validate(&def), []);
    let workflow = compile(&def).expect("config form compiles");
    assert_eq!(
        workflow.step_def(workflow.node("notify").expect("notify")).map(|s| s.agent.as_str()),
        Some("agent_123")
    );
    assert!(workflow.definition().steps.iter().all(|s| s.config.is_none()));
    let odd = definition(json!({"steps": [{"id": "a", "agent": "x", "task": "t", "config": {"colour": 1}}]}));
    let mut normalized = odd.clone();
    assert_eq!(codes(&normalize(&mut normalized)), [ProblemCode::InvalidField]);
    assert_eq!(validate(&normalized), [], "normalize's problems are not reported twice");
    assert_eq!(compile(&odd).err().as_deref().map(codes), Some(vec![ProblemCode::InvalidField]));
}

#[test]
fn seed_dialects_compile() {
    let states = compiled(json!({
        "states": {
            "initial": {"type": "task", "task": "validateCustomerData", "next": "createAccount"},
            "createAccount": {"type": "task", "task": "createCustomerAccount", "next": "sendWelcomeEmail"},
            "sendWelcomeEmail": {"type": "task", "task": "sendEmail", "next": "complete"},
            "complete": {"type": "succeed"}
        },
        "functions": ["validateCustomerData", "createCustomerAccount", "sendEmail"]
    }));
    let order: Vec<&str> = states.topological_order().iter().map(|&v| states.graph()[v].as_str()).collect();
    assert_eq!(order, ["initial", "createAccount", "sendWelcomeEmail", "complete"]);
    let graph = compiled(json!({
        "blocks": [
            {"id": "start", "type": "starter", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "out", "type": "response", "config": {}, "position": {"x": 300, "y": 0}}
        ],
        "edges": [{"source": "start", "target": "out"}]
    }));
    assert_eq!(edge(&graph, "start", "out"), Some(EdgeKind::DependsOn));
    assert_eq!(graph.definition().blocks.len(), 2, "the dialect source is kept");
}

#[test]
fn too_many_steps_is_a_limit_problem() {
    let steps: Vec<StepDef> = (0..=MAX_STEPS)
        .map(|i| StepDef {
            id: format!("s{i}"),
            kind: "agent".into(),
            agent: "a".into(),
            task: "t".into(),
            ..StepDef::default()
        })
        .collect();
    let def = Definition { steps, ..Definition::default() };
    assert_eq!(codes(&validate(&def)), [ProblemCode::LimitExceeded]);
}

fn chain(n: usize, closed: bool) -> Definition {
    let steps = (0..n)
        .map(|i| {
            let prev = if i > 0 { i - 1 } else { n - 1 };
            StepDef {
                id: format!("step_{i}"),
                kind: "agent".into(),
                agent: "worker".into(),
                task: format!("Handle {{{{ step_{prev}.output.name }}}} for {{{{ input.company }}}}"),
                depends_on: if i > 0 || closed { vec![format!("step_{prev}")] } else { Vec::new() },
                input_map: [("previous".to_owned(), format!("$.step_{prev}.output"))].into(),
                ..StepDef::default()
            }
        })
        .collect();
    Definition { steps, ..Definition::default() }
}

#[test]
fn twenty_thousand_step_cycle_is_reported_without_overflowing_the_stack() {
    let problems = validate(&chain(MAX_STEPS, true));
    assert_eq!(codes(&problems), [ProblemCode::Cycle]);
    assert_eq!(
        problems[0].message,
        "Cycle detected: step_0 → step_1 → step_2 → … (19,995 more) → step_19998 → step_19999 → step_0"
    );
}

#[test]
fn ten_thousand_step_chain_compiles_in_order() {
    let workflow = compile(&chain(10_000, false)).expect("a chain is valid");
    let order = workflow.topological_order();
    assert_eq!(order.len(), 10_000);
    assert!(order.iter().enumerate().all(|(i, v)| v.index() == i));
    assert_eq!(workflow.roots().collect::<Vec<_>>(), [NodeIndex::new(0)]);
}

#[test]
fn schema_formats_are_checked_not_just_annotations() {
    let workflow = compiled(json!({
        "name": "formats",
        "inputSchema": {"type": "object", "properties": {
            "email": {"type": "string", "format": "email"},
            "when": {"type": "string", "format": "date-time"}
        }},
        "steps": [agent("a")]
    }));
    let schema = workflow.input_schema().expect("the input schema compiled");
    assert!(schema.is_valid(&json!({"email": "ada@example.com", "when": "2026-11-22T01:02:03Z"})));
    assert!(!schema.is_valid(&json!({"email": "not an address"})));
    assert!(!schema.is_valid(&json!({"when": "yesterday"})));
}

/// A step with every field of [`StepDef`] set to a non-default value.
/// The literal names every field, so a new field must be added here, and
/// the field tests below (and in `fields.rs`) then check it is listed.
pub(super) fn every_field_set() -> StepDef {
    use std::collections::BTreeMap;

    use crate::model::definition::{Branch, FailureRoute};

    let sub = || StepDef { id: "sub".into(), kind: "agent".into(), ..StepDef::default() };
    StepDef {
        id: "s".into(),
        kind: "loop".into(),
        depends_on: vec!["a".into()],
        input_map: BTreeMap::from([("x".into(), "$.input.x".into())]),
        on_step_failure: Some(FailureRoute { action: "goto".into(), target: "b".into() }),
        state_reads: vec!["r".into()],
        state_writes: vec!["w".into()],
        retries: 1,
        timeout: "1m".into(),
        agent: "a".into(),
        task: "t".into(),
        steps: vec![sub()],
        expression: "$.input.x > 1".into(),
        on_true: Some(Branch { next: "c".into() }),
        on_false: Some(Branch { next: "d".into() }),
        duration: 5,
        action: "approve".into(),
        default_action: "reject".into(),
        message: "m".into(),
        options: vec!["yes".into()],
        url: "https://e.example".into(),
        method: "POST".into(),
        headers: BTreeMap::from([("X".into(), "1".into())]),
        wait_for_callback: true,
        body: Some(json!({"k": 1})),
        output: BTreeMap::from([("y".into(), "$.input.y".into())]),
        over: "$.input.items".into(),
        as_name: "item".into(),
        concurrency: 2,
        step: Some(Box::new(sub())),
        max_iterations: 3,
        while_condition: "$.input.x < 3".into(),
        until_condition: "$.input.x > 3".into(),
        event: "e".into(),
        on_timeout: Some(Branch { next: "f".into() }),
        language: "python".into(),
        script: "print(1)".into(),
        config: Some(serde_json::Map::from_iter([("k".into(), json!(1))])),
    }
}

fn snake_case(camel: &str) -> String {
    camel.chars().flat_map(|c| if c.is_uppercase() { vec!['_', c.to_ascii_lowercase()] } else { vec![c] }).collect()
}

#[test]
fn a_plan_step_may_use_every_step_field_and_nothing_else() {
    let base = compiled(json!({"steps": [{"id": "plan", "type": "planner", "agent": "p", "task": "t"}]}));
    let Value::Object(mut step) = serde_json::to_value(every_field_set()).expect("serializes") else {
        panic!("a step serializes to an object")
    };
    assert_eq!(step.len(), 38, "every field is set");
    let refused = ["whileCondition", "untilCondition", "agentId", "goal", "agent_id", "input_map", "dependson"];
    step.insert("depends_on".into(), json!(["a"]));
    for key in refused {
        step.insert(key.into(), json!("x"));
    }
    let problems = splice_plan(&base, "plan", &json!({"steps": [step]})).expect_err("unknown fields");
    let unknown: Vec<&str> = problems
        .iter()
        .filter(|p| p.message.contains("has an unknown field"))
        .map(|p| p.field.trim_start_matches("output.steps[0]."))
        .collect();
    assert_eq!(unknown, refused);
}

#[test]
fn a_config_object_may_set_every_field_but_id_type_and_config() {
    let full = serde_json::to_value(every_field_set()).expect("serializes");
    for (key, value) in full.as_object().expect("an object") {
        for written in [key.clone(), snake_case(key)] {
            let mut def = definition(json!({"steps": [{"id": "s", "type": "agent", "config": {&written: value}}]}));
            let problems = normalize(&mut def);
            let moved = serde_json::to_value(&def.steps[0]).expect("serializes");
            if ["id", "type", "config"].contains(&key.as_str()) {
                let [problem] = &problems[..] else { panic!("{written}: {problems:#?}") };
                assert_eq!(
                    problem.message,
                    format!("Step 's' has config key '{written}', which matches no step field")
                );
            } else {
                assert_eq!(problems, [], "{written}");
                assert_eq!(moved[key.as_str()], *value, "{written} moves into {key}");
            }
        }
    }
    for (alias, key) in [("agentId", "agent"), ("agent_id", "agent"), ("goal", "task"), ("depends_on", "dependsOn")] {
        let mut def = definition(json!({"steps": [{"id": "s", "config": {alias: full[key]}}]}));
        assert_eq!(normalize(&mut def), [], "{alias}");
        assert_eq!(serde_json::to_value(&def.steps[0]).expect("serializes")[key], full[key], "{alias}");
    }
    for unknown in ["whileCondition", "while_condition", "untilCondition", "as_name", "kind"] {
        let mut def = definition(json!({"steps": [{"id": "s", "config": {unknown: "x"}}]}));
        let problems = normalize(&mut def);
        assert!(problems[0].message.ends_with("which matches no step field"), "{unknown}: {problems:#?}");
    }
    let mut def =
        definition(json!({"steps": [{"id": "s", "type": "delay", "duration": 4, "config": {"duration": 5}}]}));
    let problems = normalize(&mut def);
    assert!(problems[0].message.ends_with(", which contradicts the step's own 'duration' field"), "{problems:#?}");
}

#[test]
fn each_type_refuses_the_fields_of_other_types() {
    let uses: [(&str, &[&str]); 13] = [
        ("agent", &["agent", "task"]),
        ("planner", &["agent", "task"]),
        ("parallel", &["steps"]),
        ("condition", &["expression", "onTrue", "onFalse"]),
        ("delay", &["duration"]),
        ("approval", &["action", "defaultAction", "message", "options"]),
        ("webhook", &["url", "method", "headers", "waitForCallback"]),
        ("http_request", &["url", "method", "headers", "body"]),
        ("transform", &["output"]),
        ("map", &["over", "as", "concurrency", "step"]),
        ("loop", &["steps", "over", "as", "step", "maxIterations", "while", "until"]),
        ("wait", &["expression", "duration", "event", "onTimeout"]),
        ("script", &["language", "script"]),
    ];
    let shared = ["id", "type", "dependsOn", "inputMap", "onStepFailure", "stateReads", "stateWrites", "retries"];
    let full = serde_json::to_value(every_field_set()).expect("serializes");
    let specific: Vec<&str> = full
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .filter(|k| !shared.contains(k) && !["timeout", "config"].contains(k))
        .collect();
    for (kind, used) in uses {
        let step = StepDef { kind: kind.into(), config: None, ..every_field_set() };
        let problems = validate(&Definition { steps: vec![step], ..Definition::default() });
        let refused: Vec<&str> = problems
            .iter()
            .filter(|p| p.message.contains(&format!("which a {kind} step does not use")))
            .map(|p| p.field.trim_start_matches("steps[0]."))
            .collect();
        let expected: Vec<&str> = specific.iter().copied().filter(|f| !used.contains(f)).collect();
        assert_eq!(refused, expected, "{kind}");
    }
}

#[test]
fn secrets_are_referenced_only_in_header_values_and_kept_unresolved() {
    let ok = compiled(json!({"steps": [
        {"id": "h", "type": "http_request", "url": "https://api.example.com/x",
         "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}", "X-Both": "{{secrets.A}}:{{ secrets.B }}"}},
    ]}));
    let step = ok.step(ok.node("h").unwrap()).unwrap();
    let CompiledKind::HttpRequest { request } = step.data() else { panic!("an http_request") };
    assert_eq!(request.headers["Authorization"], "Bearer {{ secrets.API_TOKEN }}", "the core does not resolve it");

    let def = definition(json!({"steps": [
        {"id": "u", "type": "http_request", "url": "https://x.example/{{ secrets.A }}"},
        {"id": "b", "type": "http_request", "url": "https://x.example/", "body": {"k": ["{{ secrets.A }}"]},
         "inputMap": {"leak": "$.secrets.A"}},
        {"id": "t", "agent": "a", "task": "use {{ secrets.A }}"},
        {"id": "c", "type": "condition", "expression": "$.secrets.A == 'x'", "onTrue": {"next": "t"}},
        {"id": "x", "type": "transform", "output": {"o": "$['secrets'].A"}},
        {"id": "h", "type": "webhook", "url": "https://x.example/", "headers": {"X-A": "{{ input.token }}"}},
        {"id": "secrets", "agent": "a", "task": "t"},
    ]}));
    let found: Vec<(String, ProblemCode)> = validate(&def).into_iter().map(|p| (p.field, p.code)).collect();
    let expected = [
        ("steps[0].url", ProblemCode::SecretOutsideHeader),
        ("steps[1].inputMap.leak", ProblemCode::SecretOutsideHeader),
        ("steps[1].body", ProblemCode::SecretOutsideHeader),
        ("steps[2].task", ProblemCode::SecretOutsideHeader),
        ("steps[3].expression", ProblemCode::SecretOutsideHeader),
        ("steps[4].output.o", ProblemCode::SecretOutsideHeader),
        ("steps[5].headers.X-A", ProblemCode::InvalidTemplate),
        ("steps[6].id", ProblemCode::InvalidStepId),
    ];
    let expected: Vec<(String, ProblemCode)> = expected.iter().map(|(f, c)| (f.to_string(), *c)).collect();
    assert_eq!(found, expected);
    let messages: Vec<String> = validate(&def).into_iter().map(|p| p.message).collect();
    assert!(messages[0].contains("Step 'u'") && messages[0].contains("in url"), "{}", messages[0]);
}

#[test]
fn a_url_may_hold_placeholders_and_its_fixed_start_is_still_checked() {
    let ok = compiled(json!({"steps": [
        {"id": "whole", "type": "http_request", "url": "{{ input.url }}"},
        {"id": "part", "type": "webhook", "url": "https://api.example.com/items/{{ input.id }}?q={{ input.q }}"},
        {"id": "host", "type": "http_request", "url": "https://{{ input.host }}/status"},
        {"id": "fixed", "type": "http_request", "url": "https://api.example.com/x"},
    ]}));
    let template = |id: &str| ok.step(ok.node(id).unwrap()).unwrap().url_template().map(|t| t.source().to_owned());
    assert_eq!(template("whole").as_deref(), Some("{{ input.url }}"));
    assert!(template("part").is_some() && template("host").is_some());
    assert_eq!(template("fixed"), None, "a URL without placeholders is sent as written");

    let def = definition(json!({"steps": [
        {"id": "a", "type": "http_request", "url": "ftp://files.example.com/{{ input.path }}"},
        {"id": "b", "type": "http_request", "url": "https://api.example.com/{{ input.id"},
        {"id": "c", "type": "http_request", "url": "https://api.example.com/{{ }}"},
        {"id": "d", "type": "http_request", "url": "{{ secrets.URL }}"},
    ]}));
    let found: Vec<(String, ProblemCode)> = validate(&def).into_iter().map(|p| (p.field, p.code)).collect();
    let expected = [
        ("steps[0].url", ProblemCode::InvalidField),
        ("steps[1].url", ProblemCode::InvalidTemplate),
        ("steps[2].url", ProblemCode::InvalidTemplate),
        ("steps[3].url", ProblemCode::SecretOutsideHeader),
    ];
    let expected: Vec<(String, ProblemCode)> = expected.iter().map(|(f, c)| (f.to_string(), *c)).collect();
    assert_eq!(found, expected);
}
