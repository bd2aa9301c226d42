//! Opaque page tokens: the position of the last row served plus a
//! fingerprint of the query, so a token is refused with another query.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::api::error;

/// Where a page ended: (created_at_ms, id) of its last row.
pub type Position = (i64, String);

/// Where a page ordered by a text key (a name) ended: (key, id) of its
/// last row.
pub type TextPosition = (String, String);

/// Encodes a position for the given query fingerprint.
pub fn encode(position: &Position, fingerprint: &str) -> String {
    let plain = format!("1|{}|{}|{}", position.0, position.1, fingerprint);
    URL_SAFE_NO_PAD.encode(plain)
}

/// The refusal of any token that is not one this server issued for the
/// same query.
fn bad() -> tonic::Status {
    error::invalid_argument("page_token", "the page token is malformed or belongs to another query")
}

/// A token's text (`<kind>|<key>|<id>|<fingerprint>`), if it is base64
/// text of a plausible length.
fn plain(token: &str) -> Result<String, tonic::Status> {
    if token.len() > 2048 {
        return Err(bad());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    String::from_utf8(bytes).map_err(|_| bad())
}

/// Decodes a token, checking it belongs to the query `fingerprint`.
pub fn decode(token: &str, fingerprint: &str) -> Result<Position, tonic::Status> {
    let plain = plain(token)?;
    let mut parts = plain.splitn(4, '|');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("1"), Some(ms), Some(id), Some(fp)) if fp == fingerprint => {
            Ok((ms.parse().map_err(|_| bad())?, id.to_string()))
        }
        _ => Err(bad()),
    }
}

/// Encodes a text-keyed position; the key is base64 inside the token so
/// it may hold any character, the separator included.
pub fn encode_text(position: &TextPosition, fingerprint: &str) -> String {
    let plain = format!("2|{}|{}|{}", URL_SAFE_NO_PAD.encode(&position.0), position.1, fingerprint);
    URL_SAFE_NO_PAD.encode(plain)
}

/// Decodes a token of [`encode_text`], checking it belongs to `fingerprint`.
pub fn decode_text(token: &str, fingerprint: &str) -> Result<TextPosition, tonic::Status> {
    let plain = plain(token)?;
    let mut parts = plain.splitn(4, '|');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("2"), Some(key), Some(id), Some(fp)) if fp == fingerprint => {
            let key = URL_SAFE_NO_PAD.decode(key).ok().and_then(|k| String::from_utf8(k).ok()).ok_or_else(bad)?;
            Ok((key, id.to_string()))
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trips_for_the_same_query() {
        let token = encode(&(42, "wf_a".into()), "status=active");
        assert_eq!(decode(&token, "status=active").unwrap(), (42, "wf_a".to_string()));
    }

    #[test]
    fn token_of_another_query_is_refused() {
        let token = encode(&(42, "wf_a".into()), "status=active");
        assert_eq!(decode(&token, "status=paused").unwrap_err().code(), tonic::Code::InvalidArgument);
        assert_eq!(decode("!!", "").unwrap_err().code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn text_token_round_trips_any_key_and_is_not_a_time_token() {
        let token = encode_text(&("a|b".into(), "wf_a".into()), "q");
        assert_eq!(decode_text(&token, "q").unwrap(), ("a|b".to_string(), "wf_a".to_string()));
        assert!(decode(&token, "q").is_err());
        assert!(decode_text(&encode(&(1, "wf_a".into()), "q"), "q").is_err());
        assert!(decode_text(&token, "other").is_err());
    }
}
