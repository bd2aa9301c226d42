//! The one HTTP client outbound steps use: reqwest with the SSRF rules
//! applied where they cannot be dodged. An IP-literal URL is checked before
//! sending (reqwest resolves nothing for it); a host name is checked by the
//! client's own DNS resolver, on the addresses it will actually connect to,
//! so a name that resolves differently a second time (DNS rebinding) is
//! still caught; every redirect is checked by the redirect policy. No
//! proxy is ever used, since a proxy would connect on our behalf unchecked.

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{Method, Url, redirect};

use super::address::{self, AllowList, Refusal};

/// Most redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;

/// Limits of the outbound client.
#[derive(Debug, Clone)]
pub struct ClientLimits {
    /// Networks allowed despite the SSRF rules.
    pub allow: AllowList,
    /// Whole-request timeout (connect, send, read the body).
    pub timeout: Duration,
    /// Largest response body kept; a larger one fails the request.
    pub max_response_bytes: usize,
}

/// A request to make. Its Debug shows header names only: a value may hold
/// a secret.
#[derive(Clone)]
pub struct OutboundRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Absolute http(s) URL.
    pub url: String,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// A whole-request timeout for this request instead of the client's.
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for OutboundRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("OutboundRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &names)
            .field("body_bytes", &self.body.as_ref().map(Vec::len))
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The answer, its body capped.
#[derive(Debug, Clone)]
pub struct OutboundResponse {
    /// Status code.
    pub status: u16,
    /// Headers, lower-case names, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl OutboundResponse {
    /// Whether a refusing answer is one another attempt may not meet: a
    /// timeout (408), a rate limit (429), a server error (5xx).
    pub fn is_transient_refusal(&self) -> bool {
        self.status == 408 || self.status == 429 || self.status >= 500
    }

    /// The start of the body (200 bytes) as `": text"`, for an error
    /// message; empty for an empty body.
    pub fn snippet(&self) -> String {
        if self.body.is_empty() {
            return String::new();
        }
        let text = String::from_utf8_lossy(&self.body[..self.body.len().min(200)]).into_owned();
        format!(": {}", text.trim())
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// An SSRF rule refused the address.
    #[error("{0}")]
    Refused(Refusal),
    /// The URL or a header cannot be sent.
    #[error("cannot send the request: {0}")]
    Invalid(String),
    /// No answer within the timeout.
    #[error("no answer from {url} within {after}")]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout, written like "30s" or "300ms".
        after: String,
    },
    /// The body is over the cap.
    #[error("the response body is over the {limit}-byte limit")]
    TooLarge {
        /// The cap, bytes.
        limit: usize,
    },
    /// Connection, TLS, protocol or redirect trouble.
    #[error("the request to {url} failed: {message}")]
    Transport {
        /// The URL.
        url: String,
        /// The cause, with its sources.
        message: String,
    },
}

impl OutboundError {
    /// Whether another attempt may get an answer: transport trouble and
    /// timeouts may pass; a refused address or an unsendable request will
    /// be refused again, and a body over the cap is the caller's to judge.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Transport { .. } => true,
            Self::Refused(_) | Self::Invalid(_) | Self::TooLarge { .. } => false,
        }
    }
}

/// The guarded client; cheap to clone.
#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    limits: Arc<ClientLimits>,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient").field("limits", &self.limits).finish()
    }
}

static CRYPTO: Once = Once::new();

impl OutboundClient {
    /// Builds the client.
    pub fn new(limits: ClientLimits) -> Result<Self, String> {
        CRYPTO.call_once(|| {
            // Another part of the process may have installed one already;
            // any provider will do.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let allow = Arc::new(limits.allow.clone());
        let policy_allow = allow.clone();
        let policy = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            if !matches!(attempt.url().scheme(), "http" | "https") {
                let message = format!("a redirect to a non-HTTP URL ({}) was refused", attempt.url().scheme());
                return attempt.error(message);
            }
            match literal_ip(attempt.url()).map(|ip| address::check(ip, &policy_allow)) {
                Some(Err(refusal)) => attempt.error(refusal),
                _ => attempt.follow(),
            }
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(policy)
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
            .dns_resolver(GuardedResolver { allow })
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the outbound HTTP client: {}", chain(&e)))?;
        Ok(Self { http, limits: Arc::new(limits) })
    }

    /// The limits in force.
    pub fn limits(&self) -> &ClientLimits {
        &self.limits
    }

    /// Checks a URL against the rules without sending anything: its
    /// scheme, and its host when that is an IP literal (numeric forms such
    /// as `2130706433`, `0x7f000001` or `127.1` are IP literals once
    /// parsed). Host names are checked as they resolve.
    pub fn check_url(&self, url: &str) -> Result<Url, OutboundError> {
        let parsed = Url::parse(url).map_err(|e| OutboundError::Invalid(format!("'{url}' is not a valid URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(OutboundError::Invalid(format!("'{url}' is not an http or https URL")));
        }
        if let Some(ip) = literal_ip(&parsed) {
            address::check(ip, &self.limits.allow).map_err(OutboundError::Refused)?;
        }
        Ok(parsed)
    }

    /// Sends `request` and reads the answer, whatever its status.
    pub async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let url = self.check_url(&request.url)?;
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| OutboundError::Invalid(format!("'{}' is not an HTTP method", request.method)))?;
        let mut builder = self.http.request(method, url.clone());
        for (name, value) in &request.headers {
            // Checked here so the error names the header, never its value
            // (which may hold a secret).
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| OutboundError::Invalid(format!("'{name}' is not a valid header name")))?;
            let value = http::HeaderValue::from_str(value).map_err(|_| {
                OutboundError::Invalid(format!("the value of header '{name}' is not a valid header value"))
            })?;
            builder = builder.header(name, value);
        }
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let timeout = request.timeout.unwrap_or(self.limits.timeout);
        builder = builder.timeout(timeout);
        let shown = url.to_string();
        let mut response = builder.send().await.map_err(|e| self.failure(&shown, timeout, e))?;
        let limit = self.limits.max_response_bytes;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(OutboundError::TooLarge { limit });
        }
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.failure(&shown, timeout, e))? {
            if body.len() + chunk.len() > limit {
                return Err(OutboundError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(OutboundResponse { status, headers, body })
    }

    fn failure(&self, url: &str, timeout: Duration, error: reqwest::Error) -> OutboundError {
        if let Some(refusal) = find_refusal(&error) {
            return OutboundError::Refused(refusal);
        }
        if error.is_timeout() {
            let after = humantime::format_duration(timeout).to_string();
            return OutboundError::Timeout { url: url.to_owned(), after };
        }
        OutboundError::Transport { url: url.to_owned(), message: chain(&error) }
    }
}

/// The IP address a URL's host is written as, if it is one.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// The SSRF refusal somewhere in an error's sources.
fn find_refusal(error: &(dyn StdError + 'static)) -> Option<Refusal> {
    let mut at: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(err) = at {
        if let Some(refusal) = err.downcast_ref::<Refusal>() {
            return Some(refusal.clone());
        }
        at = err.source();
    }
    None
}

/// An error and its sources, joined.
fn chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut at = error.source();
    while let Some(err) = at {
        let next = err.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        at = err.source();
    }
    text
}

/// Resolves with the system resolver, then refuses the whole name when
/// any of its addresses is forbidden (a name pointing at both a public and
/// a private address is not to be trusted with either).
struct GuardedResolver {
    allow: Arc<AllowList>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                if let Err(mut refusal) = address::check(addr.ip(), &allow) {
                    refusal.host = Some(host);
                    return Err(Box::new(refusal) as Box<dyn StdError + Send + Sync>);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(allow: &[&str]) -> OutboundClient {
        OutboundClient::new(ClientLimits {
            allow: AllowList::parse(allow).unwrap(),
            timeout: Duration::from_secs(2),
            max_response_bytes: 1024,
        })
        .unwrap()
    }

    fn refusal(url: &str) -> String {
        match client(&[]).check_url(url) {
            Err(OutboundError::Refused(r)) => r.to_string(),
            other => panic!("{url}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn every_numeric_and_mapped_form_of_loopback_is_refused() {
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://017700000001/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::1]:8080/",
        ] {
            let message = refusal(url);
            assert!(message.starts_with("refused: "), "{url}: {message}");
            assert!(message.contains("loopback") || message.contains("embedding"), "{url}: {message}");
        }
    }

    #[test]
    fn each_rule_is_named_in_the_refusal() {
        let cases = [
            ("http://10.0.0.1/", "refused: 10.0.0.1 is a private address (RFC 1918)"),
            ("http://172.16.0.1/", "refused: 172.16.0.1 is a private address (RFC 1918)"),
            ("http://192.168.0.1/", "refused: 192.168.0.1 is a private address (RFC 1918)"),
            ("http://169.254.169.254/latest/meta-data", "refused: 169.254.169.254 is the cloud metadata address"),
            ("http://[fd00:ec2::254]/", "refused: fd00:ec2::254 is the cloud metadata address"),
            ("http://169.254.10.10/", "refused: 169.254.10.10 is a link-local address"),
            ("http://100.64.1.1/", "refused: 100.64.1.1 is a shared (CGNAT) address (RFC 6598)"),
            ("http://[fc00::1]/", "refused: fc00::1 is a unique local address (ULA, fc00::/7)"),
            ("http://[fe80::1]/", "refused: fe80::1 is a link-local address"),
            ("http://0.0.0.0/", "refused: 0.0.0.0 is an unspecified address (0.0.0.0/8)"),
            ("http://[::]/", "refused: :: is the unspecified address (::)"),
            ("http://0/", "refused: 0.0.0.0 is an unspecified address (0.0.0.0/8)"),
            ("http://[::ffff:10.0.0.1]/", "refused: ::ffff:10.0.0.1 is an IPv6 address embedding a forbidden IPv4"),
            ("http://167772161/", "refused: 10.0.0.1 is a private address (RFC 1918)"),
        ];
        for (url, expected) in cases {
            let message = refusal(url);
            assert!(message.starts_with(expected), "{url}: {message}");
        }
    }

    #[test]
    fn public_literals_and_names_pass_the_literal_check() {
        let client = client(&[]);
        assert!(client.check_url("https://93.184.216.34/").is_ok());
        assert!(client.check_url("https://hooks.example.com/x").is_ok(), "names are checked as they resolve");
        assert!(matches!(client.check_url("ftp://example.com/"), Err(OutboundError::Invalid(_))));
    }

    #[test]
    fn an_allowed_network_lets_its_literals_through() {
        let client = client(&["127.0.0.0/8"]);
        assert!(client.check_url("http://127.0.0.1:9/").is_ok());
        assert!(client.check_url("http://2130706433/").is_ok());
        assert!(client.check_url("http://10.0.0.1/").is_err());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_connect_time() {
        // "localhost" resolves through the system resolver, as any name
        // would; nothing is listening on port 9 and nothing is sent.
        let err = client(&[]).send(get("http://localhost:9/")).await.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, OutboundError::Refused(_)), "{message}");
        assert!(message.starts_with("refused: localhost resolves to "), "{message}");
        assert!(message.contains("loopback"), "{message}");
    }

    #[tokio::test]
    async fn a_redirect_to_a_forbidden_address_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let answer = "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/latest/meta-data\r\n\
                          content-length: 0\r\nconnection: close\r\n\r\n";
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        let err = client(&["127.0.0.0/8"]).send(get(&format!("http://127.0.0.1:{port}/"))).await.unwrap_err();
        assert!(err.to_string().starts_with("refused: 169.254.169.254 is the cloud metadata address"), "{err}");
    }

    #[tokio::test]
    async fn a_body_over_the_cap_fails() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let body = "x".repeat(5000);
            let answer = format!("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{body}");
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        let err = client(&["127.0.0.0/8"]).send(get(&format!("http://127.0.0.1:{port}/"))).await.unwrap_err();
        assert!(matches!(err, OutboundError::TooLarge { limit: 1024 }), "{err}");
    }

    #[tokio::test]
    async fn a_bad_header_value_is_named_without_its_value_and_debug_hides_values() {
        let mut request = get("http://127.0.0.1:9/");
        request.headers.push(("Authorization".into(), "Bearer canary-\u{1}-value".into()));
        assert!(!format!("{request:?}").contains("canary"));
        let err = client(&["127.0.0.0/8"]).send(request).await.unwrap_err().to_string();
        assert!(err.contains("Authorization") || err.contains("authorization"), "{err}");
        assert!(!err.contains("canary"), "{err}");
    }

    fn get(url: &str) -> OutboundRequest {
        OutboundRequest { method: "GET".into(), url: url.into(), headers: vec![], body: None, timeout: None }
    }
}
