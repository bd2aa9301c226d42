//! Which keys of the run state document (`input`, a step id, `state`) an
//! expression reads, so the dry pass knows whether the sample input alone
//! decides it.

/// The first name of every root query (`$.name…`, `$['name']…`) in a
/// condition or path, in order. `None` when some query's first name cannot
/// be told (`$..x`, `$[*]`, `$.*`, a bare `$`): such a query may read any
/// key, so nothing can be known about it from the input alone.
pub(super) fn roots(src: &str) -> Option<Vec<&str>> {
    let bytes = src.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // String literals of filter expressions may hold a `$`.
            quote @ (b'\'' | b'"') => i = skip_literal(bytes, i + 1, quote),
            b'$' => {
                let (name, next) = root_after(src, i + 1)?;
                names.push(name);
                i = next;
            }
            _ => i += 1,
        }
    }
    Some(names)
}

/// The index after the literal closed by `quote`, backslash escapes skipped.
fn skip_literal(bytes: &[u8], mut i: usize, quote: u8) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The name right after a `$` at `at`, and where reading goes on.
fn root_after(src: &str, at: usize) -> Option<(&str, usize)> {
    let rest = &src[at..];
    if let Some(dotted) = rest.strip_prefix('.') {
        // Step ids may hold `-`, which the engine reads as part of the name.
        let len = dotted.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(dotted.len());
        return (len > 0).then(|| (&dotted[..len], at + 1 + len));
    }
    let quote = match rest.as_bytes() {
        [b'[', q @ (b'\'' | b'"'), ..] => *q as char,
        _ => return None,
    };
    let name_start = at + 2;
    let len = src[name_start..].find(quote)?;
    Some((&src[name_start..name_start + len], name_start + len + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_of_conditions_and_paths() {
        assert_eq!(roots("$.score.output.score >= 70"), Some(vec!["score"]));
        assert_eq!(roots("$.input.n > 1 && length($['score-news'].output) > 0"), Some(vec!["input", "score-news"]));
        assert_eq!(roots("$.score-news.output[0]"), Some(vec!["score-news"]));
        assert_eq!(roots("match($.input.site, '$.not.a.root')"), Some(vec!["input"]));
        assert_eq!(roots("$.input.tags[?@ == 'a']"), Some(vec!["input"]));
        assert_eq!(roots("$..score > 1"), None);
        assert_eq!(roots("$[*]"), None);
    }
}
