//! Middleware: the Host check against DNS rebinding.
//!
//! A page on `http://evil.example:7070/` whose name an attacker points at
//! 127.0.0.1 is same-origin with a server on loopback as far as the browser
//! knows, so CORS does not stop it; only the `Host` it sends still names the
//! attacker's domain. So when the server listens on a loopback address,
//! every request (gRPC, gRPC-web, REST, preflights) must name a host it
//! answers to:
//!
//! - `localhost` and `*.localhost` (browsers resolve these to loopback
//!   themselves, never through DNS);
//! - a loopback address: `127.x.x.x`, `[::1]`;
//! - a name in `[http] allowed_hosts` (`WEFT_ALLOWED_HOSTS`);
//! - the host of `[webhook] public_url`, where webhook receivers call back.
//!
//! Any port. The host is read from HTTP/2's `:authority` and from `Host`;
//! each one present must pass. A request with neither (HTTP/1.0) passes: no
//! browser sends one. Refused REST calls get 421 Misdirected Request with
//! the usual error body (`error_code` `MISDIRECTED_REQUEST`); gRPC and
//! gRPC-web calls get a trailers-only PERMISSION_DENIED with the same
//! reason, which every gRPC client reads (a bare 421 would reach them as
//! UNKNOWN).
//!
//! On any other listen address (`0.0.0.0`, a LAN address) the server is
//! meant to be reached under names this check cannot know, and nothing is
//! checked: API keys protect it there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{StatusCode, header};
use tonic::Code;

use super::errors;
use crate::api::error;

/// The host names a loopback listener answers to.
#[derive(Debug, Clone)]
pub struct HostCheck(Option<Arc<Vec<String>>>);

impl HostCheck {
    /// The check for a server listening on `listen`: none unless it is a
    /// loopback address. `allowed` are canonical host names (see
    /// `config::http::canonical_host`); `public_url` is the webhook base URL.
    pub fn new(listen: SocketAddr, allowed: Vec<String>, public_url: Option<&str>) -> Self {
        if !listen.ip().is_loopback() {
            return Self(None);
        }
        let mut names = allowed;
        names.extend(public_url.and_then(url_host));
        Self(Some(Arc::new(names)))
    }

    /// Whether a request naming `authority` (`Host` or `:authority`) passes.
    fn allows(&self, authority: &str) -> bool {
        let Some(names) = &self.0 else { return true };
        match authority_host(authority) {
            Some(host) => is_loopback_name(&host) || names.contains(&host),
            None => false,
        }
    }
}

/// The host of an absolute URL (`https://weft.example/base`), canonical.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    authority_host(authority.rsplit_once('@').map_or(authority, |(_, host)| host))
}

/// The host of `host[:port]` (`[v6]:port` for IPv6): lower case, without a
/// trailing dot, IPv6 in brackets. `None` when it is malformed.
fn authority_host(authority: &str) -> Option<String> {
    let host = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let after = &authority[end + 1..];
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))) {
            return None;
        }
        let address: Ipv6Addr = authority[1..end].parse().ok()?;
        return Some(format!("[{address}]"));
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            Some(_) => return None,
            None => authority,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let valid = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    valid.then(|| host.to_ascii_lowercase())
}

/// `localhost`, `*.localhost`, `127.x.x.x` or `[::1]` (canonical form).
fn is_loopback_name(host: &str) -> bool {
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok_and(|a| IpAddr::V6(a).is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|a| a.is_loopback())
}

/// What the refusal says: the host named, and how to allow it.
fn refusal_message(authority: &str) -> String {
    /// The client's text is echoed, so it is cut short.
    const SHOWN: usize = 100;
    let shown: String = authority.chars().take(SHOWN).collect();
    format!(
        "this server listens on a loopback address and answers only to localhost, loopback addresses and the \
         names in [http] allowed_hosts (WEFT_ALLOWED_HOSTS); the request named host '{shown}' (refused so that \
         a web page cannot reach it by DNS rebinding)"
    )
}

/// The refusal in the caller's protocol (see the module docs).
fn refuse(request: &Request, authority: &str) -> Response {
    let message = refusal_message(authority);
    let content_type = request.headers().get(header::CONTENT_TYPE);
    let grpc = content_type.and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("application/grpc"));
    if grpc {
        return error::trailers_only(error::misdirected(message), request.headers());
    }
    errors::gateway(Code::PermissionDenied, "MISDIRECTED_REQUEST", message, Some(StatusCode::MISDIRECTED_REQUEST))
}

/// Middleware: passes requests that name an allowed host (or none), refuses
/// the others before anything reads them.
pub async fn check(State(hosts): State<HostCheck>, request: Request, next: Next) -> Response {
    if hosts.0.is_some() {
        let authority = request.uri().authority().map(|a| a.as_str().to_owned());
        let host_header = request.headers().get(header::HOST).map(|v| v.to_str().unwrap_or("\u{fffd}").to_owned());
        for named in authority.iter().chain(host_header.iter()) {
            if !hosts.allows(named) {
                tracing::debug!(host = %named, path = %request.uri().path(), "refused a request naming another host");
                return refuse(&request, named);
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback(allowed: &[&str], public_url: Option<&str>) -> HostCheck {
        let allowed = allowed.iter().map(|s| s.to_string()).collect();
        HostCheck::new(SocketAddr::from(([127, 0, 0, 1], 7070)), allowed, public_url)
    }

    #[test]
    fn loopback_names_pass_on_any_port_and_others_do_not() {
        let check = loopback(&[], None);
        for ok in [
            "localhost",
            "localhost:7070",
            "LOCALHOST:1",
            "app.localhost:80",
            "127.0.0.1:7070",
            "127.1.2.3",
            "[::1]:7070",
            "[::1]",
            "localhost.",
        ] {
            assert!(check.allows(ok), "{ok} passes");
        }
        for bad in [
            "rebind.test:7070",
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1:7070",
            "[::2]:1",
            "",
            ":7070",
            "localhost:x",
            "[::1]x",
            "a b",
        ] {
            assert!(!check.allows(bad), "{bad} is refused");
        }
    }

    #[test]
    fn configured_names_and_the_public_url_host_pass() {
        let check = loopback(&["weft.internal"], Some("https://Hooks.Example.com:8443/weft"));
        assert!(check.allows("weft.internal:7070"));
        assert!(check.allows("WEFT.internal"));
        assert!(check.allows("hooks.example.com"));
        assert!(!check.allows("other.internal"));
    }

    #[test]
    fn a_listener_on_another_address_checks_nothing() {
        let check = HostCheck::new(SocketAddr::from(([0, 0, 0, 0], 7070)), Vec::new(), None);
        assert!(check.allows("anything.example:1"));
    }
}
