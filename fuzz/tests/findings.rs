//! Inputs the fuzz targets found, kept as regression tests: queries that
//! select exponentially many values from a tiny state. The engine's cost
//! check (`weft_core::expr::cost::fan_out`) must refuse them before they
//! run, or they must stay small.

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
