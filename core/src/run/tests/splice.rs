//! Planner steps: a valid plan is spliced after the planner and runs,
//! what waited for the planner waits for the plan too, an invalid plan or
//! an output that is no plan fails the planner with PLAN_INVALID, and the
//! splice replays from the stored commands.

use serde_json::{Value, json};

use super::*;
use crate::compile::StepKind;

fn planned() -> Value {
    json!({"steps": [
        {"id": "plan", "type": "planner", "agent": "planner", "task": "Plan for {{ input.company }}"},
        {"id": "report", "type": "transform", "dependsOn": ["plan"], "output": {"summary": "$.sum.output"}},
    ]})
}

fn plan_output() -> Value {
    json!({"steps": [
        {"id": "research", "type": "agent", "agent": "researcher", "task": "Research {{ input.company }}"},
        {"id": "sum", "type": "transform", "dependsOn": ["research"], "output": {"facts": "$.research.output.facts"}},
    ]})
}

#[test]
fn a_valid_plan_runs_after_the_planner_and_before_its_dependents() {
    let mut h = Harness::started(planned(), json!({"company": "Acme"}));
    let task = h.task("plan");
    assert_eq!((task.kind, task.agent.as_deref()), (StepKind::Planner, Some("planner")));
    assert_eq!(task.task.as_deref(), Some("Plan for Acme"));

    h.succeed("plan", plan_output());
    assert_eq!(h.keys(), ["research"], "the plan's root is dispatched");
    assert_eq!(h.status("report"), StepStatus::Pending, "the planner's dependent waits for the plan");
    let spliced = h.events.iter().find(|e| e.event_type == EventType::PlanSpliced).expect("plan.spliced");
    assert_eq!(spliced.step_id.as_deref(), Some("plan"));
    assert_eq!(spliced.data, Some(json!({"steps": ["research", "sum"]})));
    let research = h.run.step("research").expect("spliced step is visible");
    assert_eq!(research.parent_id, Some("plan"), "marked as added by the planner");
    assert_eq!(h.run.step("sum").map(|s| s.parent_id), Some(Some("plan")));

    h.succeed("research", json!({"facts": ["founded 2010"]}));
    assert_eq!(h.run.status(), RunStatus::Completed);
    assert_eq!(h.output("report"), Some(json!({"summary": {"facts": ["founded 2010"]}})));
    let trace = h.trace();
    let at = |entry: &str| trace.iter().position(|t| t == entry).unwrap_or_else(|| panic!("{entry} in {trace:?}"));
    assert!(at("step.completed plan") < at("plan.spliced plan"));
    assert!(at("step.completed sum") < at("step.started report"));
    let ids: Vec<&str> = h.run.steps().iter().map(|s| s.step_id).collect();
    assert_eq!(ids, ["plan", "report", "research", "sum"], "spliced steps come after the definition's");
}

#[test]
fn an_invalid_plan_fails_the_planner_with_every_problem() {
    let mut h = Harness::started(planned(), json!({"company": "Acme"}));
    h.succeed(
        "plan",
        json!({"steps": [
            {"id": "report", "type": "transform", "output": {"x": "$.input"}},
            {"id": "x", "type": "agent", "agent": "w", "task": "x", "dependsOn": ["ghost"]},
            {"id": "c1", "type": "transform", "dependsOn": ["c2"], "output": {"x": "$.input"}},
            {"id": "c2", "type": "transform", "dependsOn": ["c1"], "output": {"x": "$.input"}},
        ]}),
    );
    assert_eq!(h.status("plan"), StepStatus::Failed);
    assert_eq!(h.run.status(), RunStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::PlanInvalid));
    let failed = h.events.iter().find(|e| e.event_type == EventType::StepFailed).expect("step.failed");
    let error = failed.error.as_deref().unwrap_or_default();
    assert!(error.contains("3 problems"), "{error}");
    for needle in ["'report' is used twice", "'ghost' which doesn't exist", "Cycle detected"] {
        assert!(error.contains(needle), "{needle} missing from {error}");
    }
    let data = failed.data.as_ref().expect("data");
    assert_eq!(data["code"], "PLAN_INVALID");
    let codes: Vec<&str> = data["problems"].as_array().unwrap().iter().map(|p| p["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["DUPLICATE_STEP_ID", "MISSING_DEPENDENCY", "CYCLE"]);
    assert!(h.run.step("x").is_none(), "nothing was spliced");
    assert!(h.events.iter().all(|e| e.event_type != EventType::PlanSpliced));
}

#[test]
fn an_output_that_is_no_plan_fails_the_planner_or_retries_it() {
    let mut def = planned();
    def["steps"][0]["retries"] = json!(1);
    let mut h = Harness::started(def, json!({"company": "Acme"}));
    h.succeed("plan", json!({"answer": "I would research them"}));
    let again = h.effects.iter().rev().find_map(|e| match e {
        Effect::DispatchTask(task) if task.step == "plan" => Some(task.attempt),
        _ => None,
    });
    assert_eq!(again, Some(2), "a planner asked again may answer with a plan");
    assert_eq!(h.trace().last().map(String::as_str), Some("step.retrying plan"));
    let now_ms = h.now_ms + 10;
    let command = Command::StepSucceeded {
        step: "plan".into(),
        attempt: 2,
        output: json!(["x"]),
        cost_cents: 0,
        now_ms,
        state_writes: None,
    };
    h.apply(command).expect("second answer accepted");
    assert_eq!(h.status("plan"), StepStatus::Failed);
    let error = h.run.step("plan").and_then(|s| s.error).unwrap_or_default().to_owned();
    assert!(error.contains("is an array") && error.contains("{\"steps\": [step definitions]}"), "{error}");
}

#[test]
fn a_spliced_run_replays_to_the_same_state() {
    let mut h = Harness::started(planned(), json!({"company": "Acme"}));
    let mut commands =
        vec![Command::Start { input: json!({"company": "Acme"}), shared_state: Value::Null, now_ms: 1_010 }];
    let plan = Command::StepSucceeded {
        step: "plan".into(),
        attempt: 1,
        output: plan_output(),
        cost_cents: 3,
        now_ms: 2,
        state_writes: None,
    };
    h.apply(plan.clone()).expect("plan accepted");
    commands.push(plan);

    let version = workflow(planned());
    let mut replayed = RunState::new("wfrun_test", "wf_test", 1, version.clone());
    for command in commands {
        let text = serde_json::to_string(&command).expect("serializes");
        transition(&mut replayed, serde_json::from_str(&text).expect("parses")).expect("replays");
    }
    let view = |run: &RunState| {
        run.steps().into_iter().map(|s| (s.key, s.status, s.parent_id.map(str::to_owned))).collect::<Vec<_>>()
    };
    assert_eq!(view(&replayed), view(&h.run));
    assert_eq!(replayed.document(), h.run.document());
    assert!(Arc::ptr_eq(replayed.version_workflow(), &version), "replays start from the version, not the splice");
    assert_eq!(replayed.compiled().len(), 4);
}

#[test]
fn a_planner_inside_a_map_cannot_splice() {
    let def = json!({"steps": [
        {"id": "m", "type": "map", "over": "$.input.items", "as": "it",
         "step": {"id": "p", "type": "planner", "agent": "planner", "task": "plan {{ it }}"}},
    ]});
    let mut h = Harness::started(def, json!({"items": [1]}));
    h.succeed("p[0]", plan_output());
    assert_eq!(h.status("p[0]"), StepStatus::Failed);
    assert_eq!(h.run.error_code(), Some(ErrorCode::PlanInvalid));
}
