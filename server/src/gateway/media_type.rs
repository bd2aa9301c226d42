//! The one media type REST bodies may have: `application/json`, optionally
//! with `charset=utf-8`.
//!
//! Why it is enforced: a browser sends a cross-origin POST without asking
//! the server first (no CORS preflight) only when its content type is
//! `text/plain`, `application/x-www-form-urlencoded` or
//! `multipart/form-data`. Refusing those (415) before anything reads the
//! body means a web page cannot start or change anything through a "simple"
//! request; a JSON call has to pass the preflight, which only configured
//! origins do. A request with no body and no `Content-Type` (a bare POST
//! such as a cancel) passes as before; a body needs its type stated.
//! DeliverCallback's route keeps its own rules: its HMAC signature over the
//! raw body is what protects it (`callback`).

use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};
use tonic::Code;

use super::transcode::Refusal;

/// The media type REST bodies are written in.
pub const JSON: &str = "application/json";

/// What a request's `Content-Type` says about its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// `application/json` (charset utf-8, if named).
    Json,
    /// No `Content-Type`: only an empty body may come without one.
    Nothing,
}

/// Reads the `Content-Type` of a request to a route that takes a body.
pub fn declared(headers: &HeaderMap) -> Result<Declared, Refusal> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(Declared::Nothing) };
    let text = value.to_str().map_err(|_| unsupported("a Content-Type that is not ASCII"))?;
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(JSON) {
        return Err(unsupported(&quoted(text)));
    }
    for parameter in parts.map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = parameter.split_once('=').unwrap_or((parameter, ""));
        let value = value.trim().trim_matches('"');
        if !(name.trim().eq_ignore_ascii_case("charset") && value.eq_ignore_ascii_case("utf-8")) {
            return Err(unsupported(&quoted(text)));
        }
    }
    Ok(Declared::Json)
}

/// The refusal of a non-empty body sent without a `Content-Type`.
pub fn undeclared_body() -> Refusal {
    unsupported("a body with no Content-Type")
}

/// The client's text, quoted and cut short.
fn quoted(text: &str) -> String {
    const SHOWN: usize = 100;
    format!("Content-Type '{}'", text.chars().take(SHOWN).collect::<String>())
}

fn unsupported(received: &str) -> Refusal {
    Refusal {
        code: Code::InvalidArgument,
        reason: "UNSUPPORTED_MEDIA_TYPE",
        message: format!("the request has {received}; REST bodies must be {JSON} (optionally; charset=utf-8)"),
        http: Some(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    }
}

/// The `Accept` header a 415 answer carries: what would have been taken
/// (RFC 9110 §15.5.16).
pub fn accept_header() -> (header::HeaderName, HeaderValue) {
    (header::ACCEPT, HeaderValue::from_static(JSON))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(content_type: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        headers
    }

    #[test]
    fn json_with_or_without_utf8_is_taken() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
            "application/json;",
        ] {
            assert_eq!(declared(&with(ok)).unwrap(), Declared::Json, "{ok}");
        }
        assert_eq!(declared(&HeaderMap::new()).unwrap(), Declared::Nothing);
    }

    #[test]
    fn every_other_type_is_415_naming_what_was_sent() {
        for bad in [
            "text/plain",
            "text/plain;charset=UTF-8",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/json; charset=latin1",
            "application/json; boundary=x",
            "application/jsonp",
            "application/merge-patch+json",
            "",
        ] {
            let refusal = declared(&with(bad)).unwrap_err();
            assert_eq!(refusal.http, Some(StatusCode::UNSUPPORTED_MEDIA_TYPE), "{bad}");
            assert_eq!(refusal.reason, "UNSUPPORTED_MEDIA_TYPE");
            assert!(
                refusal.message.contains(&format!("'{bad}'")) && refusal.message.contains(JSON),
                "{}",
                refusal.message
            );
        }
    }
}
