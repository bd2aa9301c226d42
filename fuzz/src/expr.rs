//! Conditions and JSONPath queries: text built from a dictionary of JSONPath
//! tokens (or raw bytes, or a token repeated hundreds of times to probe the
//! nesting caps), parsed, then evaluated against an arbitrary run state.
//!
//! Invariants: nothing panics or overflows the stack; `first` is the first
//! of `query`; a singular path selects at most one value; and for text
//! without `-` (which Weft reads more leniently than RFC 9535), Weft's
//! parser accepts exactly what serde_json_path accepts (within the caps)
//! and selects the same values: the fast path for plain name/index chains
//! must agree with the general parser.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use serde_json_path::JsonPath;
use weft_core::expr::{ExprError, parse_condition, parse_path};

use crate::input::Input;
use crate::json_gen;

/// Tokens of RFC 9535 queries and filters, and some that are not.
pub const TOKENS: &[&str] = &[
    "$",
    "@",
    ".",
    "..",
    "*",
    "[",
    "]",
    "[?",
    "(",
    ")",
    "?",
    ",",
    ":",
    "'",
    "\"",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&&",
    "||",
    "!",
    " ",
    "length(",
    "count(",
    "match(",
    "search(",
    "value(",
    "input",
    "output",
    "score",
    "state",
    "items",
    "title",
    "a",
    "b",
    "_x",
    "-",
    "score-news",
    "0",
    "1",
    "-1",
    "-0",
    "01",
    "70",
    "3.5",
    "1e3",
    "9007199254740993",
    "true",
    "false",
    "null",
    "'x'",
    "'https://.*'",
    "'[a-z]+'",
    "'\\u0041'",
    "\\",
    "\\u",
    "'é'",
    "é",
    "$.input",
    "$.score.output.score",
    "@.a",
    "[0]",
    "[-1]",
    "[1:3]",
    "[::-1]",
    "[0:10:0]",
    "['a']",
    "[\"a\"]",
    "[*]",
    "..*",
    "..[0]",
    "{",
    "}",
    "\t",
    "\n",
    "$[0,0]",
    ".input",
    "[?@]",
    "[?!@.a]",
];

/// Expression text from `input`: mostly a query or filter from the
/// RFC 9535 grammar (then sometimes damaged), else tokens, raw bytes, or a
/// repeated token.
pub fn text(input: &mut Input<'_>) -> String {
    match input.below(12) {
        0 => input.text(64),
        1 => {
            let token = *input.pick(TOKENS);
            let times = input.below(700);
            let mut out = String::from("$");
            for _ in 0..times {
                out.push_str(token);
            }
            out.push_str(&tokens(input, 8));
            out
        }
        2 => tokens(input, 40),
        3..=6 => damaged(query(input, 4), input),
        _ => damaged(filter(input, 4), input),
    }
}

/// Up to `max` tokens, with the odd raw character between them.
fn tokens(input: &mut Input<'_>, max: usize) -> String {
    let mut out = String::new();
    for _ in 0..input.below(max + 1) {
        if input.one_in(16) {
            out.push(char::from(input.byte()));
        } else {
            out.push_str(input.word(TOKENS));
        }
    }
    out
}

/// `text` with, one time in four, a token inserted or a byte dropped.
fn damaged(mut text: String, input: &mut Input<'_>) -> String {
    if text.is_empty() || !input.one_in(4) {
        return text;
    }
    let mut at = input.below(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    if input.one_in(2) {
        text.insert_str(at, input.word(TOKENS));
    } else {
        text.remove(at);
    }
    text
}

/// Member names: plain, dashed, quoted-only and escaped.
const NAMES: &[&str] = &["input", "output", "score", "a", "b", "items", "title", "state", "score-news", "_x", "é"];

/// A query from the root: `$` and up to a few segments.
pub fn query(input: &mut Input<'_>, depth: usize) -> String {
    let mut out = String::from("$");
    segments(&mut out, input, depth);
    out
}

fn segments(out: &mut String, input: &mut Input<'_>, depth: usize) {
    for _ in 0..input.below(6) {
        let descend = input.one_in(5);
        match input.below(4) {
            0 => {
                out.push_str(if descend { ".." } else { "." });
                out.push_str(input.word(NAMES));
            }
            1 => out.push_str(if descend { "..*" } else { ".*" }),
            _ => {
                out.push_str(if descend { "..[" } else { "[" });
                for k in 0..=input.below(3) {
                    if k > 0 {
                        out.push(',');
                    }
                    selector(out, input, depth);
                }
                out.push(']');
            }
        }
    }
}

fn selector(out: &mut String, input: &mut Input<'_>, depth: usize) {
    match input.below(6) {
        0 => {
            out.push('\'');
            out.push_str(input.word(NAMES));
            out.push('\'');
        }
        1 => out.push_str(&(i64::from(input.byte()) - 128).to_string()),
        2 => out.push('*'),
        3 => {
            let ends = ["", "0", "1", "-1", "2", "9007199254740991"];
            out.push_str(input.word(&ends));
            out.push(':');
            out.push_str(input.word(&ends));
            if input.one_in(2) {
                out.push(':');
                out.push_str(input.word(&["", "1", "-1", "2", "0"]));
            }
        }
        4 => out.push_str(&(input.u64() as i64).to_string()),
        _ if depth > 0 => {
            out.push('?');
            out.push_str(&filter(input, depth - 1));
        }
        _ => out.push('0'),
    }
}

/// A filter expression (a condition's whole text).
pub fn filter(input: &mut Input<'_>, depth: usize) -> String {
    match input.below(if depth == 0 { 2 } else { 5 }) {
        0 => {
            let op = *input.pick(&["==", "!=", "<", "<=", ">", ">="]);
            format!("{} {op} {}", comparable(input, depth), comparable(input, depth))
        }
        1 => {
            let not = if input.one_in(3) { "!" } else { "" };
            format!("{not}{}", relative_or_root(input, depth))
        }
        2 => format!("{} && {}", filter(input, depth - 1), filter(input, depth - 1)),
        3 => format!("{} || {}", filter(input, depth - 1), filter(input, depth - 1)),
        _ => {
            let not = if input.one_in(2) { "!" } else { "" };
            format!("{not}({})", filter(input, depth - 1))
        }
    }
}

fn relative_or_root(input: &mut Input<'_>, depth: usize) -> String {
    if input.one_in(2) {
        let mut out = String::from("@");
        segments(&mut out, input, depth.saturating_sub(1));
        out
    } else {
        query(input, depth.saturating_sub(1))
    }
}

fn comparable(input: &mut Input<'_>, depth: usize) -> String {
    match input.below(6) {
        0 => input.pick(&["70", "-1", "3.5", "1e3", "0", "true", "false", "null", "'x'", "'Acme'", "\"\""]).to_string(),
        1 | 2 => relative_or_root(input, depth),
        3 => format!("length({})", relative_or_root(input, depth)),
        4 => format!("count({})", relative_or_root(input, depth)),
        _ => {
            let f = *input.pick(&["match", "search"]);
            let re = *input.pick(&["'https://.*'", "'[a-z]+'", "'(a|b)*c'", "'\\\\d{3}'", "'['", "'.*.*.*.*x'"]);
            format!("{f}({}, {re})", relative_or_root(input, depth))
        }
    }
}

/// One condition and one JSONPath query against one state. True when
/// either parsed.
pub fn check(bytes: &[u8]) -> bool {
    let (source, state) = match crate::input::written(bytes) {
        Some(written) => written,
        None => {
            let mut input = Input::new(bytes);
            (text(&mut input), json_gen::state(&mut input))
        }
    };
    let condition = parse_condition(&source);
    let path = parse_path(&source);
    // What the engine does before evaluating: refuse what is over the cost
    // limit (EXPRESSION_TOO_EXPENSIVE). What passes must finish quickly.
    let evaluate = condition.as_ref().map_or(true, |c| c.check_cost(&state).is_ok())
        && path.as_ref().map_or(true, |p| p.check_cost(&state).is_ok());
    if !evaluate {
        OVER_BUDGET.fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(condition) = &condition
        && evaluate
    {
        let _ = condition.evaluate(&state);
    }
    if let Ok(path) = &path
        && evaluate
    {
        let all = path.query(&state);
        assert_eq!(path.first(&state), all.first().copied(), "first is not the first of query for {source:?}");
        if path.is_singular() {
            assert!(all.len() <= 1, "singular path {source:?} selected {} values", all.len());
        }
    }
    if evaluate {
        agrees_with_serde_json_path(&source, &path, &state);
    }
    condition.is_ok() || path.is_ok()
}

/// Evaluations the engine's cost check refused so far (they would fail
/// their step with EXPRESSION_TOO_EXPENSIVE).
pub static OVER_BUDGET: AtomicU64 = AtomicU64::new(0);

/// Weft's query parser against serde_json_path's on the same text.
fn agrees_with_serde_json_path(source: &str, ours: &Result<weft_core::expr::Path, ExprError>, state: &Value) {
    // `-` in names is Weft's leniency; whitespace around the query is
    // trimmed by Weft and refused by RFC 9535.
    if source.contains('-') {
        return;
    }
    let trimmed = source.trim();
    // serde_json_path recurses per bracket level: beyond Weft's cap it may
    // overflow the stack, which is why the cap exists. It panics on text
    // ending inside a `\u` escape, which is why open strings are refused.
    if let Err(ExprError::TooLong { .. } | ExprError::TooDeep { .. } | ExprError::UnclosedString { .. }) = ours {
        return;
    }
    let theirs = JsonPath::parse(trimmed);
    match (ours, &theirs) {
        (Ok(path), Ok(reference)) => {
            let mine = path.query(state);
            let expected = reference.query(state).all();
            assert_eq!(mine, expected, "{source:?} selects differently from serde_json_path");
        }
        (Ok(_), Err(e)) => panic!("{source:?} is accepted by Weft but not by serde_json_path: {e}"),
        (Err(e), Ok(_)) => panic!("{source:?} is refused by Weft ({e}) but accepted by serde_json_path"),
        (Err(_), Err(_)) => {}
    }
}
