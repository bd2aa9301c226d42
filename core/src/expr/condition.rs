//! Condition expressions: RFC 9535 filter expressions over the run state,
//! e.g. `$.score.output.score >= 70 && length($.input.website) > 3`.
//!
//! RFC 9535 has no top-level boolean expression, but its filter selector
//! evaluates exactly this syntax: `$[?<expr>]` queried against the run state
//! selects the state's members when `<expr>` is true and nothing when it is
//! false. The run state always holds `input`, so it is never empty.

use serde_json::Value;
use serde_json_path::JsonPath;

use super::ExprError;
use super::cost::{MAX_QUERY_NODES, TooExpensive, affordable, selects_many};
use super::limits::{check_expression, excerpt};
use super::path::{quote_dashed_names, syntax_error};

/// A parsed condition, cheap to evaluate many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    source: String,
    filter: JsonPath,
}

impl Condition {
    /// True iff the expression holds for `state`. A path that matches nothing
    /// compares false; a bare path (`$.input.flag`) tests that the value
    /// exists, not that it is `true` (write `$.input.flag == true` for that).
    /// `state` must be a non-empty object, as the run state always is.
    pub fn evaluate(&self, state: &Value) -> bool {
        !self.filter.query(state).is_empty()
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Refuses the condition on `state` when it would visit more than
    /// [`MAX_QUERY_NODES`] values. The filter runs once per member of the
    /// state, and each run repeats every query inside it, so a condition
    /// with a query that selects many values (`count($..*) > 3`) costs the
    /// state's size times its members; one of plain paths costs nothing.
    pub fn check_cost(&self, state: &Value) -> Result<(), TooExpensive> {
        if !selects_many(&self.source) {
            return Ok(());
        }
        let members = state.as_object().map_or(1, serde_json::Map::len);
        if affordable(state, members, &self.source) {
            Ok(())
        } else {
            Err(TooExpensive { what: "condition", text: excerpt(&self.source), max: MAX_QUERY_NODES })
        }
    }
}

/// Parses a condition expression (the body of an RFC 9535 filter, without
/// `$[?` and `]`).
///
/// Fails with [`ExprError::TooLong`] or [`ExprError::TooDeep`] before parsing
/// when the text exceeds the caps, and [`ExprError::Syntax`] when it is empty
/// or not a valid filter expression.
pub fn parse_condition(src: &str) -> Result<Condition, ExprError> {
    check_expression("condition", src)?;
    let body = src.trim();
    if body.is_empty() {
        return Err(ExprError::Syntax {
            what: "condition",
            text: String::new(),
            reason: "the expression is empty".to_owned(),
        });
    }
    let query = format!("$[?{}]", quote_dashed_names(body));
    let filter = JsonPath::parse(&query).map_err(|e| syntax_error("condition", src, &e, 3))?;
    Ok(Condition { source: src.to_owned(), filter })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn state() -> Value {
        json!({
            "input": {"website": "https://acme.com", "company": "Acme"},
            "score": {"output": {"score": 82}},
            "score-news": {"output": [0.5, 0.9]},
            "state": {"campaign": "q2"},
        })
    }

    fn holds(src: &str) -> bool {
        parse_condition(src).expect("condition parses").evaluate(&state())
    }

    #[test]
    fn condition_evaluates_documented_syntax() {
        assert!(holds("$.score.output.score >= 70"));
        assert!(!holds("$.score.output.score >= 90"));
        assert!(holds("$.score.output.score >= 70 && length($.input.website) > 3"));
        assert!(holds("$.score.output.score > 90 || $.state.campaign == 'q2'"));
        assert!(holds("!($.score.output.score < 70)"));
        assert!(holds("match($.input.website, 'https://.*')"));
        assert!(holds("search($.input.company, 'cm')"));
        assert!(holds("$.score-news.output[1] > 0.8"));
        assert!(holds("$.input.company"), "a bare path tests existence");
    }

    #[test]
    fn missing_paths_compare_false() {
        assert!(!holds("$.nothing.here >= 70"));
        assert!(!holds("$.nothing.here == 'x'"));
        assert!(!holds("$.nothing"));
    }

    #[test]
    fn invalid_expressions_are_refused_with_their_text() {
        for bad in ["", "   ", "$.a >=", "$.a[*] > 1", "true", "$.a = 1"] {
            let err = parse_condition(bad).expect_err(bad);
            assert!(matches!(err, ExprError::Syntax { .. }), "{bad}: {err}");
        }
        let msg = parse_condition("$.a >=").expect_err("dangling operator").to_string();
        assert!(msg.contains("`$.a >=`"), "{msg}");
    }

    #[test]
    fn deeply_nested_expression_is_a_clean_error() {
        let deep = format!("{}$.a == 1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(parse_condition(&deep), Err(ExprError::TooLong { .. })));
        let deep = format!("{}$.a == 1{}", "(".repeat(1_000), ")".repeat(1_000));
        assert!(matches!(parse_condition(&deep), Err(ExprError::TooDeep { .. })));
        let nested_filters = format!("{}{}", "$[?@".repeat(500), "]".repeat(500));
        assert!(matches!(parse_condition(&nested_filters), Err(ExprError::TooDeep { .. })));
    }

    #[test]
    fn expression_at_the_nesting_cap_parses_on_a_small_stack() {
        let at_cap = format!("{}$.score.output.score > 1{}", "(".repeat(63), ")".repeat(63));
        let worker = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || parse_condition(&at_cap).map(|c| c.evaluate(&state())));
        let outcome = worker.expect("thread starts").join().expect("no stack overflow");
        assert_eq!(outcome, Ok(true));
    }

    #[test]
    fn conditions_over_many_values_are_bounded_by_state_size_times_members() {
        use crate::expr::MAX_QUERY_NODES;
        let big = Value::Array(vec![json!(1); MAX_QUERY_NODES / 2]);
        let doc = json!({"input": {"items": big}, "state": {}});
        let parse = |src: &str| parse_condition(src).unwrap();
        let refused = parse("count($..*) > 3").check_cost(&doc).unwrap_err();
        assert!(refused.to_string().starts_with("condition `count($..*) > 3` would visit more than"), "{refused}");
        assert!(parse("$.input.flag == true").check_cost(&doc).is_ok(), "plain paths cost nothing");
        let small = json!({"input": {"items": [1, 2]}, "state": {}});
        assert!(parse("count($..*) > 3").check_cost(&small).is_ok());
    }
}
