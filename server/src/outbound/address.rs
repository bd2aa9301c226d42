//! Which IP addresses outbound requests may reach (SSRF protection): the
//! classification of special-purpose ranges, each named by the rule that
//! refuses it, and the configured networks that are allowed anyway.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u8,
}

impl Network {
    /// True when `ip` lies inside the network. An IPv4-mapped IPv6 address
    /// is compared as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, unmap(ip)) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => in_v4(ip, base, self.prefix),
            (IpAddr::V6(base), IpAddr::V6(ip)) => in_v6(ip, base, self.prefix),
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let base: IpAddr = addr.parse().map_err(|_| format!("'{text}' is not an IP network (e.g. 10.0.0.0/8)"))?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{text}' has a prefix length that is not a number from 0 to {max}"))?,
            None => max,
        };
        Ok(Self { base, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// Networks an operator allowed despite the rules (config `allow_networks`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Network>);

impl AllowList {
    /// Parses CIDR texts; the first bad one is the error.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, String> {
        items.iter().map(|s| s.as_ref().parse()).collect::<Result<Vec<_>, _>>().map(Self)
    }

    fn allows(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }
}

/// An address refused by a rule; its Display is the error users read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The address.
    pub ip: IpAddr,
    /// The rule, in words ("a private address (RFC 1918)").
    pub rule: &'static str,
    /// The host name that resolved to `ip`, when the URL named one.
    pub host: Option<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { ip, rule, host } = self;
        match host {
            Some(host) => write!(f, "refused: {host} resolves to {ip}, which is {rule}")?,
            None => write!(f, "refused: {ip} is {rule}")?,
        }
        f.write_str(" (outbound requests may not reach it unless allow_networks lists it)")
    }
}

impl std::error::Error for Refusal {}

/// Refuses `ip` when a rule forbids it and no allowed network holds it.
pub fn check(ip: IpAddr, allow: &AllowList) -> Result<(), Refusal> {
    match forbidden(ip) {
        Some(rule) if !allow.allows(ip) => Err(Refusal { ip, rule, host: None }),
        _ => Ok(()),
    }
}

/// The rule that forbids `ip`, if any. Addresses that embed an IPv4
/// address (IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64, 6to4)
/// are judged by it.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => forbidden_v4(v4).map(|_| "an IPv6 address embedding a forbidden IPv4 address"),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let v4 = |a, b, c, d| Ipv4Addr::new(a, b, c, d);
    // The metadata address comes before link-local so its name is the one
    // reported.
    let rules: [(Ipv4Addr, u8, &'static str); 16] = [
        (v4(169, 254, 169, 254), 32, "the cloud metadata address"),
        (v4(0, 0, 0, 0), 8, "an unspecified address (0.0.0.0/8)"),
        (v4(127, 0, 0, 0), 8, "a loopback address"),
        (v4(10, 0, 0, 0), 8, "a private address (RFC 1918)"),
        (v4(172, 16, 0, 0), 12, "a private address (RFC 1918)"),
        (v4(192, 168, 0, 0), 16, "a private address (RFC 1918)"),
        (v4(169, 254, 0, 0), 16, "a link-local address"),
        (v4(100, 64, 0, 0), 10, "a shared (CGNAT) address (RFC 6598)"),
        (v4(192, 0, 0, 0), 24, "an IETF protocol assignment (RFC 6890)"),
        (v4(192, 0, 2, 0), 24, "a documentation address (RFC 5737)"),
        (v4(198, 51, 100, 0), 24, "a documentation address (RFC 5737)"),
        (v4(203, 0, 113, 0), 24, "a documentation address (RFC 5737)"),
        (v4(198, 18, 0, 0), 15, "a benchmarking address (RFC 2544)"),
        (v4(224, 0, 0, 0), 4, "a multicast address"),
        (v4(255, 255, 255, 255), 32, "the broadcast address"),
        (v4(240, 0, 0, 0), 4, "a reserved address (240.0.0.0/4)"),
    ];
    rules.iter().find(|(base, prefix, _)| in_v4(ip, *base, *prefix)).map(|r| r.2)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let metadata = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    let rules: [(Ipv6Addr, u8, &'static str); 7] = [
        (metadata, 128, "the cloud metadata address"),
        (Ipv6Addr::UNSPECIFIED, 128, "the unspecified address (::)"),
        (Ipv6Addr::LOCALHOST, 128, "a loopback address"),
        (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "a unique local address (ULA, fc00::/7)"),
        (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "a link-local address"),
        (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "a multicast address"),
        (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "a documentation address (RFC 3849)"),
    ];
    rules.iter().find(|(base, prefix, _)| in_v6(ip, *base, *prefix)).map(|r| r.2)
}

/// The IPv4 address an IPv6 address carries: `::ffff:a.b.c.d` (mapped),
/// `::ffff:0:a.b.c.d` (translated, RFC 2765 SIIT), `::a.b.c.d`
/// (compatible, deprecated), `64:ff9b::a.b.c.d` (NAT64) and
/// `2002:AABB:CCDD::` (6to4).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // A stateless translator (SIIT) forwards ::ffff:0:0:0/96 to the IPv4
    // address in its last 32 bits, so it reaches that host like the mapped
    // form does.
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return Some(tail);
    }
    if s[..6] == [0; 6] && (s[6] != 0 || s[7] > 1) {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_v4(ip: Ipv4Addr, base: Ipv4Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
    u32::from(ip) & mask == u32::from(base) & mask
}

fn in_v6(ip: Ipv6Addr, base: Ipv6Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
    u128::from(ip) & mask == u128::from(base) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(ip: &str) -> Option<&'static str> {
        forbidden(ip.parse().unwrap())
    }

    #[test]
    fn special_ranges_are_named_by_their_rule() {
        let cases = [
            ("127.0.0.1", "a loopback address"),
            ("127.255.1.2", "a loopback address"),
            ("::1", "a loopback address"),
            ("10.0.0.1", "a private address (RFC 1918)"),
            ("172.16.5.4", "a private address (RFC 1918)"),
            ("172.31.255.255", "a private address (RFC 1918)"),
            ("192.168.1.1", "a private address (RFC 1918)"),
            ("169.254.1.1", "a link-local address"),
            ("fe80::1", "a link-local address"),
            ("169.254.169.254", "the cloud metadata address"),
            ("fd00:ec2::254", "the cloud metadata address"),
            ("100.64.0.1", "a shared (CGNAT) address (RFC 6598)"),
            ("100.127.255.254", "a shared (CGNAT) address (RFC 6598)"),
            ("fc00::1", "a unique local address (ULA, fc00::/7)"),
            ("fd12:3456::1", "a unique local address (ULA, fc00::/7)"),
            ("0.0.0.0", "an unspecified address (0.0.0.0/8)"),
            ("::", "the unspecified address (::)"),
            ("224.0.0.1", "a multicast address"),
            ("255.255.255.255", "the broadcast address"),
        ];
        for (ip, expected) in cases {
            assert_eq!(rule(ip), Some(expected), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_embedding_a_forbidden_ipv4_are_refused() {
        let embedding = [
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "::ffff:0:0:0",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ];
        for ip in embedding {
            assert_eq!(rule(ip), Some("an IPv6 address embedding a forbidden IPv4 address"), "{ip}");
        }
        assert_eq!(rule("::ffff:8.8.8.8"), None);
        assert_eq!(rule("::ffff:0:8.8.8.8"), None, "a translated public address is public");
    }

    #[test]
    fn public_addresses_pass() {
        for ip in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "93.184.216.34"] {
            assert_eq!(rule(ip), None, "{ip}");
        }
    }

    #[test]
    fn allowed_networks_override_the_rules() {
        let allow = AllowList::parse(&["127.0.0.0/8", "fd00::/8"]).unwrap();
        assert!(check("127.0.0.1".parse().unwrap(), &allow).is_ok());
        assert!(check("::ffff:127.0.0.1".parse().unwrap(), &allow).is_ok(), "mapped form of an allowed address");
        assert!(check("fd00::5".parse().unwrap(), &allow).is_ok());
        let refused = check("10.0.0.1".parse().unwrap(), &allow).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "refused: 10.0.0.1 is a private address (RFC 1918) (outbound requests may not reach it unless \
             allow_networks lists it)"
        );
    }

    #[test]
    fn bad_networks_are_explained() {
        assert!(AllowList::parse(&["10.0.0.0/33"]).unwrap_err().contains("prefix length"));
        assert!(AllowList::parse(&["example.com"]).unwrap_err().contains("not an IP network"));
        assert_eq!(AllowList::parse(&["10.1.2.3"]).unwrap().0[0].to_string(), "10.1.2.3/32");
    }
}
