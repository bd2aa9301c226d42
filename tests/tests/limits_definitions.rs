//! Definition and expression limits at their boundaries (issue #17,
//! Limits), over REST: N is accepted, N + 1 is a 400 `VALIDATION_ERROR`
//! whose message names the limit's value, and nothing is stored.
//! Steps per definition (20,000), sub-step nesting (16), expression length
//! (4,096 bytes) and bracket nesting (64).

use std::net::SocketAddr;

use serde_json::{Value, json};
use weft_server::engine::compile::{MAX_NESTING, MAX_STEPS};
use weft_server::expr::{MAX_EXPRESSION_LEN, MAX_NESTING_DEPTH};
use weft_tests::TestServer;
use weft_tests::http1;

async fn create(addr: SocketAddr, definition: &Value) -> (u16, Value) {
    http1::json(addr, "POST", "/v1/workflows", Some(definition.clone())).await
}

async fn workflow_count(addr: SocketAddr) -> usize {
    let (status, list) = http1::json(addr, "GET", "/v1/workflows?pageSize=200", None).await;
    assert_eq!(status, 200, "{list}");
    list.as_array().or(list["workflows"].as_array()).expect("a list of workflows").len()
}

/// The answer must be a 400 VALIDATION_ERROR whose message holds `words`.
fn assert_refused(status: u16, answer: &Value, words: &str) {
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error_code"], "VALIDATION_ERROR", "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(words), "{words:?} not in {message}");
}

fn flat(n: usize) -> Value {
    let steps: Vec<Value> = (0..n).map(|i| json!({"id": format!("s{i}"), "agent": "a", "task": "t"})).collect();
    json!({"name": "flat", "steps": steps})
}

/// `levels` map steps, each the sub-step of the one above. (Parallel
/// steps nest their children in an array, two JSON levels per step, so
/// the 30-level JSON limit refuses them first.)
fn nested(levels: usize) -> Value {
    let mut step = json!({"id": "leaf", "agent": "a", "task": "t"});
    for level in (0..levels).rev() {
        step = json!({"id": format!("m{level}"), "type": "map", "over": "$.input.xs", "step": step});
    }
    json!({"name": "nested", "steps": [step]})
}

fn with_path(path: &str) -> Value {
    json!({"name": "path", "steps": [{"id": "t", "type": "transform", "output": {"x": path}}]})
}

fn with_condition(expression: &str) -> Value {
    json!({"name": "condition", "steps": [
        {"id": "c", "type": "condition", "expression": expression, "onTrue": {"next": "yes"}},
        {"id": "yes", "type": "transform", "output": {"x": "$.input"}}
    ]})
}

#[tokio::test]
async fn steps_per_definition_max_is_accepted_and_one_more_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (status, answer) = create(server.addr, &flat(MAX_STEPS + 1)).await;
    assert_refused(status, &answer, &format!("more than {MAX_STEPS} steps"));
    assert_eq!(workflow_count(server.addr).await, 0, "nothing stored");
    let (status, answer) = create(server.addr, &flat(MAX_STEPS)).await;
    assert_eq!(status, 201, "{}", answer["message"]);
    assert_eq!(workflow_count(server.addr).await, 1);
}

#[tokio::test]
async fn sub_step_nesting_max_is_accepted_and_one_more_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let (status, answer) = create(server.addr, &nested(MAX_NESTING + 1)).await;
    assert_refused(status, &answer, &format!("more than {MAX_NESTING} levels deep"));
    assert_eq!(workflow_count(server.addr).await, 0, "nothing stored");
    let (status, answer) = create(server.addr, &nested(MAX_NESTING)).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(workflow_count(server.addr).await, 1);
}

#[tokio::test]
async fn expression_length_and_bracket_nesting_max_are_accepted_and_one_more_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    let path = |len: usize| format!("$.input.{}", "a".repeat(len - "$.input.".len()));

    let (status, answer) = create(addr, &with_path(&path(MAX_EXPRESSION_LEN + 1))).await;
    let words = format!("is {} bytes long; the limit is {MAX_EXPRESSION_LEN}", MAX_EXPRESSION_LEN + 1);
    assert_refused(status, &answer, &words);

    let parens = |depth: usize| format!("{}$.input.a == 1{}", "(".repeat(depth), ")".repeat(depth));
    let (status, answer) = create(addr, &with_condition(&parens(MAX_NESTING_DEPTH + 1))).await;
    let words = format!("nests brackets {} deep; the limit is {MAX_NESTING_DEPTH}", MAX_NESTING_DEPTH + 1);
    assert_refused(status, &answer, &words);
    // Far past the limit is the same clean refusal, never a stack overflow.
    let (status, answer) = create(addr, &with_condition(&parens(2_000))).await;
    assert_refused(status, &answer, "deep; the limit is");
    assert_eq!(workflow_count(addr).await, 0, "nothing stored");

    let (status, answer) = create(addr, &with_path(&path(MAX_EXPRESSION_LEN))).await;
    assert_eq!(status, 201, "{answer}");
    let (status, answer) = create(addr, &with_condition(&parens(MAX_NESTING_DEPTH))).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(workflow_count(addr).await, 2);
}

/// Text ending inside a string literal's `\u` escape made serde_json_path
/// panic (found by the fuzz targets): over the API it is a 400 naming the
/// open string, in a condition, a path and a task template alike, and
/// the server stays up.
#[tokio::test]
async fn an_expression_ending_inside_a_unicode_escape_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path()).await;
    let addr = server.addr;
    let template = json!({"name": "t", "steps": [{"id": "a", "agent": "a", "task": "Hi {{ input['\\u }}"}]});
    for definition in [with_condition("$.input.a == '\\u"), with_path("$.input['\\uD800\\u"), template] {
        let (status, answer) = create(addr, &definition).await;
        assert_refused(status, &answer, "that is never closed");
    }
    assert_eq!(workflow_count(addr).await, 0, "nothing stored");
    let (status, answer) = create(addr, &with_condition("$.input.a == '\\u00e9'")).await;
    assert_eq!(status, 201, "{answer}");
}
