//! Caps applied to expression text before any parser sees it, and the short
//! excerpt of offending text that error messages quote.

use super::ExprError;

/// Longest JSONPath query or condition expression, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 4096;
/// Deepest nesting of `(` and `[` in a query or condition. serde_json_path
/// recurses once per level and overflows a 2 MiB stack near 1,000 levels.
pub const MAX_NESTING_DEPTH: usize = 64;
/// Longest template (task text), in bytes. Prompts can be long; each
/// placeholder inside is still capped like a JSONPath query.
pub const MAX_TEMPLATE_LEN: usize = 1 << 20;
/// Most `{{ }}` placeholders in one template.
pub const MAX_TEMPLATE_PLACEHOLDERS: usize = 1024;

/// Characters of offending text quoted in an error message.
const EXCERPT_CHARS: usize = 60;

/// Refuses text that is too long or nests too deep for the parser, or that
/// ends inside a string literal.
pub fn check_expression(what: &'static str, src: &str) -> Result<(), ExprError> {
    if src.len() > MAX_EXPRESSION_LEN {
        return Err(ExprError::TooLong { what, text: excerpt(src), len: src.len(), max: MAX_EXPRESSION_LEN });
    }
    let depth = nesting_depth(src);
    if depth > MAX_NESTING_DEPTH {
        return Err(ExprError::TooDeep { what, text: excerpt(src), depth, max: MAX_NESTING_DEPTH });
    }
    // Refused here, not left to the parser: serde_json_path 0.7 panics on
    // text that ends inside a `\u` escape of an open string (`$['\u`),
    // and only text ending inside a string literal can.
    if let Some(quote) = super::cost::open_string_at_end(src) {
        return Err(ExprError::UnclosedString { what, text: excerpt(src), at: src[..quote].chars().count() + 1 });
    }
    Ok(())
}

/// The deepest nesting of `(` and `[` outside string literals. Unbalanced
/// closers are left for the parser to report.
fn nesting_depth(src: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for (_, b) in super::cost::unquoted(src) {
        match b {
            b'(' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The start of `src`, cut at a character boundary, with `…` when shortened.
pub fn excerpt(src: &str) -> String {
    match src.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &src[..cut]),
        None => src.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_ignores_brackets_inside_string_literals() {
        assert_eq!(nesting_depth("$[?@.a == '((((\\'((']"), 1);
        assert_eq!(nesting_depth("$[?((@.a))]"), 3);
    }

    #[test]
    fn excerpt_cuts_long_text_at_a_character_boundary() {
        let long = "é".repeat(100);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn too_long_and_too_deep_are_refused() {
        let long = format!("$.{}", "a".repeat(MAX_EXPRESSION_LEN));
        assert!(matches!(check_expression("JSONPath", &long), Err(ExprError::TooLong { .. })));
        let deep = format!("{}1{}", "(".repeat(65), ")".repeat(65));
        assert!(matches!(check_expression("condition", &deep), Err(ExprError::TooDeep { .. })));
        let fine = format!("{}1{}", "(".repeat(64), ")".repeat(64));
        assert!(check_expression("condition", &fine).is_ok());
    }
}
