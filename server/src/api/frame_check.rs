//! The shape of a unary-request gRPC body, checked as its bytes arrive:
//! exactly one length-prefixed message (a 1-byte flag, a 4-byte big-endian
//! length, the payload), no more, no less.
//!
//! tonic answers INTERNAL to every framing mistake (a compressed flag with
//! no `grpc-encoding`, an unknown flag, a body that ends early, no message
//! at all) and silently ignores what follows the first message. All of these
//! are the client's mistakes; [`FrameProblem`] names each one so the caller
//! can answer INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for the size limit).

use std::fmt;

/// Bytes of a gRPC frame header: the flag and the length.
pub const HEADER_LEN: usize = 5;

/// What is wrong with a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameProblem {
    /// The body is empty.
    NoMessage,
    /// The body ends inside the 5-byte header.
    TruncatedHeader {
        /// Bytes received.
        received: usize,
    },
    /// The compressed flag is set but the request names no encoding.
    CompressedWithoutEncoding,
    /// A flag other than 0 (plain) or 1 (compressed).
    UnknownFlag(u8),
    /// The declared length is over the limit.
    TooLarge {
        /// Declared length.
        length: usize,
        /// The limit.
        limit: usize,
    },
    /// The body ends before the declared length.
    Truncated {
        /// Declared length.
        declared: usize,
        /// Payload bytes received.
        received: usize,
    },
    /// Bytes follow the message.
    TrailingBytes,
}

impl fmt::Display for FrameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMessage => write!(f, "the request body holds no gRPC message"),
            Self::TruncatedHeader { received } => {
                write!(
                    f,
                    "the request body ends inside the {HEADER_LEN}-byte gRPC frame header, after {received} bytes"
                )
            }
            Self::CompressedWithoutEncoding => {
                write!(f, "the gRPC frame is flagged compressed but the request names no grpc-encoding")
            }
            Self::UnknownFlag(flag) => {
                write!(f, "the gRPC frame flag is {flag}; only 0 (plain) and 1 (compressed) are defined")
            }
            Self::TooLarge { length, limit } => {
                write!(f, "request message of {length} bytes is over the {limit}-byte limit")
            }
            Self::Truncated { declared, received } => write!(
                f,
                "the gRPC frame declares a {declared}-byte message but the request body ends after {received} bytes of it"
            ),
            Self::TrailingBytes => {
                write!(f, "the request body goes on after its gRPC message; this call takes exactly one message")
            }
        }
    }
}

/// Follows one unary request body: feed it with [`push`](Self::push), then
/// call [`finish`](Self::finish) at its end. The first problem is final.
#[derive(Debug)]
pub struct UnaryFrame {
    limit: usize,
    encoding_named: bool,
    header: [u8; HEADER_LEN],
    header_len: usize,
    declared: Option<usize>,
    received: usize,
}

impl UnaryFrame {
    /// A body whose message may declare up to `limit` bytes;
    /// `encoding_named` says whether the request names a `grpc-encoding`
    /// other than `identity` (only then may the compressed flag be set).
    pub fn new(limit: usize, encoding_named: bool) -> Self {
        Self { limit, encoding_named, header: [0; HEADER_LEN], header_len: 0, declared: None, received: 0 }
    }

    /// The next bytes of the body.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<(), FrameProblem> {
        if self.declared.is_none() {
            let take = (HEADER_LEN - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            if self.header_len < HEADER_LEN {
                return Ok(());
            }
            self.declared = Some(self.check_header()?);
        }
        let declared = self.declared.unwrap_or_default();
        if self.received + bytes.len() > declared {
            return Err(FrameProblem::TrailingBytes);
        }
        self.received += bytes.len();
        Ok(())
    }

    /// The body has ended.
    pub fn finish(&self) -> Result<(), FrameProblem> {
        match self.declared {
            None if self.header_len == 0 => Err(FrameProblem::NoMessage),
            None => Err(FrameProblem::TruncatedHeader { received: self.header_len }),
            Some(declared) if self.received < declared => {
                Err(FrameProblem::Truncated { declared, received: self.received })
            }
            Some(_) => Ok(()),
        }
    }

    fn check_header(&self) -> Result<usize, FrameProblem> {
        match self.header[0] {
            0 => {}
            1 if self.encoding_named => {}
            1 => return Err(FrameProblem::CompressedWithoutEncoding),
            flag => return Err(FrameProblem::UnknownFlag(flag)),
        }
        let [_, a, b, c, d] = self.header;
        let length = u32::from_be_bytes([a, b, c, d]) as usize;
        if length > self.limit {
            return Err(FrameProblem::TooLarge { length, limit: self.limit });
        }
        Ok(length)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &[u8], split: usize) -> Result<(), FrameProblem> {
        let mut frame = UnaryFrame::new(100, false);
        let (a, b) = body.split_at(split.min(body.len()));
        frame.push(a)?;
        frame.push(b)?;
        frame.finish()
    }

    #[test]
    fn one_whole_frame_passes_however_it_is_split() {
        let body = [0, 0, 0, 0, 3, b'a', b'b', b'c'];
        for split in 0..=body.len() {
            assert_eq!(check(&body, split), Ok(()), "split at {split}");
        }
        assert_eq!(check(&[0, 0, 0, 0, 0], 2), Ok(()), "an empty message is a message");
    }

    #[test]
    fn each_mistake_is_named() {
        assert_eq!(check(&[], 0), Err(FrameProblem::NoMessage));
        assert_eq!(check(&[0, 0, 0], 1), Err(FrameProblem::TruncatedHeader { received: 3 }));
        assert_eq!(check(&[0, 0, 0, 0, 3, b'a'], 3), Err(FrameProblem::Truncated { declared: 3, received: 1 }));
        assert_eq!(check(&[0, 0, 0, 0, 1, b'a', 0], 6), Err(FrameProblem::TrailingBytes));
        assert_eq!(check(&[0, 0, 0, 0, 1, b'a', 0], 7), Err(FrameProblem::TrailingBytes));
        assert_eq!(check(&[1, 0, 0, 0, 1, b'a'], 6), Err(FrameProblem::CompressedWithoutEncoding));
        assert_eq!(check(&[0x80, 0, 0, 0, 1, b'a'], 6), Err(FrameProblem::UnknownFlag(0x80)));
        assert_eq!(check(&[0, 0, 0, 0, 101], 5), Err(FrameProblem::TooLarge { length: 101, limit: 100 }));
        assert_eq!(
            check(&[0, 0xff, 0xff, 0xff, 0xff], 5),
            Err(FrameProblem::TooLarge { length: u32::MAX as usize, limit: 100 })
        );
    }

    #[test]
    fn the_compressed_flag_passes_when_an_encoding_is_named() {
        let mut frame = UnaryFrame::new(100, true);
        frame.push(&[1, 0, 0, 0, 1, b'z']).unwrap();
        frame.finish().unwrap();
    }
}
