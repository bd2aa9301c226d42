//! Structure read from fuzzer bytes. Every read succeeds: past the end of
//! the input it yields zeros, so any byte string is a valid recipe and the
//! fuzzer's mutations (flips, splices, truncation) stay meaningful.

/// A cursor over fuzzer bytes.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    /// A cursor at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// True when every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    /// The next byte, 0 past the end.
    pub fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    /// The next two bytes as a number, 0 past the end.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// The next eight bytes as a number.
    pub fn u64(&mut self) -> u64 {
        let mut raw = [0u8; 8];
        for b in &mut raw {
            *b = self.byte();
        }
        u64::from_le_bytes(raw)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        if n <= 256 { usize::from(self.byte()) % n } else { usize::from(self.u16()) % n }
    }

    /// True about once in `n` reads.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// One of `items`, which must not be empty.
    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// One of `words`, which must not be empty.
    pub fn word(&mut self, words: &[&'static str]) -> &'static str {
        words[self.below(words.len())]
    }

    /// Up to `max` raw bytes as text (invalid UTF-8 replaced), so strings
    /// carry control characters, quotes, escapes and non-ASCII text.
    pub fn text(&mut self, max: usize) -> String {
        let len = self.below(max + 1).min(self.bytes.len().saturating_sub(self.at));
        let start = self.at.min(self.bytes.len());
        let end = (start + len).min(self.bytes.len());
        self.at = end;
        String::from_utf8_lossy(&self.bytes[start..end]).into_owned()
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let start = self.at.min(self.bytes.len());
        self.at = self.bytes.len();
        &self.bytes[start..]
    }
}

/// A corpus file written by hand: `#`, the text (an expression or a
/// template), then a line `---` and the state as JSON (`{}` when absent or
/// not JSON). `None` when the bytes are not written that way.
pub fn written(bytes: &[u8]) -> Option<(String, serde_json::Value)> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"#")?).ok()?;
    let (source, state) = text.split_once("\n---\n").unwrap_or((text, "{}"));
    let state = serde_json::from_str(state).unwrap_or_else(|_| serde_json::json!({}));
    Some((source.to_string(), state))
}
