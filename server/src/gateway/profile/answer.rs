//! Envelopes: what a family puts around an RPC's answer, applied to the
//! answer's JSON after it is written with the family's keys. `/v1` answers
//! are [`Answer::Bare`] and never pass through here.

use http::StatusCode;
use serde_json::{Map, Value, json};

/// The page window of a `{data, meta}` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListWindow {
    /// Items when the client gives no `limit` (or 0).
    pub default_limit: u32,
    /// The most items a page holds; larger limits are lowered to it.
    pub max_limit: u32,
}

impl ListWindow {
    /// 002: 20 by default, at most 200 (ListWorkflows' own cap).
    pub const STATE_MACHINE: ListWindow = ListWindow { default_limit: 20, max_limit: 200 };
}

/// The envelope of one RPC's answers in one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The answer as written (or its `response_body` field).
    Bare,
    /// Only these top-level keys (003's 202 `{run_id}`).
    Only(&'static [&'static str]),
    /// `{data: <items>, meta: {total, limit, offset}}` (002's lists).
    DataMeta {
        /// The key of the answer's item array.
        items: &'static str,
        /// Its page window.
        window: ListWindow,
    },
    /// `{output: {status, steps, result, pendingAction}, run_id}` (001).
    AgentRun,
    /// `{runs: [<AgentRun>…], next_page_token}` (001's list).
    AgentRuns,
    /// A 002 execution: `stateHistory` holds the states entered, each with
    /// `exitedAt` (null for the state a finished run ends in), and
    /// `currentState` names where the machine is.
    Execution,
    /// A synchronous execution (004): 200 with the answer when the run did
    /// not fail, else 500 `EXECUTION_FAILED` with the step's error.
    Outcome,
}

/// An answer after its envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum Shaped {
    /// The body to send with the RPC's success status.
    Body(Value),
    /// The run behind the answer failed: an error to send instead.
    Failed {
        /// HTTP status.
        status: StatusCode,
        /// `error_code`.
        code: &'static str,
        /// What failed, naming the step.
        message: String,
    },
}

/// Puts `body` (the answer written with the family's keys) in `answer`'s
/// envelope. `query` is the request's query string (for list windows).
pub fn shape_answer(answer: Answer, body: Value, query: Option<&str>) -> Shaped {
    match answer {
        Answer::Bare => Shaped::Body(body),
        Answer::Only(keys) => {
            let Value::Object(mut object) = body else { return Shaped::Body(body) };
            object.retain(|key, _| keys.contains(&key.as_str()));
            Shaped::Body(Value::Object(object))
        }
        Answer::DataMeta { items, window } => Shaped::Body(data_meta(body, items, window, query)),
        Answer::AgentRun => Shaped::Body(agent_run(run_of(&body))),
        Answer::AgentRuns => {
            let runs: Vec<Value> =
                body.get("runs").and_then(Value::as_array).into_iter().flatten().map(agent_run).collect();
            let next = body.get("nextPageToken").cloned().unwrap_or_else(|| json!(""));
            Shaped::Body(json!({"runs": runs, "next_page_token": next}))
        }
        Answer::Execution => Shaped::Body(execution(body)),
        Answer::Outcome => outcome(body),
    }
}

/// Renames the keys `renames` lists in the outputs of step results (objects
/// with a step `type` and an `output` object) anywhere in `value`.
pub fn rename_step_outputs(value: &mut Value, renames: &[super::StepOutputRename]) {
    match value {
        Value::Object(object) => {
            let kind = object.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
            if let Some(Value::Object(output)) = object.get_mut("output") {
                for rename in renames.iter().filter(|r| r.step_types.contains(&kind.as_str())) {
                    if let Some(found) = output.remove(rename.from) {
                        output.insert(rename.to.to_owned(), found);
                    }
                }
            }
            object.values_mut().for_each(|child| rename_step_outputs(child, renames));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rename_step_outputs(item, renames)),
        _ => {}
    }
}

/// The run inside an answer: its `run` field, or the answer itself.
fn run_of(body: &Value) -> &Value {
    body.get("run").filter(|run| run.is_object()).unwrap_or(body)
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A query parameter as a whole number; absent or unreadable is `None`.
fn query_number(query: Option<&str>, key: &str) -> Option<u32> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    pairs.into_iter().find(|(k, _)| k == key).and_then(|(_, v)| v.trim().parse().ok())
}

fn data_meta(mut body: Value, items: &str, window: ListWindow, query: Option<&str>) -> Value {
    let data = body.get_mut(items).map(Value::take).unwrap_or_else(|| json!([]));
    let total = body.get("total").cloned().unwrap_or_else(|| json!(0));
    let limit = match query_number(query, "limit") {
        Some(0) | None => window.default_limit,
        Some(limit) => limit.min(window.max_limit),
    };
    let offset = query_number(query, "offset").unwrap_or(0);
    json!({"data": data, "meta": {"total": total, "limit": limit, "offset": offset}})
}

/// 001 names four run statuses: a pending run is running, and a run that
/// ended with failed steps (partial) has failed.
fn agent_status(status: &str) -> &str {
    match status {
        "pending" | "" => "running",
        "partial" => "failed",
        other => other,
    }
}

fn agent_run(run: &Value) -> Value {
    let status = agent_status(text(run, "status"));
    let steps: Vec<Value> = run
        .get("steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|step| !matches!(text(step, "status"), "pending" | "ready" | "skipped"))
        .map(|step| {
            json!({
                "name": step.get("id").cloned().unwrap_or(Value::Null),
                "status": step.get("status").cloned().unwrap_or(Value::Null),
                "output": step.get("output").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let result = if status == "completed" { run.get("output").cloned().unwrap_or(Value::Null) } else { Value::Null };
    let pending = match run.get("pendingAction") {
        Some(Value::Object(action)) => {
            let mut action = action.clone();
            // A person's yes/no is a confirmation in 001's words.
            if action.get("type").and_then(Value::as_str).is_some_and(|t| t == "approval" || t == "tool_approval") {
                action.insert("type".into(), json!("confirmation"));
            }
            Value::Object(action)
        }
        _ => Value::Null,
    };
    json!({
        "output": {"status": status, "steps": steps, "result": result, "pendingAction": pending},
        "run_id": run.get("id").cloned().unwrap_or(Value::Null),
    })
}

/// Statuses of states the machine has entered.
fn entered(state: &Value) -> bool {
    !matches!(text(state, "status"), "pending" | "ready" | "skipped" | "")
}

fn execution(mut run: Value) -> Value {
    let Some(object) = run.as_object_mut() else { return run };
    let status = object.get("status").and_then(Value::as_str).unwrap_or_default().to_string();
    let all: Vec<Value> = match object.remove("stateHistory") {
        Some(Value::Array(states)) => states,
        _ => Vec::new(),
    };
    let initial = all.first().map(|state| state.get("state").cloned().unwrap_or(Value::Null));
    let mut history: Vec<Value> = all.into_iter().filter(entered).collect();
    for state in &mut history {
        if let Value::Object(state) = state {
            state.entry("enteredAt").or_insert(Value::Null);
            state.entry("exitedAt").or_insert(Value::Null);
            state.entry("output").or_insert(Value::Null);
        }
    }
    // A finished machine rests in its last state: it is never exited.
    if status == "completed"
        && let Some(Value::Object(last)) = history.last_mut()
    {
        last.insert("exitedAt".into(), Value::Null);
    }
    let current = history
        .last()
        .map(|state| state.get("state").cloned().unwrap_or(Value::Null))
        .or(initial)
        .unwrap_or(Value::Null);
    object.insert("currentState".into(), current);
    object.insert("stateHistory".into(), Value::Array(history));
    run
}

fn outcome(body: Value) -> Shaped {
    let run = run_of(&body);
    if text(run, "status") != "failed" {
        return Shaped::Body(body);
    }
    let error = run.get("error").cloned().unwrap_or_else(|| Value::Object(Map::new()));
    let step = text(&error, "step_id");
    let reason = match text(&error, "message") {
        "" => "the run failed",
        message => message,
    };
    let message = if step.is_empty() { reason.to_string() } else { format!("step '{step}' failed: {reason}") };
    Shaped::Failed { status: StatusCode::INTERNAL_SERVER_ERROR, code: "EXECUTION_FAILED", message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(shaped: Shaped) -> Value {
        match shaped {
            Shaped::Body(body) => body,
            Shaped::Failed { .. } => panic!("not a body"),
        }
    }

    #[test]
    fn data_meta_takes_the_window_from_the_query() {
        let list = json!({"workflows": [{"id": "wf_1"}], "total": 7, "nextPageToken": "x"});
        let answer = Answer::DataMeta { items: "workflows", window: ListWindow::STATE_MACHINE };
        let shaped = body(shape_answer(answer, list.clone(), Some("offset=5")));
        assert_eq!(shaped, json!({"data": [{"id": "wf_1"}], "meta": {"total": 7, "limit": 20, "offset": 5}}));
        let shaped = body(shape_answer(answer, list, Some("limit=900")));
        assert_eq!(shaped["meta"]["limit"], 200);
    }

    #[test]
    fn an_agent_run_shows_entered_steps_and_a_confirmation() {
        let run = json!({"run": {"id": "wfrun_1", "status": "paused", "output": {"x": 1},
            "steps": [{"id": "classify", "status": "completed", "output": {"c": "e"}},
                      {"id": "approval", "status": "paused"}, {"id": "later", "status": "pending"}],
            "pendingAction": {"step": "approval", "type": "approval", "options": ["approve"]}}});
        let shaped = body(shape_answer(Answer::AgentRun, run, None));
        assert_eq!(shaped["run_id"], "wfrun_1");
        assert_eq!(shaped["output"]["status"], "paused");
        assert_eq!(shaped["output"]["result"], Value::Null, "no result before completion");
        assert_eq!(shaped["output"]["steps"].as_array().unwrap().len(), 2);
        assert_eq!(
            shaped["output"]["steps"][0],
            json!({"name": "classify", "status": "completed", "output": {"c": "e"}})
        );
        assert_eq!(shaped["output"]["pendingAction"]["type"], "confirmation");
    }

    #[test]
    fn an_execution_ends_in_its_final_state_never_exited() {
        let run = json!({"status": "completed", "stateHistory": [
            {"state": "initial", "status": "completed", "enteredAt": "t0", "exitedAt": "t1", "output": {"v": 1}},
            {"state": "done", "status": "completed", "enteredAt": "t1", "exitedAt": "t1"},
            {"state": "other", "status": "skipped"}]});
        let shaped = body(shape_answer(Answer::Execution, run, None));
        assert_eq!(shaped["currentState"], "done");
        assert_eq!(shaped["stateHistory"].as_array().unwrap().len(), 2);
        assert_eq!(shaped["stateHistory"][1]["exitedAt"], Value::Null);
        let fresh = json!({"status": "pending", "stateHistory": [{"state": "initial", "status": "pending"}]});
        let shaped = body(shape_answer(Answer::Execution, fresh, None));
        assert_eq!(shaped["currentState"], "initial", "a new machine is at its initial state");
        assert_eq!(shaped["stateHistory"], json!([]));
    }

    #[test]
    fn built_in_step_outputs_are_spelled_the_family_way_and_data_is_not() {
        const RENAMES: &[super::super::StepOutputRename] =
            &[super::super::StepOutputRename { step_types: &["http_request"], from: "statusCode", to: "status_code" }];
        let mut run = json!({"run": {"step_runs": [
            {"step_id": "fetch", "type": "http_request", "output": {"statusCode": 200, "body": {"statusCode": 1}}},
            {"step_id": "mine", "type": "transform", "output": {"statusCode": 7}}]}});
        rename_step_outputs(&mut run, RENAMES);
        assert_eq!(run["run"]["step_runs"][0]["output"], json!({"status_code": 200, "body": {"statusCode": 1}}));
        assert_eq!(run["run"]["step_runs"][1]["output"], json!({"statusCode": 7}), "a transform's output is data");
    }

    #[test]
    fn a_failed_execution_is_a_500_naming_the_step() {
        let failed = json!({"run": {"status": "failed", "error": {"step_id": "fetch", "message": "boom"}}});
        match shape_answer(Answer::Outcome, failed, None) {
            Shaped::Failed { status, code, message } => {
                assert_eq!((status, code), (StatusCode::INTERNAL_SERVER_ERROR, "EXECUTION_FAILED"));
                assert_eq!(message, "step 'fetch' failed: boom");
            }
            Shaped::Body(_) => panic!("a failed run is an error"),
        }
        let fine = json!({"run": {"status": "completed"}});
        assert_eq!(body(shape_answer(Answer::Outcome, fine.clone(), None)), fine);
    }
}
