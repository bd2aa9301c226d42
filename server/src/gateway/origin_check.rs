//! Middleware: a browser on another origin may not change anything, even by
//! a request CORS lets through unasked.
//!
//! CORS only hides answers: a page may still *send* a "simple" request
//! cross-origin, and a POST with no body and no `Content-Type` (a cancel, a
//! pause) carries nothing for the media-type check (`media_type`) to refuse.
//! So a request that is not a read (anything but GET, HEAD, OPTIONS) and
//! that a browser marks as coming from another origin is refused with 403,
//! `error_code` `CROSS_ORIGIN_REQUEST`, unless its `Origin` is one of
//! `[http] cors_origins`. The browser's marks, as Go's
//! `http.CrossOriginProtection` reads them:
//!
//! - `Sec-Fetch-Site`: `same-origin` and `none` (typed by the user) pass,
//!   `same-site` and `cross-site` do not;
//! - without it (older browsers), `Origin` must name the request's own host
//!   (`Host`), and `null` never does.
//!
//! Requests with neither header are not from a browser page (curl, SDKs,
//! workers) and pass. A page served by the server itself is same-origin and
//! passes; behind a proxy that rewrites `Host`, list the public origin in
//! `cors_origins`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{HeaderMap, Method, StatusCode, header};
use tonic::Code;

use super::errors;
use crate::api::error;

/// The origins whose pages may change things (canonical, as browsers send
/// `Origin`).
#[derive(Debug, Clone)]
pub struct OriginCheck(Arc<Vec<String>>);

impl OriginCheck {
    /// The check admitting `origins` (`HttpSettings::origins`).
    pub fn new(origins: Vec<String>) -> Self {
        Self(Arc::new(origins))
    }

    /// Whether a request with `method` and `headers` comes from a page on an
    /// origin that may not change anything.
    fn refuses(&self, method: &Method, headers: &HeaderMap) -> bool {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return false;
        }
        let text = |name: header::HeaderName| headers.get(name).map(|v| v.to_str().unwrap_or_default());
        let origin = text(header::ORIGIN);
        if origin.is_some_and(|o| self.0.iter().any(|allowed| allowed == o)) {
            return false;
        }
        match text(header::HeaderName::from_static("sec-fetch-site")) {
            Some("same-origin" | "none") => false,
            Some(_) => true,
            None => match origin {
                None => false,
                Some(origin) => {
                    let own = text(header::HOST).unwrap_or_default();
                    origin.split_once("://").is_none_or(|(_, authority)| !authority.eq_ignore_ascii_case(own))
                }
            },
        }
    }
}

/// The refusal in the caller's protocol: 403 with the usual error body, or
/// a trailers-only PERMISSION_DENIED for gRPC and gRPC-web.
fn refuse(request: &Request) -> Response {
    let origin = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
    let shown: String = origin.chars().take(100).collect();
    let message = format!(
        "a page on {shown} may not change anything on this server; allow its origin in [http] cors_origins \
         (WEFT_CORS_ORIGINS)"
    );
    let content_type = request.headers().get(header::CONTENT_TYPE);
    if content_type.is_some_and(|t| t.as_bytes().starts_with(b"application/grpc")) {
        return error::trailers_only(error::cross_origin(message), request.headers());
    }
    errors::gateway(Code::PermissionDenied, "CROSS_ORIGIN_REQUEST", message, Some(StatusCode::FORBIDDEN))
}

/// Middleware: refuses changes from pages on other origins (see the module
/// docs) before anything reads them.
pub async fn check(State(origins): State<OriginCheck>, request: Request, next: Next) -> Response {
    if origins.refuses(request.method(), request.headers()) {
        tracing::debug!(path = %request.uri().path(), "refused a change from a page on another origin");
        return refuse(&request);
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn pages_on_other_origins_cannot_change_anything() {
        let check = OriginCheck::new(vec!["http://console.example".into()]);
        let post = Method::POST;
        let refused: &[&[(&str, &str)]] = &[
            &[("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")],
            &[("origin", "http://127.0.0.1:9999"), ("sec-fetch-site", "same-site"), ("host", "127.0.0.1:7070")],
            &[("origin", "http://evil.example"), ("host", "127.0.0.1:7070")],
            &[("origin", "null"), ("host", "127.0.0.1:7070")],
        ];
        for pairs in refused {
            assert!(check.refuses(&post, &headers(pairs)), "{pairs:?}");
            assert!(check.refuses(&Method::DELETE, &headers(pairs)), "{pairs:?}");
            assert!(!check.refuses(&Method::GET, &headers(pairs)), "reads are CORS's business: {pairs:?}");
        }
        let passed: &[&[(&str, &str)]] = &[
            &[],
            &[("host", "127.0.0.1:7070")],
            &[("origin", "http://console.example"), ("sec-fetch-site", "cross-site")],
            &[("origin", "http://127.0.0.1:7070"), ("sec-fetch-site", "same-origin")],
            &[("sec-fetch-site", "none")],
            &[("origin", "http://127.0.0.1:7070"), ("host", "127.0.0.1:7070")],
        ];
        for pairs in passed {
            assert!(!check.refuses(&post, &headers(pairs)), "{pairs:?}");
        }
    }
}
