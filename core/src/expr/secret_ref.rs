//! `{{ secrets.NAME }}` references in webhook and http_request header
//! values. The core never resolves them: it has no secrets, and what it
//! renders ends up in task rows and events. A header value keeps its
//! references as written all the way to the server's built-in executor,
//! which replaces them right before the request leaves
//! ([`HeaderTemplate::render`]). Anywhere else (URL, body, task text,
//! inputMap, conditions, transform paths) a reference to `secrets` is a
//! definition error ([`references_secrets`]), so a secret can never be
//! copied into a run's state, output or events.

use std::fmt;

/// Longest secret name, bytes.
pub const MAX_SECRET_NAME_LEN: usize = 128;
/// The root name references start with.
pub const SECRETS_ROOT: &str = "secrets";

/// Whether `name` is a valid secret name: `[A-Za-z_][A-Za-z0-9_]{0,127}`.
pub fn is_secret_name(name: &str) -> bool {
    name.len() <= MAX_SECRET_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A header value: literal text and secret references, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderTemplate {
    parts: Vec<HeaderPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HeaderPart {
    Text(String),
    Secret(String),
}

/// Why a header value was refused. Never holds a secret's value (there is
/// none at compile time), only the text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderTemplateError {
    /// A `{{` with no `}}`, or a `}}` with no `{{`.
    Unbalanced {
        /// Byte offset.
        at: usize,
    },
    /// A placeholder that is not `secrets.NAME` with a valid name.
    NotASecret {
        /// The placeholder's text, shortened.
        placeholder: String,
    },
}

impl fmt::Display for HeaderTemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unbalanced { at } => write!(f, "an unbalanced `{{{{` or `}}}}` at byte {at}"),
            Self::NotASecret { placeholder } => write!(
                f,
                "the placeholder `{{{{ {placeholder} }}}}` is not a secret reference; a header value takes only \
                 `{{{{ secrets.NAME }}}}` (NAME: a letter or '_', then letters, digits or '_', at most \
                 {MAX_SECRET_NAME_LEN})"
            ),
        }
    }
}

impl std::error::Error for HeaderTemplateError {}

/// Parses a header value. Text without `{{`/`}}` is one literal part.
pub fn parse_header_value(src: &str) -> Result<HeaderTemplate, HeaderTemplateError> {
    let mut parts = Vec::new();
    let mut rest = src;
    let mut offset = 0;
    loop {
        let open = rest.find("{{");
        let close = rest.find("}}");
        match (open, close) {
            (None, None) => {
                if !rest.is_empty() {
                    parts.push(HeaderPart::Text(rest.to_owned()));
                }
                return Ok(HeaderTemplate { parts });
            }
            (None, Some(at)) => return Err(HeaderTemplateError::Unbalanced { at: offset + at }),
            (Some(open), close) => {
                let Some(close) = close.filter(|c| *c > open) else {
                    return Err(HeaderTemplateError::Unbalanced { at: offset + close.unwrap_or(open) });
                };
                if open > 0 {
                    parts.push(HeaderPart::Text(rest[..open].to_owned()));
                }
                let inner = rest[open + 2..close].trim();
                if inner.contains("{{") {
                    return Err(HeaderTemplateError::Unbalanced { at: offset + open });
                }
                let name = inner.strip_prefix("$.").unwrap_or(inner).strip_prefix("secrets.");
                match name {
                    Some(name) if is_secret_name(name) => parts.push(HeaderPart::Secret(name.to_owned())),
                    _ => {
                        let placeholder: String = inner.chars().take(60).collect();
                        return Err(HeaderTemplateError::NotASecret { placeholder });
                    }
                }
                offset += close + 2;
                rest = &rest[close + 2..];
            }
        }
    }
}

impl HeaderTemplate {
    /// The secret names referenced, in order (repeats included).
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            HeaderPart::Secret(name) => Some(name.as_str()),
            HeaderPart::Text(_) => None,
        })
    }

    /// True when the value references no secret.
    pub fn is_literal(&self) -> bool {
        self.secret_names().next().is_none()
    }

    /// The value with each reference replaced by what `lookup` answers for
    /// its name; the first error `lookup` gives ends it.
    pub fn render<E>(&self, mut lookup: impl FnMut(&str) -> Result<String, E>) -> Result<String, E> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                HeaderPart::Text(text) => out.push_str(text),
                HeaderPart::Secret(name) => out.push_str(&lookup(name)?),
            }
        }
        Ok(out)
    }
}

/// Whether an expression, path or template (anything but a header value)
/// refers to `secrets`: a path or placeholder whose first member is
/// `secrets` (`$.secrets.X`, `$['secrets']`, `{{ secrets.X }}`,
/// `{{ $.secrets.X }}`). Such a reference is refused where it would be
/// rendered by the core.
pub fn references_secrets(src: &str) -> bool {
    let bytes = src.as_bytes();
    let mut from = 0;
    while let Some(found) = src[from..].find(SECRETS_ROOT) {
        let at = from + found;
        let end = at + SECRETS_ROOT.len();
        from = end;
        let next_is_ident = bytes.get(end).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
        if next_is_ident {
            continue;
        }
        let before = src[..at].trim_end();
        let rooted = before.ends_with("$.")
            || before.ends_with("$['")
            || before.ends_with("$[\"")
            || before.ends_with("{{")
            || before.strip_suffix("$.").is_some_and(|b| b.trim_end().ends_with("{{"));
        let preceded_by_ident = at > 0 && {
            let b = bytes[at - 1];
            b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
        };
        if rooted && !preceded_by_ident {
            return true;
        }
    }
    false
}

/// Whether a `{{ }}` template (task text, a body string, or text that is
/// not templated at all, like a URL) has a placeholder referring to
/// `secrets`. Text outside the placeholders is never looked at.
pub fn template_references_secrets(src: &str) -> bool {
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let end = after.find("}}").unwrap_or(after.len());
        if references_secrets(&format!("{{{{{}", &after[..end])) {
            return true;
        }
        rest = &after[end..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_keep_text_and_name_their_secrets() {
        let t = parse_header_value("Bearer {{ secrets.API_TOKEN }} and {{secrets.b}}").unwrap();
        assert_eq!(t.secret_names().collect::<Vec<_>>(), ["API_TOKEN", "b"]);
        let rendered = t.render(|n| Ok::<_, ()>(format!("<{n}>"))).unwrap();
        assert_eq!(rendered, "Bearer <API_TOKEN> and <b>");
        assert!(parse_header_value("plain").unwrap().is_literal());
        assert_eq!(parse_header_value("").unwrap().render(|_| Ok::<_, ()>(String::new())).unwrap(), "");
        assert_eq!(t.render(|n| if n == "b" { Err(n.to_owned()) } else { Ok(String::new()) }), Err("b".into()));
    }

    #[test]
    fn anything_but_a_secret_reference_is_refused_in_a_header() {
        for bad in ["{{ input.x }}", "{{ secrets.1A }}", "{{ secrets. }}", "{{ secrets.a.b }}", "{{ }}"] {
            assert!(matches!(parse_header_value(bad), Err(HeaderTemplateError::NotASecret { .. })), "{bad}");
        }
        for bad in ["{{ secrets.A", "secrets.A }}", "}} {{", "{{ {{ secrets.A }}"] {
            assert!(matches!(parse_header_value(bad), Err(HeaderTemplateError::Unbalanced { .. })), "{bad}");
        }
        assert!(parse_header_value(&format!("{{{{ secrets.{} }}}}", "a".repeat(129))).is_err());
    }

    #[test]
    fn secret_references_are_found_in_paths_conditions_and_templates() {
        for yes in [
            "$.secrets.A",
            "$['secrets']",
            "$[\"secrets\"].x",
            "{{ secrets.A }}",
            "x {{$.secrets.A}}",
            "$.a > 1 && $.secrets.b == 'x'",
            "$.secrets",
        ] {
            assert!(references_secrets(yes), "{yes}");
        }
        assert!(template_references_secrets("Hi {{ secrets.A }}"));
        assert!(template_references_secrets("{{ input.x }} {{$['secrets'].A}}"));
        assert!(!template_references_secrets("about $.secrets.a {{ input.secrets }}"));
        for no in ["$.input.secrets", "$.mysecrets.a", "$.secrets_step.output", "{{ input.secrets }}", "secrets"] {
            assert!(!references_secrets(no), "{no}");
        }
    }
}
