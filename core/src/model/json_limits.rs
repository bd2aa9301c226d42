//! The limits every free-form JSON value Weft keeps must meet: how deep it
//! may nest ([`MAX_JSON_DEPTH`]) and, for JSON that comes from the network
//! as text, that no integer is beyond what a double holds exactly. Each
//! check answers the path of the first offending spot (`input.a.b[3]`), so
//! a client's error or a step's failure can name it.
//!
//! # Why the depth limit is 30
//!
//! Stored values travel as `google.protobuf.Value`, and every decoder of
//! the API (prost, C++, Java, Python's upb) refuses a message nested more
//! than 100 levels. In generated code each JSON object costs three levels
//! (`Value` → `Struct` → map entry → `Value`), each array two (`Value` →
//! `ListValue` → `Value`), and a value of depth `d` ends in a scalar `Value`:
//! `1 + 3d` levels at most. The deepest place a stored value is sent is
//! three messages down (`ListRunEventsResponse` → `RunEvent` → `data`
//! `Struct` → map entry for `arguments`; `PollTaskResponse` → `Task` →
//! `input`/`state` `Struct` → map entry), so a value of depth `d` needs
//! `4 + 3d` levels. At 32 that is exactly 100, with no room left, and a run
//! output made of several steps' outputs (one more object) would pass it.
//! At 30 it is 94: one more object level still fits, at 97. That level is
//! used: the engine keeps accepted values under keys (a run output keyed by
//! step id, shared state and event data keyed by name), so reads send
//! stored values up to [`MAX_STORED_DEPTH`]. The test
//! `a_value_at_the_limit_decodes_in_the_deepest_messages` checks this with
//! prost itself.

use std::fmt;

use serde_json::Value;

/// Deepest nesting of arrays and objects in a JSON value: a scalar is 0,
/// `[1]` and `{"a": 1}` are 1, `{"a": [1]}` is 2.
pub const MAX_JSON_DEPTH: usize = 30;

/// Largest magnitude of an integer a double holds exactly (2^53).
/// `google.protobuf.Value` carries numbers as doubles, so a larger integer
/// would silently come back as a neighbour.
pub const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Why a JSON value cannot be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonFault {
    /// Nested deeper than [`MAX_JSON_DEPTH`]; `path` is the first spot one
    /// level too deep (the root when the text was too deep even to parse).
    TooDeep {
        /// Where, e.g. `input.a.b`.
        path: String,
    },
    /// An integer beyond ±2^53, which would silently change.
    InexactInteger {
        /// Where, e.g. `output.body.id`.
        path: String,
    },
}

impl JsonFault {
    /// The path named.
    pub fn path(&self) -> &str {
        match self {
            Self::TooDeep { path } | Self::InexactInteger { path } => path,
        }
    }

    /// What is wrong, without the path (a field violation's description).
    pub fn description(&self) -> String {
        match self {
            Self::TooDeep { .. } => format!(
                "is nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects (nesting depth {} > \
                 {MAX_JSON_DEPTH})",
                MAX_JSON_DEPTH + 1
            ),
            Self::InexactInteger { .. } => format!(
                "is an integer beyond ±2^53 ({MAX_EXACT_INTEGER}), which JSON numbers in Weft cannot keep exactly; \
                 send it as a string"
            ),
        }
    }
}

impl fmt::Display for JsonFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.path(), self.description())
    }
}

/// How deep `value` nests (see [`MAX_JSON_DEPTH`]).
pub fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Refuses `value`, named `root`, when it nests deeper than
/// [`MAX_JSON_DEPTH`], naming the first spot (depth-first, in order) one
/// level too deep.
pub fn check_depth(value: &Value, root: &str) -> Result<(), JsonFault> {
    check_depth_at_most(value, root, MAX_JSON_DEPTH)
}

/// Deepest a stored value can be sent as: one level past
/// [`MAX_JSON_DEPTH`], because the engine gathers accepted values under
/// keys (a run output keyed by step id, shared state and event data keyed
/// by name). The margin above is what makes this level fit.
pub const MAX_STORED_DEPTH: usize = MAX_JSON_DEPTH + 1;

/// Refuses a stored `value` deeper than [`MAX_STORED_DEPTH`], which no
/// client could decode: such a value was kept before the limit existed.
pub fn check_stored_depth(value: &Value, root: &str) -> Result<(), JsonFault> {
    check_depth_at_most(value, root, MAX_STORED_DEPTH)
}

fn check_depth_at_most(value: &Value, root: &str, max: usize) -> Result<(), JsonFault> {
    match too_deep_at(value, 1, max) {
        None => Ok(()),
        Some(mut segments) => {
            segments.reverse();
            Err(JsonFault::TooDeep { path: format!("{root}{}", segments.concat()) })
        }
    }
}

/// Path segments (innermost first) to the first container at depth
/// `max + 1`, when `value` sits at depth `level` if a container.
/// Recursion stops one level past `max`, so it is bounded.
fn too_deep_at(value: &Value, level: usize, max: usize) -> Option<Vec<String>> {
    let children: Box<dyn Iterator<Item = (String, &Value)>> = match value {
        Value::Array(items) => Box::new(items.iter().enumerate().map(|(i, v)| (format!("[{i}]"), v))),
        Value::Object(map) => Box::new(map.iter().map(|(k, v)| (segment(k), v))),
        _ => return None,
    };
    if level > max {
        return Some(Vec::new());
    }
    for (name, child) in children {
        if let Some(mut path) = too_deep_at(child, level + 1, max) {
            path.push(name);
            return Some(path);
        }
    }
    None
}

/// `.key` for a plain key, `["key"]` (JSON-quoted) for any other.
fn segment(key: &str) -> String {
    let plain = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { format!(".{key}") } else { format!("[{}]", Value::String(key.to_owned())) }
}

/// The first integer in `value` beyond ±2^53: a 64-bit integer, or a whole
/// double (what serde_json makes of an integer literal past 64 bits).
fn check_integers(value: &Value, root: &str) -> Result<(), JsonFault> {
    fn find(value: &Value, path: &mut Vec<String>) -> bool {
        match value {
            Value::Number(n) => {
                let beyond = |m: u64| m > MAX_EXACT_INTEGER;
                match (n.as_u64(), n.as_i64(), n.as_f64()) {
                    (Some(u), _, _) => beyond(u),
                    (None, Some(i), _) => beyond(i.unsigned_abs()),
                    (None, None, Some(f)) => f.fract() == 0.0 && f.abs() > MAX_EXACT_INTEGER as f64,
                    (None, None, None) => false,
                }
            }
            Value::Array(items) => items.iter().enumerate().any(|(i, v)| {
                path.push(format!("[{i}]"));
                find(v, path) || {
                    path.pop();
                    false
                }
            }),
            Value::Object(map) => map.iter().any(|(k, v)| {
                path.push(segment(k));
                find(v, path) || {
                    path.pop();
                    false
                }
            }),
            _ => false,
        }
    }
    let mut path = Vec::new();
    if find(value, &mut path) {
        Err(JsonFault::InexactInteger { path: format!("{root}{}", path.concat()) })
    } else {
        Ok(())
    }
}

/// True when `text` holds an integer literal (no fraction, no exponent)
/// beyond ±2^53 outside strings. Text this is asked about has parsed as
/// JSON, so a plain scan of its tokens suffices.
fn has_long_integer_literal(text: &[u8]) -> bool {
    let (mut i, mut in_string, mut escaped) = (0usize, false, false);
    while i < text.len() {
        let b = text[i];
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len() && matches!(text[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                let token = &text[start..i];
                if !token.iter().any(|c| matches!(c, b'.' | b'e' | b'E')) {
                    let digits = token.strip_prefix(b"-").unwrap_or(token);
                    // 2^53 has 16 digits; anything longer (leading zeros are not JSON) is beyond it.
                    let beyond = digits.len() > 16
                        || std::str::from_utf8(digits)
                            .ok()
                            .and_then(|d| d.parse::<u64>().ok())
                            .is_some_and(|n| n > MAX_EXACT_INTEGER);
                    if beyond {
                        return true;
                    }
                }
            }
            _ => i += 1,
        }
    }
    false
}

/// Reads JSON text that came from the network (a response or callback
/// body), named `root` in messages. `Ok(None)` when it is not JSON at all;
/// an error when it is JSON Weft would not keep unchanged: nested deeper
/// than [`MAX_JSON_DEPTH`] (including too deep to parse), or holding an
/// integer beyond ±2^53. Such integers are refused rather than rounded, so
/// no number ever changes silently; senders should write them as strings.
pub fn parse_network(text: &[u8], root: &str) -> Result<Option<Value>, JsonFault> {
    let value: Value = match serde_json::from_slice(text) {
        Ok(value) => value,
        // serde_json stops at 128 levels; that is far past the limit.
        Err(err) if err.to_string().starts_with("recursion limit exceeded") => {
            return Err(JsonFault::TooDeep { path: root.to_owned() });
        }
        Err(_) => return Ok(None),
    };
    check_depth(&value, root)?;
    // Only integer literals count: a double written as 6.02e23 is kept as
    // the double it is, while 9007199254740993 would come back changed.
    if has_long_integer_literal(text) {
        check_integers(&value, root)?;
        // Every such literal parses to a number check_integers flags; name
        // the body itself should that ever not hold.
        return Err(JsonFault::InexactInteger { path: root.to_owned() });
    }
    Ok(Some(value))
}
