//! Inputs the fuzz targets found, kept as regression tests: queries that
//! select exponentially many values from a tiny state (the engine's cost
//! check, `weft_core::expr::cost::fan_out`, must refuse them before they
//! run, or they must stay small), and text that made the JSONPath parser
//! panic.

use std::time::Instant;

// Links libFuzzer's coverage hooks under cargo bolero (see src/lib.rs).
extern crate bolero as _;

use serde_json::{Value, json};
use weft_core::expr::{parse_condition, parse_path};

/// Nested arrays `depth` deep around `1`, inside `input`.
fn nested(depth: usize) -> Value {
    let mut doc = json!(1);
    for _ in 0..depth {
        doc = json!([doc]);
    }
    json!({"input": doc})
}

/// A chain of objects `depth` deep (within MAX_JSON_DEPTH = 30).
fn chain(depth: usize) -> Value {
    let mut doc = json!(1);
    for _ in 0..depth {
        doc = json!({"a": doc});
    }
    json!({"input": doc})
}

/// The bound a fix must give: the query is refused, or selects at most
/// 100,000 values (MAX_QUERY_NODES on the JSONPath-limits branch). Adapt
/// to the fix's API (a cost check before evaluation) when it lands.
fn refused_or_small(query: &str, state: &Value) {
    let Ok(path) = parse_path(query) else { return };
    if path.check_cost(state).is_err() {
        return; // EXPRESSION_TOO_EXPENSIVE: the engine never evaluates it
    }
    let started = Instant::now();
    let n = path.query(state).len();
    eprintln!("{query}: {n} values in {:?}", started.elapsed());
    assert!(n <= 100_000, "{query} selected {n} values from a state of a few hundred bytes");
}

#[test]
fn repeated_descendant_segments_are_bounded() {
    let state = chain(28);
    for k in [2usize, 4, 6, 8, 12] {
        refused_or_small(&format!("${}", "..*".repeat(k)), &state);
    }
}

#[test]
fn duplicate_selectors_are_bounded() {
    let state = nested(10);
    for k in [2usize, 4, 6, 7, 10] {
        let query = format!("$.input{}", "[0,0,0,0,0,0,0,0]".repeat(k));
        refused_or_small(&query, &state);
        if let Ok(condition) = parse_condition(&format!("count({query}) > 0"))
            && condition.check_cost(&state).is_ok()
        {
            let started = Instant::now();
            let _ = condition.evaluate(&state);
            eprintln!("count({query}) > 0: {:?}", started.elapsed());
        }
    }
}

/// The templates target found `{{[?'\u}}`: serde_json_path 0.7 panics
/// ("we do not use streaming parsers") on text that ends inside a `\u`
/// escape of an open string literal. Every parser entry point must refuse
/// such text with an error naming the open string instead.
#[test]
fn text_ending_inside_a_unicode_escape_is_refused_not_a_panic() {
    use weft_core::expr::{ExprError, parse_template};
    let never_closed = |tail: &str, err: &ExprError| {
        assert!(matches!(err, ExprError::UnclosedString { .. }), "{tail:?}: {err:?}");
        assert!(err.to_string().contains("is never closed"), "{tail:?}: {err}");
    };
    for tail in ["'\\u", "'\\uD", "'\\ud", "'\\uD800\\u", "'\\uD800\\uD", "\"\\u", "'abc"] {
        never_closed(tail, &parse_path(&format!("$[{tail}")).unwrap_err());
        never_closed(tail, &parse_path(&format!("$[?@.a == {tail}")).unwrap_err());
        never_closed(tail, &parse_condition(&format!("@.a == {tail}")).unwrap_err());
        for template in [format!("Hi {{{{[{tail}}}}}"), format!("{{{{ a[?@ == {tail} }}}}")] {
            match parse_template(&template).unwrap_err() {
                ExprError::Placeholder { cause, .. } => never_closed(tail, &cause),
                other => panic!("{template:?}: {other:?}"),
            }
        }
    }
    // Closed strings with escapes still parse.
    assert!(parse_path("$['\\u00e9']").is_ok());
    assert!(parse_condition("@.a == 'it\\'s'").is_ok());
}
