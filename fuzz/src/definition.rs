//! The definition compiler, in every dialect.
//!
//! - [`check`]: the target, which picks one of these per input.
//! - [`compile_bytes`]: raw bytes parsed as a JSON definition, as a
//!   request's body becomes one, then compiled.
//! - [`compile_mutated`]: a seed definition ([`crate::seeds`]) edited by a
//!   recipe read from the bytes (fields set to tricky values, keys removed,
//!   subtrees copied and nested, ids rewired into cycles), so inputs get past
//!   deserialization and reach the checks, the DAG, the dialects and the
//!   planner splice. A third of these go the way a request does: the
//!   REST body of `POST /v1/workflows`, transcoded to protobuf, decoded,
//!   and converted by the API (`convert::definition_from_pb`).
//!
//! Invariants: nothing panics or overflows the stack, problems come back as
//! values, a compiled definition compiles again to itself (normalizing is
//! idempotent), and what compiles has no `validate` problems.

use serde_json::{Value, json};
use weft_core::compile::{compile, splice_plan, validate};
use weft_core::model::definition::Definition;

use crate::input::Input;
use crate::json_gen;
use crate::seeds;

/// Deepest JSON a request's definition may have by the time it reaches the
/// compiler: serde_json's own recursion limit, which every body and stored
/// document passes through.
const SERDE_DEPTH: usize = 128;

/// Most edits applied to one seed.
const MAX_EDITS: usize = 24;

/// One definition compiled. True when it compiled.
///
/// Bytes that start like JSON text are parsed as they are (the corpus is
/// written that way). Otherwise the first byte chooses: the rest as raw
/// bytes; the rest as an edit recipe for a seed's text (byte ranges cut,
/// copied elsewhere, JSON tokens spliced in); or the rest as a structural
/// recipe ([`compile_mutated`]). The recipes let random runs without
/// coverage feedback get past the JSON parser.
pub fn check(bytes: &[u8]) -> bool {
    match bytes.first() {
        Some(b'{' | b'[' | b'"' | b' ' | b'\n' | b'\t') | None => compile_bytes(bytes),
        Some(mode) => match mode % 3 {
            0 => compile_bytes(&bytes[1..]),
            1 => compile_bytes(&edited_seed_text(&mut Input::new(&bytes[1..]))),
            _ => compile_mutated(&bytes[1..]),
        },
    }
}

/// Bytes → JSON → definition → compile, as a request body becomes one.
/// True when it compiled.
pub fn compile_bytes(bytes: &[u8]) -> bool {
    let Ok(def) = serde_json::from_slice::<Definition>(bytes) else {
        return false;
    };
    check_compiled(&def)
}

/// JSON fragments spliced into a seed's text.
const SPLICES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "null",
    "0",
    "-1",
    "1e999",
    "4294967296",
    "\"\\ud800\"",
    "\"$..*\"",
    "\"steps\":[",
    "{\"id\":\"x\",\"type\":\"parallel\",\"steps\":[",
    "\"dependsOn\":[\"research\"],",
    "\"type\":\"loop\",",
    "\"config\":{",
    "\"states\":{",
    "\"next\":\"start\"",
    "true",
];

fn edited_seed_text(input: &mut Input<'_>) -> Vec<u8> {
    let all = seeds::all();
    let seed = input.pick(&all);
    let mut text = if input.one_in(2) { seed.to_string() } else { format!("{seed:#}") }.into_bytes();
    for _ in 0..input.below(9) {
        let len = text.len().max(1);
        let at = input.below(len).min(text.len());
        match input.below(3) {
            0 => {
                let end = (at + input.below(16)).min(text.len());
                text.drain(at..end);
            }
            1 => {
                let from = input.below(len).min(text.len());
                let end = (from + input.below(512)).min(text.len());
                let copy = text[from..end].to_vec();
                text.splice(at..at, copy);
            }
            _ => {
                let splice = input.pick(SPLICES).as_bytes();
                text.splice(at..at, splice.iter().copied());
            }
        }
    }
    text
}

/// A seed edited by the recipe in `bytes`, then compiled. True when it
/// compiled.
pub fn compile_mutated(bytes: &[u8]) -> bool {
    let mut input = Input::new(bytes);
    let all = seeds::all();
    let mut doc = input.pick(&all).clone();
    let edits = input.below(MAX_EDITS + 1);
    for _ in 0..edits {
        edit(&mut doc, &mut input);
    }
    // What a client sends is text: the same depth cap applies.
    let Ok(text) = serde_json::to_vec(&doc) else {
        return false;
    };
    let parsed = if input.one_in(3) {
        crate::rest::definition_via_api(&text)
    } else {
        serde_json::from_slice::<Definition>(&text).ok()
    };
    let Some(def) = parsed else {
        return false;
    };
    let compiled = check_compiled(&def);
    if compiled {
        splice(&def, &all, &mut input);
    }
    compiled
}

/// Compiles `def` and checks what must hold of the result.
fn check_compiled(def: &Definition) -> bool {
    match compile(def) {
        Ok(workflow) => {
            let problems = validate(def);
            assert!(problems.is_empty(), "compile accepted what validate refused: {problems:?}");
            let again = compile(workflow.definition())
                .unwrap_or_else(|p| panic!("a compiled definition does not compile again: {p:?}"));
            assert_eq!(again.definition(), workflow.definition(), "normalizing twice changed the definition");
            let _ = workflow.topological_order();
            true
        }
        Err(problems) => {
            assert!(!problems.is_empty(), "a definition was refused without a problem");
            false
        }
    }
}

/// A planner's output, itself an edited seed's steps, spliced after each
/// planner step of `def`.
fn splice(def: &Definition, all: &[Value], input: &mut Input<'_>) {
    let Ok(workflow) = compile(def) else { return };
    let planners: Vec<&str> = def.steps.iter().filter(|s| s.kind == "planner").map(|s| s.id.as_str()).collect();
    if planners.is_empty() {
        return;
    }
    let mut plan = input.pick(all).clone();
    for _ in 0..input.below(8) {
        edit(&mut plan, input);
    }
    let output = match input.below(4) {
        0 => json_gen::value(input, 4),
        _ => json!({"steps": plan.get("steps").cloned().unwrap_or(Value::Null)}),
    };
    let planner = *input.pick(&planners);
    if let Ok(spliced) = splice_plan(&workflow, planner, &output) {
        assert!(spliced.workflow.node(planner).is_some(), "the planner left the spliced workflow");
    }
}

/// Step and definition fields, plus a few names nothing uses.
const FIELDS: &[&str] = &[
    "id",
    "type",
    "dependsOn",
    "depends_on",
    "inputMap",
    "onStepFailure",
    "stateReads",
    "stateWrites",
    "retries",
    "timeout",
    "agent",
    "task",
    "steps",
    "expression",
    "onTrue",
    "onFalse",
    "next",
    "target",
    "duration",
    "action",
    "defaultAction",
    "message",
    "options",
    "url",
    "method",
    "headers",
    "waitForCallback",
    "body",
    "output",
    "over",
    "as",
    "concurrency",
    "step",
    "maxIterations",
    "while",
    "until",
    "event",
    "onTimeout",
    "language",
    "script",
    "config",
    "agentId",
    "goal",
    "states",
    "functions",
    "blocks",
    "edges",
    "source",
    "position",
    "inputSchema",
    "outputSchema",
    "policy",
    "onFailure",
    "name",
    "colour",
];

/// Type names, valid and not.
const TYPES: &[&str] = &[
    "agent",
    "agent_task",
    "parallel",
    "condition",
    "delay",
    "approval",
    "webhook",
    "transform",
    "map",
    "planner",
    "wait",
    "http_request",
    "script",
    "loop",
    "task",
    "succeed",
    "fail",
    "starter",
    "response",
    "",
    "lambda",
];

/// Strings that probe the expression, duration, URL and id checks.
const STRINGS: &[&str] = &[
    "$.input.items",
    "$..*",
    "$[?@.a > 1]",
    "$.score.output.score >= 70",
    "length($.input.x) > 3",
    "$",
    "$.",
    "{{ input.a }}",
    "{{",
    "}}",
    "{{ }}",
    "4h",
    "0s",
    "-1s",
    "99999999999h",
    "1d2h",
    "goto",
    "continue",
    "stop",
    "retry",
    "GET",
    "TRACE",
    "https://e.example/{{ input.p }}",
    "http://127.0.0.1/",
    "file:///etc/passwd",
    "python",
    "bash",
    "",
    " ",
    "weft:webhook",
    "a-b",
    "ü",
    "$.a[-1]",
    "$.a[9007199254740993]",
    "((((",
    "[[[[",
];

/// One edit of `doc`, chosen by `input`.
fn edit(doc: &mut Value, input: &mut Input<'_>) {
    let ids = string_values_of(doc, &["id", "source", "target", "next"]);
    let objects = count(doc, |v| v.is_object());
    let target = input.below(objects.max(1));
    match input.below(7) {
        // Set a field to a tricky value.
        0 | 1 => {
            let key = input.pick(FIELDS).to_string();
            let value = tricky(doc, &ids, input);
            with_nth(doc, target, &mut |v| {
                if let Value::Object(map) = v {
                    map.insert(key.clone(), value.clone());
                }
            });
        }
        // Remove a field.
        2 => {
            let at = input.byte();
            with_nth(doc, target, &mut |v| {
                if let Value::Object(map) = v
                    && !map.is_empty()
                {
                    let key = map.keys().nth(usize::from(at) % map.len()).cloned();
                    if let Some(key) = key {
                        map.remove(&key);
                    }
                }
            });
        }
        // Copy a subtree into an array (a duplicated step, block or edge).
        3 => {
            let copy = nth_object(doc, input.below(objects.max(1)));
            let arrays = count(doc, Value::is_array);
            with_nth_matching(doc, input.below(arrays.max(1)), Value::is_array, &mut |v| {
                if let (Value::Array(items), Some(copy)) = (v, copy.as_ref()) {
                    items.push(copy.clone());
                }
            });
        }
        // Wrap an object in a structural step, one level deeper.
        4 => {
            let kind = *input.pick(&["parallel", "loop", "map"]);
            let id = format!("w{}", input.byte());
            with_nth(doc, target, &mut |v| {
                let inner = v.take();
                *v = match kind {
                    "parallel" => json!({"id": id, "type": kind, "steps": [inner]}),
                    _ => json!({"id": id, "type": kind, "over": "$.input.items", "step": inner}),
                };
            });
        }
        // Rewire a reference: dependencies, branches and edges into cycles.
        5 => {
            let key = *input.pick(&["dependsOn", "next", "target", "source", "id"]);
            let id = if ids.is_empty() { String::new() } else { input.pick(&ids).clone() };
            with_nth(doc, target, &mut |v| {
                if let Value::Object(map) = v {
                    let value = if key == "dependsOn" { json!([id]) } else { json!(id) };
                    map.insert(key.to_string(), value);
                }
            });
        }
        // Replace a value with arbitrary JSON.
        _ => {
            let value = json_gen::value(input, 3);
            with_nth(doc, target, &mut |v| *v = value.clone());
        }
    }
    // Nesting past what a request can carry is refused by serde first.
    if depth(doc) > SERDE_DEPTH {
        *doc = json!({});
    }
}

/// A value for a field: an id of the document, a type, a tricky string or
/// number, a list of ids, or a copy of a part of the document.
fn tricky(doc: &Value, ids: &[String], input: &mut Input<'_>) -> Value {
    match input.below(8) {
        0 if !ids.is_empty() => json!(input.pick(ids)),
        1 => json!(input.pick(TYPES)),
        2 => json!(input.pick(STRINGS)),
        3 => json!(*input.pick(&[0i64, 1, -1, 5, 16, 17, 1000, 20_001, u32::MAX as i64, i64::MAX])),
        4 => Value::Array(ids.iter().filter(|_| input.one_in(2)).map(|id| json!(id)).collect()),
        5 => nth_object(doc, input.below(count(doc, Value::is_object).max(1))).unwrap_or(Value::Null),
        6 => json!(input.text(24)),
        _ => json_gen::value(input, 2),
    }
}

fn string_values_of(doc: &Value, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    visit(doc, &mut |v| {
        if let Value::Object(map) = v {
            for key in keys {
                if let Some(Value::String(s)) = map.get(*key) {
                    out.push(s.clone());
                }
            }
            // States are keyed by their names.
            if let Some(Value::Object(states)) = map.get("states") {
                out.extend(states.keys().cloned());
            }
        }
    });
    out
}

fn visit(v: &Value, f: &mut dyn FnMut(&Value)) {
    f(v);
    match v {
        Value::Array(items) => items.iter().for_each(|i| visit(i, f)),
        Value::Object(map) => map.values().for_each(|i| visit(i, f)),
        _ => {}
    }
}

fn count(v: &Value, pred: fn(&Value) -> bool) -> usize {
    let mut n = 0;
    visit(v, &mut |x| n += usize::from(pred(x)));
    n
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn nth_object(doc: &Value, n: usize) -> Option<Value> {
    let mut seen = 0;
    let mut found = None;
    visit(doc, &mut |v| {
        if v.is_object() {
            if seen == n && found.is_none() {
                found = Some(v.clone());
            }
            seen += 1;
        }
    });
    found
}

/// Applies `f` to the `n`th object of `doc` (preorder).
fn with_nth(doc: &mut Value, n: usize, f: &mut dyn FnMut(&mut Value)) {
    with_nth_matching(doc, n, Value::is_object, f);
}

fn with_nth_matching(doc: &mut Value, n: usize, pred: fn(&Value) -> bool, f: &mut dyn FnMut(&mut Value)) {
    fn go(v: &mut Value, n: usize, seen: &mut usize, pred: fn(&Value) -> bool, f: &mut dyn FnMut(&mut Value)) -> bool {
        if pred(v) {
            if *seen == n {
                f(v);
                return true;
            }
            *seen += 1;
        }
        match v {
            Value::Array(items) => items.iter_mut().any(|i| go(i, n, seen, pred, f)),
            Value::Object(map) => map.values_mut().any(|i| go(i, n, seen, pred, f)),
            _ => false,
        }
    }
    go(doc, n, &mut 0, pred, f);
}
