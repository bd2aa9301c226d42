//! What a query may cost at run time. serde_json_path evaluates a query to
//! the end once started, so the bound is checked before: a query that is
//! not a plain chain of names and indexes (`$..*`, `$.items[*]`, a filter)
//! is refused when the part of the run state it can visit holds more than
//! [`MAX_QUERY_NODES`] JSON values. Counting stops just past the limit, so
//! the check itself costs at most that many steps, and it reads only the
//! document, never a clock: a replayed run decides the same way.

use serde_json::Value;

/// Most JSON values one query may visit: a step's expressions over a bigger
/// part of the run state fail the step with `EXPRESSION_TOO_EXPENSIVE`.
/// 100,000 values is a few milliseconds of work; a 4 MiB input of small
/// numbers holds two million.
pub const MAX_QUERY_NODES: usize = 100_000;

/// A query refused for what it would visit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{what} `{text}` would visit more than {max} JSON values of the run state, \
     the limit on one query (MAX_QUERY_NODES = {max}); select a smaller part of the state first"
)]
pub struct TooExpensive {
    /// "JSONPath", "condition" or "template".
    pub what: &'static str,
    /// The expression, shortened.
    pub text: String,
    /// The limit.
    pub max: usize,
}

/// The number of JSON values in `value`, itself included, counting no
/// further than `cap + 1`. Iterative: documents are at most 30 levels deep,
/// but the count must never be what overflows a stack.
pub fn count_nodes(value: &Value, cap: usize) -> usize {
    let mut count = 0usize;
    let mut stack: Vec<&Value> = vec![value];
    while let Some(value) = stack.pop() {
        count += 1;
        if count > cap {
            return count;
        }
        match value {
            Value::Array(items) => stack.extend(items.iter()),
            Value::Object(map) => stack.extend(map.values()),
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
    count
}

/// Whether `src` holds a selector that can select many values: a
/// descendant segment (`..`), a wildcard, a filter, a slice or a union
/// (`,` or `:` inside brackets). String literals are skipped.
pub fn selects_many(src: &str) -> bool {
    let (mut brackets, mut quote, mut escaped, mut previous) = (0usize, None::<u8>, false, 0u8);
    for &b in src.as_bytes() {
        if let Some(q) = quote {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                _ if b == q => quote = None,
                _ => {}
            }
            continue;
        }
        match b {
            b'\'' | b'"' => quote = Some(b),
            b'*' | b'?' => return true,
            b'.' if previous == b'.' => return true,
            b',' | b':' if brackets > 0 => return true,
            b'[' => brackets += 1,
            b']' => brackets = brackets.saturating_sub(1),
            _ => {}
        }
        previous = b;
    }
    false
}

/// Where `src` first names the root `$` outside string literals.
pub fn root_at(src: &str) -> Option<usize> {
    let (mut quote, mut escaped) = (None::<u8>, false);
    for (at, &b) in src.as_bytes().iter().enumerate() {
        if let Some(q) = quote {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                _ if b == q => quote = None,
                _ => {}
            }
            continue;
        }
        match b {
            b'\'' | b'"' => quote = Some(b),
            b'$' => return Some(at),
            _ => {}
        }
    }
    None
}

/// Whether visiting `scope` `times` times stays within the limit.
pub fn affordable(scope: &Value, times: usize) -> bool {
    let nodes = count_nodes(scope, MAX_QUERY_NODES);
    nodes.saturating_mul(times.max(1)) <= MAX_QUERY_NODES
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn counting_stops_just_past_the_cap() {
        assert_eq!(count_nodes(&json!({"a": [1, 2, {"b": null}]}), 100), 6);
        let big = Value::Array(vec![json!(1); 1000]);
        assert_eq!(count_nodes(&big, 10), 11);
        assert_eq!(count_nodes(&big, 5000), 1001);
    }

    #[test]
    fn many_value_selectors_are_found_outside_string_literals() {
        for many in ["$..*", "$.a.*", "$.a[*]", "$.a[?@.b]", "$.a[0:2]", "$.a['x','y']", "$..b", "count($..x) > 1"] {
            assert!(selects_many(many), "{many}");
        }
        for one in ["$.a.b[0]", "$['a.b'].c", "$.a == '*..?'", "match($.a, 'x:y')", "$.a[-1]"] {
            assert!(!selects_many(one), "{one}");
        }
        assert_eq!((root_at("[?@ == $.a]"), root_at("[?@ == '$']")), (Some(7), None));
    }

    #[test]
    fn the_limit_is_on_values_visited_times_repeats() {
        let at_limit = Value::Array(vec![json!(1); MAX_QUERY_NODES - 1]);
        assert!(affordable(&at_limit, 1));
        assert!(!affordable(&at_limit, 2));
        let over = Value::Array(vec![json!(1); MAX_QUERY_NODES]);
        assert!(!affordable(&over, 1));
    }
}
