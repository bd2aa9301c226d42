//! Expressions inside a workflow definition, parsed once when the definition
//! is saved and evaluated by the engine against the run state document
//! (`{"input": …, "<stepId>": {"output": …}, "state": {…}, "<as>": …}`):
//!
//! - [`parse_path`]: RFC 9535 JSONPath queries (`inputMap`, transform `output`,
//!   map/loop `over`), as a [`Path`];
//! - [`parse_condition`]: RFC 9535 filter expressions (condition steps);
//! - [`parse_template`]: `{{ input.website }}` placeholders in task text;
//! - [`parse_header_value`]: `{{ secrets.NAME }}` references in header
//!   values, which only the server resolves (`secret_ref.rs`).
//!
//! Every parser checks length and bracket nesting *before* handing text to
//! serde_json_path, whose recursive-descent parser overflows the stack on
//! about a thousand nested parentheses. At run time, each kind's
//! `check_cost` bounds what a query may visit ([`MAX_QUERY_NODES`]) before
//! it is evaluated.

mod condition;
mod cost;
mod limits;
mod path;
mod secret_ref;
mod template;

pub use condition::{Condition, parse_condition};
pub use cost::{MAX_QUERY_NODES, TooExpensive};
pub use limits::{MAX_EXPRESSION_LEN, MAX_NESTING_DEPTH, MAX_TEMPLATE_LEN, MAX_TEMPLATE_PLACEHOLDERS};
pub use path::{Path, parse_path};
pub use secret_ref::{
    HeaderTemplate, HeaderTemplateError, MAX_SECRET_NAME_LEN, is_secret_name, parse_header_value, references_secrets,
    template_references_secrets,
};
pub use template::{Template, parse_template};

/// Why an expression was refused. Every message quotes the offending text
/// (shortened to about 60 characters) and says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// The text is longer than the cap for its kind.
    #[error("{what} `{text}` is {len} bytes long; the limit is {max}")]
    TooLong {
        /// "JSONPath", "condition" or "template".
        what: &'static str,
        /// The offending text, shortened.
        text: String,
        /// Its length in bytes.
        len: usize,
        /// The cap in bytes.
        max: usize,
    },
    /// Brackets or parentheses nest deeper than [`MAX_NESTING_DEPTH`].
    #[error("{what} `{text}` nests brackets {depth} deep; the limit is {max}")]
    TooDeep {
        /// "JSONPath" or "condition".
        what: &'static str,
        /// The offending text, shortened.
        text: String,
        /// Deepest nesting found.
        depth: usize,
        /// The cap.
        max: usize,
    },
    /// A JSONPath query that does not start at the root `$`.
    #[error("JSONPath `{text}` must start with `$`, the root of the run state")]
    MissingRoot {
        /// The offending text, shortened.
        text: String,
    },
    /// The text is not valid RFC 9535 syntax.
    #[error("{what} `{text}` is invalid: {reason}")]
    Syntax {
        /// "JSONPath" or "condition".
        what: &'static str,
        /// The offending text, shortened.
        text: String,
        /// The parser's explanation.
        reason: String,
    },
    /// A string literal still open at the end of the text. Refused before
    /// parsing: serde_json_path 0.7 panics when such text ends inside a
    /// `\u` escape.
    #[error("{what} `{text}` has a string literal opened at character {at} that is never closed")]
    UnclosedString {
        /// "JSONPath" or "condition".
        what: &'static str,
        /// The offending text, shortened.
        text: String,
        /// Character (from 1) of the opening quote.
        at: usize,
    },
    /// A `{{` that is never closed (or is followed by another `{{`).
    #[error("template `{text}` has a `{{{{` at byte {at} with no matching `}}}}`")]
    Unclosed {
        /// The offending template, shortened.
        text: String,
        /// Byte offset of the `{{`.
        at: usize,
    },
    /// A `}}` with no `{{` before it.
    #[error("template `{text}` has a `}}}}` at byte {at} with no matching `{{{{`")]
    Unopened {
        /// The offending template, shortened.
        text: String,
        /// Byte offset of the `}}`.
        at: usize,
    },
    /// `{{ }}` with nothing inside.
    #[error("template `{text}` has an empty `{{{{ }}}}` at byte {at}")]
    EmptyPlaceholder {
        /// The offending template, shortened.
        text: String,
        /// Byte offset of the `{{`.
        at: usize,
    },
    /// A placeholder whose path does not parse.
    #[error("template `{text}` has a bad placeholder at byte {at}: {cause}")]
    Placeholder {
        /// The offending template, shortened.
        text: String,
        /// Byte offset of the `{{`.
        at: usize,
        /// Why the placeholder's path was refused.
        cause: Box<ExprError>,
    },
    /// More placeholders than [`MAX_TEMPLATE_PLACEHOLDERS`].
    #[error("template `{text}` has more than {max} placeholders")]
    TooManyPlaceholders {
        /// The offending template, shortened.
        text: String,
        /// The cap.
        max: usize,
    },
}
