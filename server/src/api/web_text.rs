//! Decoding a gRPC-web-text request body (base64) as it arrives.
//!
//! tonic-web decodes it too, but answers INTERNAL to bytes that are not
//! base64, and whether it accepts padding inside the body (a client may
//! encode each message separately and concatenate them) depends on where
//! the network happened to split the chunks. This decoder accepts the same
//! body however it is split: whole 4-character groups, padding only at the
//! end of a group, each padded group ending one encoded run. The caller
//! passes the decoded bytes on as binary gRPC-web, so tonic-web never sees
//! the text.

use base64::DecodeError;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet; padded and unpadded runs alike.
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Incremental base64 decoder of one request body.
#[derive(Debug, Default)]
pub struct TextDecoder {
    /// Characters of an incomplete group, carried to the next chunk.
    pending: Vec<u8>,
    /// Characters decoded so far, for error positions.
    consumed: usize,
}

impl TextDecoder {
    /// Decodes the whole groups of `pending` + `text` into `out`.
    pub fn push(&mut self, text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self.pending.extend_from_slice(text);
        let whole = self.pending.len() / 4 * 4;
        let mut start = 0;
        for group in (0..whole).step_by(4) {
            let padded = self.pending[group + 2] == b'=' || self.pending[group + 3] == b'=';
            if padded {
                self.decode_run(start, group + 4, out)?;
                start = group + 4;
            }
        }
        self.decode_run(start, whole, out)?;
        self.pending.drain(..whole);
        self.consumed += whole;
        Ok(())
    }

    /// The body has ended: nothing may be left over.
    pub fn finish(&self) -> Result<(), String> {
        match self.pending.len() {
            0 => Ok(()),
            left => Err(format!(
                "the gRPC-web-text body is not base64: it ends with {left} characters that do not make a 4-character group"
            )),
        }
    }

    fn decode_run(&self, start: usize, end: usize, out: &mut Vec<u8>) -> Result<(), String> {
        if start == end {
            return Ok(());
        }
        ENGINE.decode_vec(&self.pending[start..end], out).map_err(|e| {
            let at = self.consumed + start;
            let problem = match e {
                DecodeError::InvalidByte(i, byte) => {
                    format!("character {} ({:?}) is not in the base64 alphabet here", at + i, char::from(byte))
                }
                DecodeError::InvalidLastSymbol(i, _) => format!("character {} leaves stray bits", at + i),
                DecodeError::InvalidLength(_) | DecodeError::InvalidPadding => {
                    format!("the group before character {end} is malformed", end = self.consumed + end)
                }
            };
            format!("the gRPC-web-text body is not base64: {problem}")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> Result<Vec<u8>, String> {
        let mut decoder = TextDecoder::default();
        let mut out = Vec::new();
        for chunk in chunks {
            decoder.push(chunk, &mut out)?;
        }
        decoder.finish()?;
        Ok(out)
    }

    #[test]
    fn any_split_of_concatenated_padded_runs_decodes_the_same() {
        // "ab" and "cde" encoded separately: "YWI=" + "Y2Rl".
        let text = b"YWI=Y2Rl";
        for split in 0..=text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(decode(&[a, b]).unwrap(), b"abcde", "split at {split}");
        }
        assert_eq!(decode(&[b"YQ==", b"Yg==", b"Yw=="]).unwrap(), b"abc");
        assert_eq!(decode(&[]).unwrap(), b"");
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(decode(&[b"!!!!"]).unwrap_err().contains("not base64"));
        assert!(decode(&[b"YW=I"]).unwrap_err().contains("not base64"), "padding inside a group");
        assert!(decode(&[b"=AAA"]).unwrap_err().contains("not base64"));
        assert!(decode(&[b"YWJj", b"YQ"]).unwrap_err().contains("2 characters"), "a partial last group");
        assert!(decode(&[b"YWJj\r\nYWJj"]).unwrap_err().contains("character 4"), "line breaks");
    }
}
