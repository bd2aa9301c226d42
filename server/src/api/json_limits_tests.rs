//! The JSON limits against the proto messages stored values travel in:
//! a value at the depth limit round-trips through every one of them.

use prost::Message;
use serde_json::{Value, json};
use weft_proto::v1 as pb;

use crate::api::convert::value_to_pb;
use crate::model::json_limits::*;

/// `{"a": {"a": … 1}}` nested `levels` objects deep.
fn objects(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
}

/// `[[… 1]]` nested `levels` arrays deep.
fn arrays(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!([inner]))
}

fn one_field(key: &str, value: &Value) -> prost_types::Struct {
    prost_types::Struct { fields: [(key.to_owned(), value_to_pb(value))].into() }
}

/// Encodes `message` and decodes it again with prost, as a client would.
fn round_trips<M: Message + Default>(message: &M) -> bool {
    M::decode(message.encode_to_vec().as_slice()).is_ok()
}

/// The messages a stored value is sent in, deepest first: tool-use
/// arguments in an event's data, a task's input, a run's shared state and
/// a step's output.
fn every_message_round_trips(value: &Value) -> bool {
    let event = pb::RunEvent { data: Some(one_field("arguments", value)), ..Default::default() };
    let events = pb::ListRunEventsResponse { events: vec![event], ..Default::default() };
    let task =
        pb::Task { input: Some(one_field("x", value)), state: Some(one_field("k", value)), ..Default::default() };
    let poll = pb::PollTaskResponse { task: Some(task) };
    let run = pb::Run {
        input: Some(value_to_pb(value)),
        shared_state: Some(one_field("k", value)),
        steps: vec![pb::StepRun { output: Some(value_to_pb(value)), ..Default::default() }],
        ..Default::default()
    };
    let list = pb::ListRunsResponse { runs: vec![run.clone()], ..Default::default() };
    let get = pb::GetRunResponse { run: Some(run) };
    round_trips(&events) && round_trips(&poll) && round_trips(&list) && round_trips(&get)
}

#[test]
fn depth_counts_arrays_and_objects() {
    assert_eq!(depth(&json!(1)), 0);
    assert_eq!(depth(&json!([])), 1);
    assert_eq!(depth(&json!({"a": 1})), 1);
    assert_eq!(depth(&json!({"a": [1], "b": 2})), 2);
    assert_eq!(depth(&objects(7)), 7);
}

#[test]
fn a_value_at_the_limit_decodes_in_the_deepest_messages() {
    assert!(every_message_round_trips(&objects(MAX_JSON_DEPTH)));
    // The margin: one more object (a run output keyed by step id) still fits.
    assert!(every_message_round_trips(&objects(MAX_STORED_DEPTH)));
    assert!(every_message_round_trips(&arrays(MAX_STORED_DEPTH)));
    // The count above is prost's: at 32 plus that one level it breaks.
    assert!(!every_message_round_trips(&objects(33)));
}

#[test]
fn the_first_spot_too_deep_is_named() {
    assert_eq!(check_depth(&objects(MAX_JSON_DEPTH), "input"), Ok(()));
    let err = check_depth(&objects(MAX_JSON_DEPTH + 1), "input").unwrap_err();
    assert_eq!(err, JsonFault::TooDeep { path: format!("input{}", ".a".repeat(MAX_JSON_DEPTH)) });
    assert!(err.to_string().contains("nesting depth 31 > 30"), "{err}");
    assert_eq!(check_stored_depth(&objects(MAX_STORED_DEPTH), "output"), Ok(()));
    assert!(check_stored_depth(&objects(MAX_STORED_DEPTH + 1), "output").is_err());
    let err = check_depth(&json!({"ok": 1, "odd key": arrays(200)}), "output").unwrap_err();
    assert_eq!(err.path(), format!("output[\"odd key\"]{}", "[0]".repeat(MAX_JSON_DEPTH - 1)));
}

#[test]
fn network_json_keeps_exact_numbers_and_refuses_the_rest() {
    let read = |text: &str| parse_network(text.as_bytes(), "output.body");
    assert_eq!(
        read(r#"{"id": 9007199254740992, "f": 6.02e23, "s": "9007199254740993"}"#).unwrap().unwrap()["id"],
        json!(9007199254740992u64)
    );
    assert_eq!(
        read(r#"{"a": [1, {"id": 9007199254740993}]}"#),
        Err(JsonFault::InexactInteger { path: "output.body.a[1].id".into() })
    );
    assert_eq!(read("-9007199254740993"), Err(JsonFault::InexactInteger { path: "output.body".into() }));
    assert_eq!(
        read(r#"{"big": 18446744073709551616}"#),
        Err(JsonFault::InexactInteger { path: "output.body.big".into() })
    );
    assert_eq!(read("not json [[["), Ok(None));
    let deep = format!("{}{}", "[".repeat(MAX_JSON_DEPTH + 1), "]".repeat(MAX_JSON_DEPTH + 1));
    assert!(matches!(read(&deep), Err(JsonFault::TooDeep { .. })));
    let very_deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
    assert_eq!(read(&very_deep), Err(JsonFault::TooDeep { path: "output.body".into() }));
}
