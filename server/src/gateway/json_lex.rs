//! A pull reader over one JSON text, for the request encoder
//! ([`super::json_encode`]): it hands out one token at a time and keeps no
//! tree, so reading a body costs no memory beyond the strings that carry
//! escapes. It checks the JSON grammar (RFC 8259) as it goes and says where
//! a body breaks it (line and column); nesting is counted by the caller,
//! which recurses one level per container and caps it.
//!
//! It also hands out each number's literal text, so the encoder can tell an
//! integer literal (`9007199254740993`) from a double and refuse the ones a
//! double would round.

use std::borrow::Cow;

/// What the next value is, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// `{`
    Object,
    /// `[`
    Array,
    /// `"`
    String,
    /// `-` or a digit.
    Number,
    /// `true`
    True,
    /// `false`
    False,
    /// `null`
    Null,
}

/// The grammar broke at byte `at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset into the text.
    pub at: usize,
    /// What was expected or found.
    pub what: &'static str,
}

/// A number as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberText<'a> {
    /// The literal, e.g. `-12.5e3`.
    pub text: &'a str,
    /// Written without a fraction or exponent: `12`, `-7`.
    pub integer: bool,
}

/// A reader positioned inside a JSON text.
pub struct Lexer<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Lexer<'a> {
    /// A reader at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Self { text, at: 0 }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn fail<T>(&self, what: &'static str) -> Result<T, SyntaxError> {
        Err(SyntaxError { at: self.at, what })
    }

    fn skip_whitespace(&mut self) {
        let bytes = self.bytes();
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// `(line, column)`, both from 1, of byte `at` (columns count bytes, as
    /// serde_json's do).
    pub fn line_column(&self, at: usize) -> (usize, usize) {
        let before = &self.bytes()[..at.min(self.text.len())];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        (line, column)
    }

    /// The kind of the next value; fails at the end of the text or on a
    /// byte that starts no value.
    pub fn peek(&mut self) -> Result<Next, SyntaxError> {
        self.skip_whitespace();
        match self.bytes().get(self.at) {
            Some(b'{') => Ok(Next::Object),
            Some(b'[') => Ok(Next::Array),
            Some(b'"') => Ok(Next::String),
            Some(b'-' | b'0'..=b'9') => Ok(Next::Number),
            Some(b't') => Ok(Next::True),
            Some(b'f') => Ok(Next::False),
            Some(b'n') => Ok(Next::Null),
            Some(_) => self.fail("expected a value"),
            None => self.fail("unexpected end of the body"),
        }
    }

    fn expect_byte(&mut self, byte: u8, what: &'static str) -> Result<(), SyntaxError> {
        self.skip_whitespace();
        if self.bytes().get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            self.fail(what)
        }
    }

    /// Consumes `{`.
    pub fn begin_object(&mut self) -> Result<(), SyntaxError> {
        self.expect_byte(b'{', "expected '{'")
    }

    /// The next key of an object (after `{` or a value), with its `:`
    /// consumed; `None` at the closing `}`.
    pub fn next_key(&mut self, first: bool) -> Result<Option<Cow<'a, str>>, SyntaxError> {
        self.skip_whitespace();
        match self.bytes().get(self.at) {
            Some(b'}') => {
                self.at += 1;
                return Ok(None);
            }
            Some(b',') if !first => self.at += 1,
            Some(b'"') if first => {}
            _ if first => return self.fail("expected a key or '}'"),
            _ => return self.fail("expected ',' or '}'"),
        }
        self.skip_whitespace();
        if self.bytes().get(self.at) != Some(&b'"') {
            return self.fail("expected a key");
        }
        let key = self.string()?;
        self.expect_byte(b':', "expected ':'")?;
        Ok(Some(key))
    }

    /// Consumes `[`.
    pub fn begin_array(&mut self) -> Result<(), SyntaxError> {
        self.expect_byte(b'[', "expected '['")
    }

    /// Whether another element follows (after `[` or an element); consumes
    /// the `,` before it, or the closing `]`.
    pub fn next_element(&mut self, first: bool) -> Result<bool, SyntaxError> {
        self.skip_whitespace();
        match self.bytes().get(self.at) {
            Some(b']') => {
                self.at += 1;
                Ok(false)
            }
            Some(b',') if !first => {
                self.at += 1;
                Ok(true)
            }
            Some(_) if first => Ok(true),
            _ => self.fail("expected ',' or ']'"),
        }
    }

    /// Consumes `true`, `false` or `null` (whichever `word` is).
    pub fn literal(&mut self, word: &'static str) -> Result<(), SyntaxError> {
        self.skip_whitespace();
        if self.bytes()[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(())
        } else {
            self.fail("expected a value")
        }
    }

    /// A string, borrowed from the text unless it carries escapes.
    pub fn string(&mut self) -> Result<Cow<'a, str>, SyntaxError> {
        self.expect_byte(b'"', "expected a string")?;
        let bytes = self.bytes();
        let start = self.at;
        // Fast path: up to the closing quote with no escape.
        while let Some(&b) = bytes.get(self.at) {
            match b {
                b'"' => {
                    self.at += 1;
                    return Ok(Cow::Borrowed(&self.text[start..self.at - 1]));
                }
                b'\\' => break,
                0x00..=0x1f => return self.fail("control character in a string"),
                _ => self.at += 1,
            }
        }
        let mut owned = String::from(&self.text[start..self.at]);
        loop {
            let Some(&b) = bytes.get(self.at) else { return self.fail("unterminated string") };
            match b {
                b'"' => {
                    self.at += 1;
                    return Ok(Cow::Owned(owned));
                }
                b'\\' => {
                    self.at += 1;
                    let escaped = match bytes.get(self.at) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.at += 1;
                            owned.push(self.unicode_escape()?);
                            continue;
                        }
                        _ => return self.fail("invalid escape in a string"),
                    };
                    owned.push(escaped);
                    self.at += 1;
                }
                0x00..=0x1f => return self.fail("control character in a string"),
                _ => {
                    // Copy the run up to the next quote or escape at once;
                    // the text is UTF-8 and both stops are ASCII.
                    let run = bytes[self.at..]
                        .iter()
                        .position(|b| matches!(b, b'"' | b'\\' | 0x00..=0x1f))
                        .unwrap_or(bytes.len() - self.at);
                    owned.push_str(&self.text[self.at..self.at + run]);
                    self.at += run;
                }
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self.bytes().get(self.at..self.at + 4).and_then(|d| std::str::from_utf8(d).ok());
        match digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
            Some(value) if digits.is_some_and(|d| d.bytes().all(|b| b.is_ascii_hexdigit())) => {
                self.at += 4;
                Ok(value)
            }
            _ => self.fail("invalid \\u escape"),
        }
    }

    /// The character of a `\uXXXX` escape (the `\u` consumed), joining a
    /// surrogate pair; a lone surrogate is an error, as in serde_json.
    fn unicode_escape(&mut self) -> Result<char, SyntaxError> {
        let first = self.hex4()?;
        let code = match first {
            0xd800..=0xdbff => {
                if !self.bytes()[self.at..].starts_with(b"\\u") {
                    return self.fail("lone leading surrogate in a \\u escape");
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&second) {
                    return self.fail("lone leading surrogate in a \\u escape");
                }
                0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00)
            }
            0xdc00..=0xdfff => return self.fail("lone trailing surrogate in a \\u escape"),
            other => other,
        };
        char::from_u32(code).map_or_else(|| self.fail("invalid \\u escape"), Ok)
    }

    /// A number's literal, checked against the JSON grammar.
    pub fn number(&mut self) -> Result<NumberText<'a>, SyntaxError> {
        self.skip_whitespace();
        let bytes = self.bytes();
        let start = self.at;
        let digits = |at: &mut usize| {
            let from = *at;
            while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
                *at += 1;
            }
            *at - from
        };
        let mut at = self.at;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        match bytes.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => {
                digits(&mut at);
            }
            _ => {
                self.at = at;
                return self.fail("invalid number");
            }
        }
        let mut integer = true;
        if bytes.get(at) == Some(&b'.') {
            at += 1;
            integer = false;
            if digits(&mut at) == 0 {
                self.at = at;
                return self.fail("invalid number");
            }
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            integer = false;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            if digits(&mut at) == 0 {
                self.at = at;
                return self.fail("invalid number");
            }
        }
        self.at = at;
        Ok(NumberText { text: &self.text[start..at], integer })
    }

    /// Skips one whole value, returning its text (for the rare types the
    /// encoder hands to prost-reflect). `max_depth` caps its nesting.
    pub fn skip_value(&mut self, max_depth: usize) -> Result<&'a str, SyntaxError> {
        let start = {
            self.skip_whitespace();
            self.at
        };
        self.skip(max_depth)?;
        Ok(&self.text[start..self.at])
    }

    fn skip(&mut self, depth_left: usize) -> Result<(), SyntaxError> {
        match self.peek()? {
            Next::Object | Next::Array if depth_left == 0 => self.fail("nested too deeply"),
            Next::Object => {
                self.begin_object()?;
                let mut first = true;
                while self.next_key(first)?.is_some() {
                    first = false;
                    self.skip(depth_left - 1)?;
                }
                Ok(())
            }
            Next::Array => {
                self.begin_array()?;
                let mut first = true;
                while self.next_element(first)? {
                    first = false;
                    self.skip(depth_left - 1)?;
                }
                Ok(())
            }
            Next::String => self.string().map(drop),
            Next::Number => self.number().map(drop),
            Next::True => self.literal("true"),
            Next::False => self.literal("false"),
            Next::Null => self.literal("null"),
        }
    }

    /// Checks that only whitespace follows the value.
    pub fn finish(&mut self) -> Result<(), SyntaxError> {
        self.skip_whitespace();
        if self.at == self.text.len() { Ok(()) } else { self.fail("trailing characters after the value") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one value back into serde_json's tree, to compare with it.
    fn read(lexer: &mut Lexer<'_>) -> Result<serde_json::Value, SyntaxError> {
        Ok(match lexer.peek()? {
            Next::Object => {
                lexer.begin_object()?;
                let mut map = serde_json::Map::new();
                let mut first = true;
                while let Some(key) = lexer.next_key(first)? {
                    first = false;
                    let value = read(lexer)?;
                    map.insert(key.into_owned(), value);
                }
                serde_json::Value::Object(map)
            }
            Next::Array => {
                lexer.begin_array()?;
                let mut items = Vec::new();
                let mut first = true;
                while lexer.next_element(first)? {
                    first = false;
                    items.push(read(lexer)?);
                }
                serde_json::Value::Array(items)
            }
            Next::String => serde_json::Value::String(lexer.string()?.into_owned()),
            Next::Number => serde_json::from_str(lexer.number()?.text).unwrap(),
            Next::True => lexer.literal("true").map(|_| serde_json::Value::Bool(true))?,
            Next::False => lexer.literal("false").map(|_| serde_json::Value::Bool(false))?,
            Next::Null => lexer.literal("null").map(|_| serde_json::Value::Null)?,
        })
    }

    fn parse(text: &str) -> Result<serde_json::Value, SyntaxError> {
        let mut lexer = Lexer::new(text);
        let value = read(&mut lexer)?;
        lexer.finish()?;
        Ok(value)
    }

    #[test]
    fn reads_what_serde_json_reads() {
        for text in [
            r#"{"a": [1, -2.5e3, 0, "x\"y\\z\u00e9\ud83d\ude00\n", true, false, null], "b": {}, "c": []}"#,
            " [ ] ",
            r#""plain ünïcode""#,
            "-0",
            "1E+2",
            r#"{"k":{"k":{"k":[[[]]]}}}"#,
        ] {
            assert_eq!(parse(text).unwrap(), serde_json::from_str::<serde_json::Value>(text).unwrap(), "{text}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "+1",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"a\u{1}\"",
            "[1 2]",
            "{1: 2}",
            "tru",
            "nul",
            "1 2",
            "\"open",
            "[\"\\u12\"]",
        ] {
            assert!(parse(text).is_err(), "{text:?} should be refused");
            assert!(serde_json::from_str::<serde_json::Value>(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn numbers_keep_their_literal_and_say_whether_they_are_integers() {
        let mut lexer = Lexer::new("9007199254740993");
        assert_eq!(lexer.number().unwrap(), NumberText { text: "9007199254740993", integer: true });
        let mut lexer = Lexer::new("1.0e400");
        assert_eq!(lexer.number().unwrap(), NumberText { text: "1.0e400", integer: false });
    }

    #[test]
    fn errors_say_where() {
        let text = "{\n  \"a\": [1,\n  ]\n}";
        let mut lexer = Lexer::new(text);
        let err = parse(text).unwrap_err();
        assert_eq!(lexer.line_column(err.at), (3, 3));
        assert_eq!(err.what, "expected a value");
        lexer.finish().unwrap_err();
    }

    #[test]
    fn skipping_is_capped() {
        let deep = "[".repeat(100_000);
        assert_eq!(Lexer::new(&deep).skip_value(64).unwrap_err().what, "nested too deeply");
        assert_eq!(Lexer::new(" {\"a\": [1]} ,").skip_value(64).unwrap(), "{\"a\": [1]}");
    }
}
