//! `{{ }}` templates: text built from literal pieces, braces and JSONPath
//! tokens, parsed, then rendered against an arbitrary run state.
//!
//! Invariants: nothing panics; a template without placeholders renders as
//! itself; rendered against an empty object, no placeholder renders longer
//! than it is written (only `$` selects anything: `{}`), so the output is
//! at most the source's length; against any state the output is bounded by
//! the source plus each placeholder's selected values, serialized.

use serde_json::{Value, json};
use weft_core::expr::parse_template;

use crate::expr;
use crate::input::Input;
use crate::json_gen;

/// Literal pieces and braces.
const PIECES: &[&str] = &["{{", "}}", "{", "}", " ", "Hello ", "\n", "é", "{{ ", " }}", "{{{", "}}}", "\\{{", "\0"];

/// Template text from `input`.
pub fn text(input: &mut Input<'_>) -> String {
    if input.one_in(8) {
        return input.text(128);
    }
    let mut out = String::new();
    for _ in 0..input.below(24) {
        match input.below(4) {
            0 => out.push_str(input.word(PIECES)),
            1 => {
                out.push_str("{{ ");
                out.push_str(&expr::text(input));
                out.push_str(" }}");
            }
            _ => {
                out.push_str("{{");
                for _ in 0..input.below(4) {
                    out.push_str(input.word(expr::TOKENS));
                }
                out.push_str("}}");
            }
        }
    }
    out
}

/// One template rendered against one state. True when it parsed.
pub fn check(bytes: &[u8]) -> bool {
    let (source, state) = match crate::input::written(bytes) {
        Some(written) => written,
        None => {
            let mut input = Input::new(bytes);
            (text(&mut input), json_gen::state(&mut input))
        }
    };
    let Ok(template) = parse_template(&source) else {
        return false;
    };
    if template.check_cost(&state).is_err() {
        expr::OVER_BUDGET.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return true;
    }
    let rendered = template.render(&state);
    if template.is_literal() {
        assert_eq!(rendered, source, "a template without placeholders changed");
    }
    let empty = template.render(&json!({}));
    assert!(empty.len() <= source.len(), "{source:?} rendered longer than written against {{}}: {empty:?}");
    let bound: usize = source.len()
        + template
            .paths()
            .map(|path| {
                let selected = path.query(&state);
                selected.iter().map(|v| serialized_len(v)).sum::<usize>() + selected.len() + 1
            })
            .sum::<usize>();
    assert!(rendered.len() <= bound, "{source:?} rendered {} bytes, over its bound {bound}", rendered.len());
    true
}

/// The JSON length of `value`: at least what a placeholder writes for it
/// (a string raw, or quoted and escaped inside an array).
fn serialized_len(value: &Value) -> usize {
    value.to_string().len()
}
