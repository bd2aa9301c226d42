//! `{{ }}` templates: literal text with placeholders such as
//! `{{ input.website }}` or `{{ lead.company }}`. A placeholder is a JSONPath
//! query written without the leading `$.` (a leading `$` is also accepted),
//! rendered from the run state when the step starts. No filters, no logic:
//! templates only look values up.

use std::fmt::Write as _;

use serde_json::Value;

use super::ExprError;
use super::limits::{MAX_TEMPLATE_LEN, MAX_TEMPLATE_PLACEHOLDERS, excerpt};
use super::path::{Path, parse_relative};

/// A parsed template, cheap to render many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: Box<str>,
    parts: Box<[Part]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// Literal text: `source[start..end]`.
    Text(usize, usize),
    Value(Path),
}

impl Template {
    /// The text with every placeholder replaced by what its path selects in
    /// `state`: nothing selected renders as an empty string, a string as its
    /// raw text, any other value as compact JSON, and several selected values
    /// as a JSON array of them.
    pub fn render(&self, state: &Value) -> String {
        let mut out = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(start, end) => out.push_str(self.source.get(*start..*end).unwrap_or_default()),
                Part::Value(path) if path.is_singular() => {
                    if let Some(value) = path.first(state) {
                        push_value(&mut out, value);
                    }
                }
                Part::Value(path) => match path.query(state).as_slice() {
                    [] => {}
                    [one] => push_value(&mut out, one),
                    many => push_value(&mut out, &Value::Array(many.iter().map(|v| (*v).clone()).collect())),
                },
            }
        }
        out
    }

    /// Refuses the template on `state` when one of its placeholders would
    /// visit more than [`super::MAX_QUERY_NODES`] values.
    pub fn check_cost(&self, state: &Value) -> Result<(), super::TooExpensive> {
        self.parts.iter().try_for_each(|part| match part {
            Part::Text(..) => Ok(()),
            Part::Value(path) => path.check_cost(state),
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the template has no placeholders.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(..)))
    }

    /// The placeholder queries, in order.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.parts.iter().filter_map(|p| match p {
            Part::Value(path) => Some(path),
            Part::Text(..) => None,
        })
    }
}

fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::String(s) => out.push_str(s),
        // Writing JSON into a String cannot fail.
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

/// Parses a template.
///
/// Fails with [`ExprError::TooLong`] beyond [`MAX_TEMPLATE_LEN`] bytes,
/// [`ExprError::Unclosed`] / [`ExprError::Unopened`] on an unbalanced `{{` or
/// `}}`, [`ExprError::EmptyPlaceholder`] on `{{ }}`,
/// [`ExprError::TooManyPlaceholders`], and [`ExprError::Placeholder`] when a
/// placeholder's path does not parse.
pub fn parse_template(src: &str) -> Result<Template, ExprError> {
    if src.len() > MAX_TEMPLATE_LEN {
        return Err(ExprError::TooLong { what: "template", text: excerpt(src), len: src.len(), max: MAX_TEMPLATE_LEN });
    }
    let mut parts = Vec::new();
    let mut placeholders = 0;
    let mut text_start = 0;
    let mut at = 0;
    while let Some((open, pair)) = next_pair(src, at) {
        if pair == b'}' {
            return Err(ExprError::Unopened { text: excerpt(src), at: open });
        }
        let inner_start = open + 2;
        let inner_len = match next_pair(src, inner_start) {
            Some((close, b'}')) => close - inner_start,
            _ => return Err(ExprError::Unclosed { text: excerpt(src), at: open }),
        };
        placeholders += 1;
        if placeholders > MAX_TEMPLATE_PLACEHOLDERS {
            return Err(ExprError::TooManyPlaceholders { text: excerpt(src), max: MAX_TEMPLATE_PLACEHOLDERS });
        }
        if open > text_start {
            parts.push(Part::Text(text_start, open));
        }
        parts.push(Part::Value(parse_placeholder(src, open, &src[inner_start..inner_start + inner_len])?));
        at = inner_start + inner_len + 2;
        text_start = at;
    }
    if text_start < src.len() {
        parts.push(Part::Text(text_start, src.len()));
    }
    Ok(Template { source: src.into(), parts: parts.into() })
}

/// The next `{{` or `}}` at or after byte `from`: its offset and brace.
fn next_pair(src: &str, from: usize) -> Option<(usize, u8)> {
    let bytes = src.as_bytes();
    let mut i = from;
    while i + 1 < bytes.len() {
        let b = bytes[i];
        if (b == b'{' || b == b'}') && bytes[i + 1] == b {
            return Some((i, b));
        }
        i += 1;
    }
    None
}

/// `input.website` means `$.input.website`; `[0]` means `$[0]`.
fn parse_placeholder(src: &str, at: usize, inner: &str) -> Result<Path, ExprError> {
    let expr = inner.trim();
    if expr.is_empty() {
        return Err(ExprError::EmptyPlaceholder { text: excerpt(src), at });
    }
    parse_relative(expr).map_err(|cause| ExprError::Placeholder { text: excerpt(src), at, cause: Box::new(cause) })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(src: &str, state: &Value) -> String {
        parse_template(src).expect("template parses").render(state)
    }

    #[test]
    fn placeholders_render_from_the_run_state() {
        let state = json!({
            "input": {"website": "https://acme.com", "count": 3, "tags": ["a", "b"]},
            "lead": {"company": "Acme"},
            "a": {"b": [{"c": "deep"}]},
        });
        assert_eq!(render("Scrape {{ input.website }} now", &state), "Scrape https://acme.com now");
        assert_eq!(render("{{lead.company}}", &state), "Acme");
        assert_eq!(render("n={{ input.count }}", &state), "n=3");
        assert_eq!(render("{{ input.tags }}", &state), r#"["a","b"]"#);
        assert_eq!(render("{{ a.b[0].c }}", &state), "deep");
        assert_eq!(render("{{ $.input.count }}", &state), "3");
        assert_eq!(render("{{ input.tags[*] }}", &state), r#"["a","b"]"#);
    }

    #[test]
    fn missing_values_render_as_empty_text() {
        assert_eq!(render("[{{ input.nope }}]", &json!({"input": {}})), "[]");
    }

    #[test]
    fn text_without_placeholders_is_literal() {
        let t = parse_template("Enrich lead data with LinkedIn").expect("literal parses");
        assert!(t.is_literal());
        assert_eq!(t.render(&json!({})), "Enrich lead data with LinkedIn");
        assert_eq!(parse_template("").expect("empty parses").render(&json!({})), "");
    }

    #[test]
    fn unbalanced_braces_are_errors() {
        assert!(matches!(parse_template("a {{ input.x"), Err(ExprError::Unclosed { at: 2, .. })));
        assert!(matches!(parse_template("a }} b"), Err(ExprError::Unopened { at: 2, .. })));
        assert!(matches!(parse_template("}} {{ a }}"), Err(ExprError::Unopened { at: 0, .. })));
        assert!(matches!(parse_template("{{ a {{ b }}"), Err(ExprError::Unclosed { at: 0, .. })));
        assert!(matches!(parse_template("x {{  }}"), Err(ExprError::EmptyPlaceholder { .. })));
    }

    #[test]
    fn bad_placeholder_paths_name_the_cause() {
        let err = parse_template("Hi {{ input..[ }}").expect_err("bad path");
        assert!(matches!(err, ExprError::Placeholder { at: 3, .. }));
        assert!(err.to_string().contains("invalid"), "{err}");
    }

    #[test]
    fn too_many_placeholders_are_refused() {
        let many = "{{ a }}".repeat(MAX_TEMPLATE_PLACEHOLDERS + 1);
        assert!(matches!(parse_template(&many), Err(ExprError::TooManyPlaceholders { .. })));
        assert!(parse_template(&"{{ a }}".repeat(MAX_TEMPLATE_PLACEHOLDERS)).is_ok());
    }

    #[test]
    fn single_braces_are_plain_text() {
        assert_eq!(render("{\"a\": {{ input.x }}}", &json!({"input": {"x": 1}})), "{\"a\": 1}");
    }
}
