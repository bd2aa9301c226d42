//! JSONPath queries (RFC 9535) over the run state.
//!
//! Most paths in definitions are plain chains of names and indexes
//! (`$.scrape.output.leads[0]`). Those are parsed here directly, about ten
//! times faster than serde_json_path's general parser, which a 10,000-step
//! definition would otherwise spend most of its compile time in. Anything
//! else (wildcards, slices, filters, descendants, escapes, whitespace) goes
//! to serde_json_path, so both accept exactly RFC 9535, with one leniency:
//! step ids may contain `-` (`score-news`), which RFC 9535 shorthand names
//! may not, so `$.score-news.output` is read as `$['score-news'].output`.

use std::borrow::Cow;

use serde_json::Value;
use serde_json_path::{JsonPath, ParseError};

use super::ExprError;
use super::cost::{MAX_QUERY_NODES, TooExpensive, affordable, count_nodes, root_at, selects_many};
use super::limits::{check_expression, excerpt};

/// A parsed query, cheap to evaluate many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(Repr);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// Names and indexes only: selects at most one value. Names are byte
    /// ranges of `source`, so a path costs two allocations, not one per name.
    Chain { source: Box<str>, segments: Box<[Segment]> },
    /// Any other query, with what bounds its cost (see [`super::cost`]).
    General(JsonPath, Scope),
}

/// The part of the document a general query can visit: below its leading
/// chain of names and indexes (`$.input.items` of `$.input.items[*].id`),
/// once, or once per value there when a filter inside runs a query from
/// the root that selects many values itself.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scope {
    /// The query as written (the segments are byte ranges of it).
    source: Box<str>,
    segments: Box<[Segment]>,
    repeats_root_query: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// `source[start..end]`.
    Name(u32, u32),
    /// Negative indexes count from the end, as in RFC 9535.
    Index(i64),
}

impl Path {
    /// Every value the query selects, in document order.
    pub fn query<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        match &self.0 {
            Repr::Chain { source, segments } => follow(source, segments, root).into_iter().collect(),
            Repr::General(path, _) => path.query(root).all(),
        }
    }

    /// Refuses the query on `root` when it would visit more than
    /// [`MAX_QUERY_NODES`] values; a chain of names and indexes always passes.
    pub fn check_cost(&self, root: &Value) -> Result<(), TooExpensive> {
        let Repr::General(_, scope) = &self.0 else { return Ok(()) };
        let Some(start) = follow(&scope.source, &scope.segments, root) else { return Ok(()) };
        let times = if scope.repeats_root_query { count_nodes(root, MAX_QUERY_NODES) } else { 1 };
        if affordable(start, times, &scope.source) {
            Ok(())
        } else {
            Err(TooExpensive { what: "JSONPath", text: excerpt(&scope.source), max: MAX_QUERY_NODES })
        }
    }

    /// The first value the query selects; for a query of names and indexes
    /// the only one. `None` when it selects nothing.
    pub fn first<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        match &self.0 {
            Repr::Chain { source, segments } => follow(source, segments, root),
            Repr::General(path, _) => path.query(root).first(),
        }
    }

    /// True when the query can select at most one value, so `first` is
    /// the whole answer.
    pub fn is_singular(&self) -> bool {
        matches!(self.0, Repr::Chain { .. })
    }
}

fn follow<'v>(source: &str, segments: &[Segment], root: &'v Value) -> Option<&'v Value> {
    segments.iter().try_fold(root, |value, segment| match (segment, value) {
        (Segment::Name(start, end), Value::Object(map)) => map.get(source.get(*start as usize..*end as usize)?),
        (Segment::Index(i), Value::Array(items)) => {
            let at = if *i < 0 { items.len().checked_sub(i.unsigned_abs() as usize)? } else { *i as usize };
            items.get(at)
        }
        _ => None,
    })
}

/// Parses an RFC 9535 query that starts at the root `$`.
///
/// Fails with [`ExprError::TooLong`] or [`ExprError::TooDeep`] before parsing
/// when the text exceeds the caps, [`ExprError::MissingRoot`] when it does not
/// start with `$`, [`ExprError::UnclosedString`] when it ends inside a
/// string literal, and [`ExprError::Syntax`] when it is not a valid query.
pub fn parse_path(src: &str) -> Result<Path, ExprError> {
    check_expression("JSONPath", src)?;
    let query = src.trim();
    let Some(after_root) = query.strip_prefix('$') else {
        return Err(ExprError::MissingRoot { text: excerpt(src) });
    };
    let offset = query.len() - after_root.len();
    if let Some(segments) = parse_chain(query, offset, Vec::new()) {
        return Ok(Path(Repr::Chain { source: query.into(), segments: segments.into() }));
    }
    parse_general(src, query)
}

/// Parses a template placeholder: a query relative to the root, written
/// without `$.` (`input.website`, `[0].a`); a leading `$` is also accepted.
pub fn parse_relative(src: &str) -> Result<Path, ExprError> {
    if src.starts_with('$') {
        return parse_path(src);
    }
    check_expression("JSONPath", src)?;
    let name_len = shorthand_name_len(src);
    let start = if name_len > 0 { vec![Segment::Name(0, name_len as u32)] } else { Vec::new() };
    if (name_len > 0 || src.starts_with('['))
        && let Some(segments) = parse_chain(src, name_len, start)
    {
        return Ok(Path(Repr::Chain { source: src.into(), segments: segments.into() }));
    }
    let query = if src.starts_with('[') { format!("${src}") } else { format!("$.{src}") };
    parse_general(&query, &query)
}

/// `query` starts with `$`.
fn parse_general(src: &str, query: &str) -> Result<Path, ExprError> {
    let path = JsonPath::parse(&quote_dashed_names(query)).map_err(|e| syntax_error("JSONPath", src, &e, 0))?;
    let (segments, end) = chain_prefix(query, 1, Vec::new());
    let rest = query.get(end..).unwrap_or_default();
    let repeats_root_query = root_at(rest).is_some_and(|at| selects_many(&rest[at..]));
    let scope = Scope { source: query.into(), segments: segments.into(), repeats_root_query };
    Ok(Path(Repr::General(path, scope)))
}

/// Parses `.name`, `['name']` and `[index]` segments from byte `at` of
/// `src` to its end; `None` as soon as anything else appears (the general
/// parser decides). Paths are capped far below `u32::MAX` bytes.
fn parse_chain(src: &str, at: usize, segments: Vec<Segment>) -> Option<Vec<Segment>> {
    let (segments, end) = chain_prefix(src, at, segments);
    (end == src.len()).then_some(segments)
}

/// The leading `.name`, `['name']` and `[index]` segments from byte `at`
/// of `src`, and the byte where they end (the length of `src` when that is
/// all there is).
fn chain_prefix(src: &str, mut at: usize, mut segments: Vec<Segment>) -> (Vec<Segment>, usize) {
    let bytes = src.as_bytes();
    while let Some(&c) = bytes.get(at) {
        let parsed = match c {
            b'.' => match shorthand_name_len(&src[at + 1..]) {
                0 => None,
                name_len => Some((Segment::Name((at + 1) as u32, (at + 1 + name_len) as u32), at + 1 + name_len)),
            },
            b'[' => bracketed(src, at + 1),
            _ => None,
        };
        let Some((segment, next)) = parsed else { break };
        segments.push(segment);
        at = next;
    }
    (segments, at)
}

/// One `['name']`, `["name"]` or `[index]` selector starting after the `[`
/// at byte `at`; returns it and the byte after its `]`.
fn bracketed(src: &str, at: usize) -> Option<(Segment, usize)> {
    let rest = &src.as_bytes()[at..];
    let quote = *rest.first()?;
    if quote == b'\'' || quote == b'"' {
        let body_len = rest[1..].iter().position(|&b| b == quote)?;
        let body = &rest[1..=body_len];
        // Escapes and control characters: the general parser's business.
        if body.iter().any(|&b| b == b'\\' || b < 0x20) || rest.get(body_len + 2) != Some(&b']') {
            return None;
        }
        let start = at + 1;
        return Some((Segment::Name(start as u32, (start + body_len) as u32), start + body_len + 2));
    }
    let end = rest.iter().position(|&b| b == b']')?;
    Some((Segment::Index(rfc_int(src.get(at..at + end)?)?), at + end + 1))
}

/// RFC 9535 `int`: `0`, or an optional `-` and digits without a leading
/// zero, within ±(2^53 - 1).
fn rfc_int(text: &str) -> Option<i64> {
    const MAX_SAFE: i64 = (1 << 53) - 1;
    let digits = text.strip_prefix('-').unwrap_or(text);
    let well_formed = !digits.is_empty()
        && digits.len() <= 16
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" && digits.len() == text.len() || !digits.starts_with('0'));
    let value: i64 = text.parse().ok().filter(|_| well_formed)?;
    (value.abs() <= MAX_SAFE).then_some(value)
}

/// A syntax error quoting `src`; `prefix_len` is how many characters were
/// put in front of `src` before parsing, so the position points into `src`.
pub fn syntax_error(what: &'static str, src: &str, err: &ParseError, prefix_len: usize) -> ExprError {
    let at = err.position().saturating_sub(prefix_len).max(1);
    ExprError::Syntax { what, text: excerpt(src), reason: format!("{} at character {at}", err.message()) }
}

/// Rewrites shorthand member names containing `-` (`.a-b`, `..a-b`) into
/// bracket notation (`['a-b']`), leaving string literals untouched. RFC 9535
/// has no arithmetic, so a `-` inside a name can mean nothing else.
pub fn quote_dashed_names(src: &str) -> Cow<'_, str> {
    if !src.contains('-') {
        return Cow::Borrowed(src);
    }
    let mut out = String::with_capacity(src.len() + 8);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut i = 0;
    while let Some(c) = src[i..].chars().next() {
        if let Some(q) = quote {
            out.push(c);
            i += c.len_utf8();
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                _ if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
                i += 1;
            }
            '.' => {
                let dots = if src[i + 1..].starts_with('.') { 2 } else { 1 };
                let name_start = i + dots;
                let name_end = name_start + shorthand_name_len(&src[name_start..]);
                let name = &src[name_start..name_end];
                if name.contains('-') {
                    out.push_str(if dots == 2 { "..['" } else { "['" });
                    out.push_str(name);
                    out.push_str("']");
                } else {
                    out.push_str(&src[i..name_end]);
                }
                i = name_end;
            }
            _ => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Cow::Owned(out)
}

/// Length in bytes of the shorthand name at the start of `s` (RFC 9535
/// `member-name-shorthand`, plus `-`); 0 when `s` does not start with one.
/// Every byte of a non-ASCII character is >= 0x80 and every non-ASCII
/// character may be part of a name, so bytes can be tested one by one and
/// the end always falls on a character boundary.
fn shorthand_name_len(s: &str) -> usize {
    let starts_name = |b: u8| b.is_ascii_alphabetic() || b == b'_' || b >= 0x80;
    match s.as_bytes().first() {
        Some(&b) if starts_name(b) => {
            s.bytes().position(|b| !(starts_name(b) || b.is_ascii_digit() || b == b'-')).unwrap_or(s.len())
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documented_reference_patterns_parse_as_chains() {
        for p in [
            "$.scrape.output.leads",
            "$.scrape.output.company.name",
            "$.input.website",
            "$.scrape.output.leads[0]",
            "$.news.output.articles[0].title",
            "$.lead",
            "$",
            "$['score-news'][\"output\"][-1]",
        ] {
            assert!(parse_path(p).is_ok_and(|path| path.is_singular()), "{p}");
        }
    }

    #[test]
    fn chains_select_exactly_what_the_general_parser_selects() {
        let docs = [
            json!({"a": {"b": [{"c": 1}, {"c": 2}], "x-y": "dash", "": 0, "é": 3}, "n": [[1, 2], [3]]}),
            json!([1, 2, 3]),
            json!("text"),
            json!(null),
        ];
        let paths = [
            "$",
            "$.a",
            "$.a.b",
            "$.a.b[0].c",
            "$.a.b[1]['c']",
            "$.a.b[-1].c",
            "$.a.b[-3]",
            "$.a.b[2]",
            "$.a.x-y",
            "$.a['x-y']",
            "$['a'][\"b\"][0]",
            "$.n[0][1]",
            "$[0]",
            "$[-1]",
            "$.missing.deeper",
            "$.a['']",
            "$.a['é']",
            "$[9007199254740991]",
            "$[-9007199254740991]",
        ];
        for src in paths {
            let fast = parse_path(src).expect("valid path");
            assert!(fast.is_singular(), "{src} takes the fast route");
            let general = JsonPath::parse(&quote_dashed_names(src)).expect("general parser agrees it is valid");
            for doc in &docs {
                assert_eq!(fast.query(doc), general.query(doc).all(), "{src} on {doc}");
            }
        }
    }

    #[test]
    fn anything_else_goes_to_the_general_parser_with_the_same_verdict() {
        let doc = json!({"a": [{"b": 1}, {"b": 2}], "k": {"x y": 5}});
        for (src, selected) in [
            ("$.a[*].b", vec![json!(1), json!(2)]),
            ("$..b", vec![json!(1), json!(2)]),
            ("$.a[?@.b > 1].b", vec![json!(2)]),
            ("$.a[0:1].b", vec![json!(1)]),
            ("$.k['x\\u0020y']", vec![json!(5)]),
            ("$ .k", vec![json!({"x y": 5})]),
        ] {
            let path = parse_path(src).expect("valid path");
            assert!(!path.is_singular(), "{src}");
            assert_eq!(path.query(&doc).into_iter().cloned().collect::<Vec<_>>(), selected, "{src}");
        }
        for bad in ["$.", "$.a[", "$.a[01]", "$.a[-0]", "$.a['x]", "$[9007199254740992]", "$.1a", "$.a.", "$a"] {
            let general = JsonPath::parse(&quote_dashed_names(bad)).is_ok();
            assert!(!general, "{bad} is invalid for the general parser too");
            let refused = parse_path(bad);
            assert!(matches!(refused, Err(ExprError::Syntax { .. } | ExprError::UnclosedString { .. })), "{bad}");
        }
    }

    #[test]
    fn relative_placeholders_parse_like_rooted_paths() {
        let doc = json!({"input": {"website": "w", "tags": ["a", "b"]}, "lead": {"x-y": 1}});
        for (relative, rooted) in [
            ("input.website", "$.input.website"),
            ("input.tags[1]", "$.input.tags[1]"),
            ("lead.x-y", "$.lead.x-y"),
            ("$.input", "$.input"),
            ("input.tags[*]", "$.input.tags[*]"),
        ] {
            let a = parse_relative(relative).expect("relative parses");
            let b = parse_path(rooted).expect("rooted parses");
            assert_eq!(a.query(&doc), b.query(&doc), "{relative}");
        }
        assert!(parse_relative("input..[").is_err());
        assert!(parse_relative("[0]").is_ok());
    }

    #[test]
    fn step_ids_with_dashes_are_addressable() {
        let path = parse_path("$.score-news.output[1]").expect("dashed id parses");
        let state = json!({"score-news": {"output": [1, 2]}});
        assert_eq!(path.first(&state), Some(&json!(2)));
        let desc = parse_path("$..x-y").expect("descendant dashed name parses");
        assert_eq!(desc.query(&json!({"a": {"x-y": 3}})), vec![&json!(3)]);
    }

    #[test]
    fn dashes_inside_string_literals_and_numbers_are_left_alone() {
        assert_eq!(quote_dashed_names("$[?@.a == 'x.b-c']"), "$[?@.a == 'x.b-c']");
        assert_eq!(quote_dashed_names("$[?@.a > -1.5]"), "$[?@.a > -1.5]");
        assert_eq!(quote_dashed_names("$.a-b.c"), "$['a-b'].c");
    }

    #[test]
    fn a_path_must_start_at_the_root() {
        assert!(matches!(parse_path("input.website"), Err(ExprError::MissingRoot { .. })));
        assert!(matches!(parse_path(""), Err(ExprError::MissingRoot { .. })));
    }

    #[test]
    fn syntax_errors_quote_the_text_and_the_reason() {
        let err = parse_path("$.a[").expect_err("unclosed bracket");
        let msg = err.to_string();
        assert!(msg.contains("`$.a[`") && msg.contains("invalid"), "{msg}");
    }

    #[test]
    fn deeply_nested_path_is_a_clean_error() {
        let deep = format!("$[?{}@.a{}]", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(parse_path(&deep), Err(ExprError::TooLong { .. })));
        let deep = format!("$[?{}@.a{}]", "(".repeat(1_000), ")".repeat(1_000));
        assert!(matches!(parse_path(&deep), Err(ExprError::TooDeep { .. })));
        let deep_brackets = format!("${}", "[0]".repeat(1_000));
        assert!(parse_path(&deep_brackets).is_ok(), "sequential brackets do not nest");
    }

    #[test]
    fn general_queries_are_bounded_by_the_part_of_the_state_they_can_visit() {
        use crate::expr::MAX_QUERY_NODES;
        let big = Value::Array(vec![json!(1); MAX_QUERY_NODES]);
        let doc = json!({"input": {"items": big, "small": [1, 2, 3]}, "s": {"output": {"x": 1}}});
        let cost = |src: &str| parse_path(src).unwrap().check_cost(&doc);
        let refused = cost("$..*").unwrap_err();
        assert!(refused.to_string().contains(&format!("more than {MAX_QUERY_NODES} JSON values")), "{refused}");
        assert!(refused.to_string().contains("MAX_QUERY_NODES"), "{refused}");
        assert!(cost("$.input.items[*]").is_err());
        assert!(cost("$.input.items[0:2]").is_err(), "a slice is bounded by its array");
        assert!(cost("$.input.small[*]").is_ok(), "only the part below the leading names counts");
        assert!(cost("$.s..x").is_ok());
        assert!(cost("$.input.items[0]").is_ok(), "a chain selects one value");
        assert!(cost("$.nothing..*").is_ok(), "a scope that selects nothing visits nothing");
        assert!(cost("$.input.small[?count($..*) > 1]").is_err(), "the filter repeats a query of the root");
        assert!(cost("$.input.small[?@ == $.s.output.x]").is_ok(), "a singular root query repeats cheaply");
        let placeholder = parse_relative("input.items[*]").unwrap();
        assert!(placeholder.check_cost(&doc).is_err());
    }
}
