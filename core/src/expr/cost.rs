//! What a query may cost at run time. serde_json_path evaluates a query to
//! the end once started, so the bound is checked before: a query that is
//! not a plain chain of names and indexes (`$..*`, `$.items[*]`, a filter)
//! is refused when what it can visit exceeds [`MAX_QUERY_NODES`] JSON
//! values. Counting stops just past the limit, so the check itself costs at
//! most that many steps, and it reads only the document, never a clock: a
//! replayed run decides the same way.
//!
//! What a query visits is not only the size of the state: each selector
//! runs once per value the segments before it selected, duplicates
//! included, so a small state can still cost billions (`$..*..*..*…`, or
//! `[0,0,0,0][0,0,0,0]…`, found by fuzzing). [`fan_out`] bounds that from
//! the query's text: a union of m selectors multiplies by m, and every
//! descendant segment after the first by the size of the state (a value is
//! reached once per selected ancestor).

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
    let (mut brackets, mut previous) = (0usize, 0u8);
    for (_, b) in unquoted(src) {
        match b {
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
    unquoted(src).find(|&(_, b)| b == b'$').map(|(at, _)| at)
}

/// The bytes of `src` (with their offsets) outside string literals (`'…'`
/// and `"…"`, with backslash escapes); the quotes themselves are left out.
pub(crate) fn unquoted(src: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut quotes = Quotes::default();
    src.bytes().enumerate().filter(move |&(at, b)| quotes.outside(at, b))
}

/// Where the string literal still open at the end of `src` starts (the
/// byte offset of its quote), if one is.
pub(crate) fn open_string_at_end(src: &str) -> Option<usize> {
    let mut quotes = Quotes::default();
    src.bytes().enumerate().for_each(|(at, b)| {
        quotes.outside(at, b);
    });
    quotes.open.map(|(at, _)| at)
}

/// Whether a scan is inside a string literal: the open quote's offset and
/// byte, and whether the previous byte was an unescaped backslash.
#[derive(Default)]
struct Quotes {
    open: Option<(usize, u8)>,
    escaped: bool,
}

impl Quotes {
    /// Feeds byte `b` at offset `at`; true when it lies outside string
    /// literals and is not a quote.
    fn outside(&mut self, at: usize, b: u8) -> bool {
        if let Some((_, q)) = self.open {
            match b {
                _ if self.escaped => self.escaped = false,
                b'\\' => self.escaped = true,
                _ if b == q => self.open = None,
                _ => {}
            }
            return false;
        }
        if b == b'\'' || b == b'"' {
            self.open = Some((at, b));
            return false;
        }
        true
    }
}

/// How many times over a query written `src` can visit a state of `nodes`
/// values, at most: the product of its unions' sizes, times `nodes` for
/// every descendant segment (`..`) after the first. String literals and
/// commas between a function's arguments do not count.
pub fn fan_out(src: &str, nodes: usize) -> usize {
    let (mut factor, mut descendants, mut parens) = (1usize, 0usize, 0usize);
    // Per open bracket: the parenthesis depth it opened at, and how many
    // selectors it holds so far (commas at that depth separate them).
    let mut open: Vec<(usize, usize)> = Vec::new();
    let mut previous = 0u8;
    for (_, b) in unquoted(src) {
        match b {
            b'.' if previous == b'.' => {
                descendants += 1;
                // `...` is not three segments: the next dot starts afresh.
                previous = 0;
                continue;
            }
            b'(' => parens += 1,
            b')' => parens = parens.saturating_sub(1),
            b',' => {
                if let Some((at, selectors)) = open.last_mut()
                    && *at == parens
                {
                    *selectors += 1;
                }
            }
            b'[' => open.push((parens, 1)),
            b']' => {
                if let Some((_, selectors)) = open.pop() {
                    factor = factor.saturating_mul(selectors);
                }
            }
            _ => {}
        }
        previous = b;
    }
    for _ in 1..descendants {
        factor = factor.saturating_mul(nodes.max(1));
    }
    factor
}

/// Whether the query written `src`, run `times` times over `scope`, stays
/// within the limit.
pub fn affordable(scope: &Value, times: usize, src: &str) -> bool {
    let nodes = count_nodes(scope, MAX_QUERY_NODES);
    nodes.saturating_mul(times.max(1)).saturating_mul(fan_out(src, nodes)) <= MAX_QUERY_NODES
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
        assert!(affordable(&at_limit, 1, "$..*"));
        assert!(!affordable(&at_limit, 2, "$..*"));
        let over = Value::Array(vec![json!(1); MAX_QUERY_NODES]);
        assert!(!affordable(&over, 1, "$[*]"));
    }

    #[test]
    fn unions_and_repeated_descendants_multiply_what_a_query_visits() {
        assert_eq!(fan_out("$..*", 50), 1);
        assert_eq!(fan_out("$.a[*].b[?@.c > 1]", 50), 1);
        assert_eq!(fan_out("$.a['x','y'][0,1,2]", 50), 6);
        assert_eq!(fan_out("$[?match(@.a, 'x,y')]", 50), 1, "a function's commas are not a union");
        assert_eq!(fan_out("$[?search(@.a, 'x')]", 50), 1);
        assert_eq!(fan_out("count($.a[0,0,0][0,0]) > 0", 50), 6, "a union inside a function's argument is one");
        assert_eq!(fan_out("$..a..b", 50), 50);
        assert_eq!(fan_out(&format!("${}", "..*".repeat(8)), 30), 30usize.pow(7));
        // The fuzzer's findings: a few hundred bytes of state, billions of values.
        let mut chain = json!(1);
        for _ in 0..28 {
            chain = json!({"a": chain});
        }
        assert!(!affordable(&chain, 1, &format!("${}", "..*".repeat(8))));
        let mut nested = json!(1);
        for _ in 0..10 {
            nested = json!([nested]);
        }
        assert!(!affordable(&nested, 1, &format!("${}", "[0,0,0,0,0,0,0,0]".repeat(7))));
        assert!(affordable(&nested, 1, "$[0,0][0,0]"));
    }
}
