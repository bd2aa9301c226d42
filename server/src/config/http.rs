//! The `[http]` section: which browser origins and Host names the server answers.
//!
//! Both lists are written by operators and checked once at start, so the
//! server compares requests against canonical forms only: origins as
//! browsers send them in `Origin` (lower case, no default port), host names
//! lower case without a trailing dot.

use serde::Deserialize;

use super::ConfigError;

/// What browsers and Host headers may reach the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Origins (`https://console.example.com`, `http://localhost:5173`)
    /// whose pages may call the server from a browser (CORS): a scheme, a
    /// host and an optional port, nothing else. Pages the server serves
    /// itself are same-origin and need no entry. Default none; env
    /// `WEFT_CORS_ORIGINS`, comma-separated.
    pub cors_origins: Vec<String>,
    /// Host names (`weft.internal`) the server answers to besides the
    /// loopback ones, when it listens on a loopback address; any port.
    /// Requests naming another host are refused with 421 (DNS rebinding).
    /// Default none; env `WEFT_ALLOWED_HOSTS`, comma-separated.
    pub allowed_hosts: Vec<String>,
}

/// Longest origin or host name accepted: a DNS name is at most 253 bytes;
/// a scheme and a port add a few.
const MAX_ENTRY_BYTES: usize = 300;

fn list(value: &str) -> Vec<String> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

impl HttpSettings {
    /// Applies the `WEFT_*` variables of this section.
    pub(super) fn apply_env(&mut self, env: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(value) = env("WEFT_CORS_ORIGINS") {
            self.cors_origins = list(&value);
        }
        if let Some(value) = env("WEFT_ALLOWED_HOSTS") {
            self.allowed_hosts = list(&value);
        }
        Ok(())
    }

    /// Checks that every origin is `scheme://host[:port]` and every host a
    /// bare name or address.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for origin in &self.cors_origins {
            canonical_origin(origin).map_err(|reason| ConfigError::Invalid {
                name: "http.cors_origins",
                reason: format!("'{origin}' {reason}"),
            })?;
        }
        for host in &self.allowed_hosts {
            canonical_host(host).map_err(|reason| ConfigError::Invalid {
                name: "http.allowed_hosts",
                reason: format!("'{host}' {reason}"),
            })?;
        }
        Ok(())
    }

    /// The CORS origins in the form browsers send (`validate` has passed).
    pub fn origins(&self) -> Vec<String> {
        self.cors_origins.iter().filter_map(|o| canonical_origin(o).ok()).collect()
    }

    /// The configured host names, canonical (`validate` has passed).
    pub fn host_names(&self) -> Vec<String> {
        self.allowed_hosts.iter().filter_map(|h| canonical_host(h).ok()).collect()
    }
}

/// `text` as browsers write it in `Origin`: scheme and host lower case, the
/// scheme's default port left out. Anything else an origin cannot have (a
/// path, even `/`; a query; user info; a wildcard; `null`) is an error
/// saying what to write instead.
pub fn canonical_origin(text: &str) -> Result<String, String> {
    if text.len() > MAX_ENTRY_BYTES {
        return Err(format!("is longer than {MAX_ENTRY_BYTES} bytes"));
    }
    if text.contains('*') {
        return Err("has a wildcard; list each origin (scheme://host[:port]) instead".into());
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err("is not an origin: write scheme://host[:port], e.g. https://console.example.com".into());
    };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    if !scheme_ok {
        return Err(format!("has no valid scheme ('{scheme}'); write e.g. https://console.example.com"));
    }
    if let Some(extra) = rest.find(['/', '?', '#']) {
        return Err(format!("has a path or query ('{}'); an origin is only scheme://host[:port]", &rest[extra..]));
    }
    if rest.contains('@') {
        return Err("has user info; an origin is only scheme://host[:port]".into());
    }
    let (host, port) = split_host_port(rest)?;
    let host = canonical_host(host)?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    Ok(match port {
        Some(port) if Some(port) != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Splits `host[:port]` (`[v6]:port` for IPv6); the port must be 1..=65535.
fn split_host_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(end) = text.strip_prefix('[').and_then(|_| text.find(']')) {
        let after = &text[end + 1..];
        match after.strip_prefix(':') {
            Some(port) => (&text[..=end], Some(port)),
            None if after.is_empty() => (&text[..=end], None),
            None => return Err(format!("has '{after}' after its IPv6 address")),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        Some(port) => match port.parse::<u16>() {
            Ok(n) if n > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => return Err(format!("has an invalid port '{port}' (1 to 65535)")),
        },
        None => None,
    };
    Ok((host, port))
}

/// A host name or address in canonical form: lower case, no trailing dot;
/// IPv6 addresses in brackets (`[::1]`). No port, scheme or path: any port
/// of an allowed name is allowed.
pub fn canonical_host(text: &str) -> Result<String, String> {
    if text.len() > MAX_ENTRY_BYTES {
        return Err(format!("is longer than {MAX_ENTRY_BYTES} bytes"));
    }
    if text.contains("://") || text.contains('/') {
        return Err("is not a host name: write the name alone (weft.example.com), without scheme or path".into());
    }
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return match inner.parse::<std::net::Ipv6Addr>() {
            Ok(address) => Ok(format!("[{address}]")),
            Err(_) => Err("is not an IPv6 address in brackets".into()),
        };
    }
    if text.contains(':') {
        return Err("has a port or is an IPv6 address without brackets; write the name alone, or [v6]".into());
    }
    let name = text.strip_suffix('.').unwrap_or(text);
    if name.is_empty() {
        return Err("is empty".into());
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')) {
        return Err("has characters a host name cannot have (write international names as xn--…)".into());
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_canonical_and_anything_but_an_origin_is_refused() {
        assert_eq!(canonical_origin("https://Console.Example.com").unwrap(), "https://console.example.com");
        assert_eq!(canonical_origin("HTTPS://a.example:443").unwrap(), "https://a.example");
        assert_eq!(canonical_origin("http://localhost:5173").unwrap(), "http://localhost:5173");
        assert_eq!(canonical_origin("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(canonical_origin("tauri://localhost").unwrap(), "tauri://localhost");
        for bad in [
            "https://a.example/",
            "https://a.example/path",
            "https://a.example?x",
            "a.example",
            "*",
            "https://*.example.com",
            "null",
            "https://u@a.example",
            "https://a.example:0",
            "https://a.example:99999",
            "https://",
            "1http://a.example",
        ] {
            assert!(canonical_origin(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn hosts_are_bare_names_or_addresses() {
        assert_eq!(canonical_host("Weft.Internal.").unwrap(), "weft.internal");
        assert_eq!(canonical_host("[0:0::1]").unwrap(), "[::1]");
        assert_eq!(canonical_host("10.0.0.5").unwrap(), "10.0.0.5");
        for bad in ["", "weft.internal:7070", "http://weft.internal", "a/b", "::1", "wéft"] {
            assert!(canonical_host(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn env_lists_replace_the_file_and_bad_entries_name_the_setting() {
        let mut settings = HttpSettings::default();
        let env = |name: &str| match name {
            "WEFT_CORS_ORIGINS" => Some("http://localhost:3000, https://A.example:443".to_owned()),
            "WEFT_ALLOWED_HOSTS" => Some("weft.internal,".to_owned()),
            _ => None,
        };
        settings.apply_env(&env).unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.origins(), ["http://localhost:3000", "https://a.example"]);
        assert_eq!(settings.host_names(), ["weft.internal"]);

        let bad = HttpSettings { cors_origins: vec!["https://a.example/".into()], ..Default::default() };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("http.cors_origins") && err.contains("https://a.example/"), "{err}");
        let bad = HttpSettings { allowed_hosts: vec!["a:1".into()], ..Default::default() };
        assert!(bad.validate().unwrap_err().to_string().contains("http.allowed_hosts"));
    }
}
