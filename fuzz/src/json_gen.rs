//! Arbitrary JSON documents from fuzzer bytes: the run states conditions,
//! paths and templates are evaluated against, and values dropped into
//! definitions. Names come mostly from a small dictionary, so queries written
//! with the same names actually select something.

use serde_json::{Map, Number, Value, json};

use crate::input::Input;

/// Object keys the expression dictionaries also use.
pub const KEYS: &[&str] = &[
    "input",
    "output",
    "score",
    "state",
    "items",
    "title",
    "a",
    "b",
    "0",
    "score-news",
    "",
    "name",
    "website",
    "company",
    "x y",
    "é",
    "$",
    "@",
    "'",
    "\"",
];

/// Values that sit on the edges of numeric handling.
const NUMBERS: &[f64] = &[0.0, -0.0, 1.0, -1.0, 70.0, 3.5, 1e300, -1e300, 9007199254740993.0, 4294967296.0, 0.1];

/// Widest array or object generated at one level.
const MAX_WIDTH: usize = 6;

/// A JSON value at most `depth` levels deep.
pub fn value(input: &mut Input<'_>, depth: usize) -> Value {
    let choices = if depth == 0 { 5 } else { 8 };
    match input.below(choices) {
        0 => Value::Null,
        1 => Value::Bool(input.byte() & 1 == 1),
        2 => match input.below(3) {
            0 => json!(input.u64() as i64),
            1 => json!(i64::from(input.byte()) - 8),
            _ => Number::from_f64(*input.pick(NUMBERS)).map_or(Value::Null, Value::Number),
        },
        3 => Value::String(input.pick(KEYS).to_string()),
        4 => Value::String(input.text(12)),
        5 | 6 => {
            let width = input.below(MAX_WIDTH + 1);
            let mut map = Map::new();
            for _ in 0..width {
                let key = if input.one_in(4) { input.text(6) } else { input.pick(KEYS).to_string() };
                map.insert(key, value(input, depth - 1));
            }
            Value::Object(map)
        }
        _ => {
            let width = input.below(MAX_WIDTH + 1);
            Value::Array((0..width).map(|_| value(input, depth - 1)).collect())
        }
    }
}

/// A run state: an object with `input` and a few step outputs, as the
/// engine builds it, or (rarely) any JSON at all, or a deep chain of
/// nesting that stresses recursive evaluation.
pub fn state(input: &mut Input<'_>) -> Value {
    match input.below(8) {
        0 => value(input, 6),
        1 => {
            let depth = input.below(200);
            let mut doc = json!({"a": 1});
            for i in 0..depth {
                doc = if i % 2 == 0 { json!([doc, 0]) } else { json!({"a": doc, "items": [i]}) };
            }
            json!({"input": doc})
        }
        _ => {
            let mut map = Map::new();
            map.insert("input".into(), value(input, 5));
            for _ in 0..input.below(4) {
                let key = input.pick(KEYS).to_string();
                map.insert(key, json!({"output": value(input, 4)}));
            }
            Value::Object(map)
        }
    }
}
