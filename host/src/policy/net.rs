//! The network allow-list (`--allow-net HOST[:PORT]`) and the address rules
//! behind it.
//!
//! A request is checked twice:
//! 1. by name, before anything leaves the host: the URL's host and port must
//!    match a grant. An IP literal matches only a grant of that literal —
//!    `--allow-net example.com` does not open `http://93.184.216.34/`.
//! 2. by address, after resolution: a name may resolve only to public
//!    addresses, unless the grant names the private address itself
//!    (`--allow-net 127.0.0.1:8080`) or is `localhost` for loopback. This is
//!    what stops a granted name that points (or is re-pointed) at loopback,
//!    a private network or a cloud metadata endpoint. The connection goes to
//!    the vetted addresses only, so a second lookup cannot change the answer.
//!
//! Grants: `example.com`, `example.com:8443`, `*.example.com` (any
//! subdomain, not the apex), `127.0.0.1:8080`, `[::1]:8080`, or `*` (any
//! name; private addresses still need their own grant).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// One `--allow-net` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetGrant {
    host: HostPattern,
    /// `None`: any port.
    port: Option<u16>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    Name(String),
    /// `*.suffix`: stored as `.suffix`.
    Subdomains(String),
    Ip(IpAddr),
}

impl NetGrant {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "`{text}` is not a network grant: {why} (expected HOST, HOST:PORT, *.DOMAIN or IP:PORT)"
            )
        };
        let trimmed = text.trim();
        if trimmed.contains("://") || trimmed.contains('/') {
            return Err(bad("give a host, not a URL"));
        }
        let (host, port) = split_host_port(trimmed).ok_or_else(|| bad("bad port"))?;
        let raw = host;
        let host = normalize_name(raw);
        if raw.starts_with("*.") && !host.starts_with("*.") {
            return Err(bad("a wildcard must be `*.domain`"));
        }
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let pattern = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains('*') {
                return Err(bad("a wildcard must be `*.domain`"));
            }
            HostPattern::Subdomains(format!(".{suffix}"))
        } else if host.contains('*') {
            return Err(bad("a wildcard must be `*.domain`"));
        } else if let Some(ip) = parse_ip(&host) {
            HostPattern::Ip(canonical_ip(ip))
        } else {
            HostPattern::Name(host)
        };
        Ok(Self {
            host: pattern,
            port,
            text: trimmed.to_owned(),
        })
    }

    fn matches(&self, host: &Host, port: u16) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (&self.host, host) {
            (HostPattern::Ip(granted), Host::Ip(ip)) => granted == ip,
            (HostPattern::Ip(_), Host::Name(_)) => false,
            (_, Host::Ip(_)) => false,
            (HostPattern::Any, Host::Name(_)) => true,
            (HostPattern::Name(granted), Host::Name(name)) => granted == name,
            (HostPattern::Subdomains(suffix), Host::Name(name)) => {
                name.ends_with(suffix.as_str()) && name.len() > suffix.len()
            }
        }
    }
}

impl fmt::Display for NetGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A request's host: a (lower-cased, dot-trimmed) name or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    pub fn parse(host: &str) -> Self {
        let host = normalize_name(host);
        match parse_ip(&host) {
            Some(ip) => Host::Ip(canonical_ip(ip)),
            None => Host::Name(host),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Why a connection was refused, with the grant that would allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetDenied {
    #[error("network access to {host}:{port} is not granted")]
    NotGranted { host: Host, port: u16 },
    #[error("{host} resolves to {ip}, a {kind} address, which a name grant does not open")]
    PrivateAddress {
        host: Host,
        ip: IpAddr,
        kind: &'static str,
        grant: String,
    },
    #[error("{host} has no address")]
    NoAddress { host: Host },
}

impl NetDenied {
    /// The grant that would have allowed it.
    pub fn grant(&self) -> Option<super::Grant> {
        match self {
            NetDenied::NotGranted { host, port } => {
                Some(super::Grant::Net(format!("{host}:{port}")))
            }
            NetDenied::PrivateAddress { grant, .. } => Some(super::Grant::Net(grant.clone())),
            NetDenied::NoAddress { .. } => None,
        }
    }
}

/// A credential the host adds to requests to one host (`[net.secrets]` in
/// spellhost.toml): the spell uses it without ever seeing it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretHeader {
    /// The header to set, e.g. `authorization`.
    pub header: String,
    /// The host environment variable holding the secret.
    pub env: String,
    /// Put before the value, e.g. `Bearer `.
    #[serde(default)]
    pub prefix: String,
}

/// The network a spell was granted.
#[derive(Debug, Clone, Default)]
pub struct NetPolicy {
    grants: Vec<NetGrant>,
    /// Names pinned to addresses (`[net.hosts]` in spellhost.toml), used
    /// instead of DNS — like curl's `--resolve`.
    pins: BTreeMap<String, Vec<IpAddr>>,
    /// Credentials added to requests, by host name.
    secrets: BTreeMap<String, SecretHeader>,
}

impl NetPolicy {
    pub fn new(grants: &[String], pins: BTreeMap<String, Vec<IpAddr>>) -> Result<Self, String> {
        Ok(Self {
            grants: grants
                .iter()
                .map(|g| NetGrant::parse(g))
                .collect::<Result<_, _>>()?,
            pins: pins
                .into_iter()
                .map(|(name, ips)| (normalize_name(&name), ips))
                .collect(),
            secrets: BTreeMap::new(),
        })
    }

    /// Adds the credentials the host injects (`[net.secrets]`).
    pub fn with_secrets(mut self, secrets: BTreeMap<String, SecretHeader>) -> Self {
        self.secrets = secrets
            .into_iter()
            .map(|(name, secret)| (normalize_name(&name), secret))
            .collect();
        self
    }

    /// The credential to add to requests to `host`, if one is configured.
    pub fn secret_for(&self, host: &Host) -> Option<&SecretHeader> {
        match host {
            Host::Name(name) => self.secrets.get(name),
            Host::Ip(ip) => self.secrets.get(&ip.to_string()),
        }
    }

    /// Step 1: may the spell connect to `host:port` at all?
    pub fn check(&self, host: &Host, port: u16) -> Result<(), NetDenied> {
        if self.grants.iter().any(|g| g.matches(host, port)) {
            Ok(())
        } else {
            Err(NetDenied::NotGranted {
                host: host.clone(),
                port,
            })
        }
    }

    /// Step 2: of the addresses `host` resolved to, those the spell may
    /// reach. Public addresses pass; a private one only if granted as an
    /// address (or `localhost` for loopback).
    pub fn vet(&self, host: &Host, port: u16, addrs: &[IpAddr]) -> Result<Vec<IpAddr>, NetDenied> {
        let mut allowed = Vec::new();
        let mut first_denied = None;
        for &ip in addrs {
            let ip = canonical_ip(ip);
            match private_kind(ip) {
                None => allowed.push(ip),
                Some(_) if self.address_granted(host, ip, port) => allowed.push(ip),
                Some(kind) => {
                    first_denied.get_or_insert((ip, kind));
                }
            }
        }
        match (allowed.is_empty(), first_denied) {
            (false, _) => Ok(allowed),
            (true, Some((ip, kind))) => Err(NetDenied::PrivateAddress {
                host: host.clone(),
                ip,
                kind,
                grant: format!("{}:{port}", Host::Ip(ip)),
            }),
            (true, None) => Err(NetDenied::NoAddress { host: host.clone() }),
        }
    }

    fn address_granted(&self, host: &Host, ip: IpAddr, port: u16) -> bool {
        let localhost = Host::Name("localhost".into());
        self.grants.iter().any(|g| g.matches(&Host::Ip(ip), port))
            || (ip.is_loopback()
                && *host == localhost
                && self.grants.iter().any(|g| {
                    matches!(&g.host, HostPattern::Name(n) if n == "localhost")
                        && g.matches(&localhost, port)
                }))
    }

    /// The addresses `host` pins to, if spellhost.toml pins it.
    pub fn pinned(&self, name: &str) -> Option<&[IpAddr]> {
        self.pins.get(&normalize_name(name)).map(Vec::as_slice)
    }

    /// May a raw TCP socket connect to `addr`? Only addresses granted as IP
    /// literals: guests get no name lookups, so names cannot be checked.
    pub fn allows_socket(&self, addr: SocketAddr) -> bool {
        let ip = canonical_ip(addr.ip());
        self.grants.iter().any(|g| {
            matches!(g.host, HostPattern::Ip(granted) if granted == ip)
                && g.port.is_none_or(|p| p == addr.port())
        })
    }

    /// Whether any grant is an IP literal (raw sockets are offered then).
    pub fn has_address_grants(&self) -> bool {
        self.grants
            .iter()
            .any(|g| matches!(g.host, HostPattern::Ip(_)))
    }
}

/// `None` for a public address; else what kind of non-public address it is.
pub fn private_kind(ip: IpAddr) -> Option<&'static str> {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_unspecified() || a == 0 {
                Some("unspecified")
            } else if v4.is_private() {
                Some("private")
            } else if v4.is_link_local() {
                Some("link-local")
            } else if a == 100 && (64..128).contains(&b) {
                Some("shared (CGNAT)")
            } else if v4.is_multicast() || v4.is_broadcast() || a >= 240 {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xfe00 == 0xfc00 {
                Some("private")
            } else if first & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("reserved")
            } else {
                None
            }
        }
    }
}

/// IPv4-mapped IPv6 addresses are treated as the IPv4 address they carry.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn parse_ip(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

fn normalize_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        let host = &text[..inner.len() + 2];
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port.parse().ok()?))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    if text.matches(':').count() > 1 {
        return Some((text, None)); // a bare IPv6 address
    }
    match text.split_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(grants: &[&str]) -> NetPolicy {
        let grants: Vec<String> = grants.iter().map(|g| g.to_string()).collect();
        NetPolicy::new(&grants, BTreeMap::new()).unwrap()
    }

    fn allowed(p: &NetPolicy, host: &str, port: u16) -> bool {
        p.check(&Host::parse(host), port).is_ok()
    }

    #[test]
    fn names_ports_and_wildcards() {
        let p = policy(&["example.com", "api.test:8443", "*.svc.test"]);
        assert!(allowed(&p, "example.com", 443));
        assert!(allowed(&p, "EXAMPLE.com.", 80), "case and the root dot");
        assert!(
            !allowed(&p, "www.example.com", 443),
            "a name is not its subdomains"
        );
        assert!(allowed(&p, "api.test", 8443));
        assert!(
            !allowed(&p, "api.test", 443),
            "the port is part of the grant"
        );
        assert!(allowed(&p, "a.svc.test", 80));
        assert!(allowed(&p, "a.b.svc.test", 80));
        assert!(!allowed(&p, "svc.test", 80), "a wildcard is not its apex");
        assert!(!allowed(&p, "evilsvc.test", 80));
    }

    #[test]
    fn ip_literals_need_their_own_grant() {
        let p = policy(&["*", "10.0.0.5:5432", "[::1]:8080"]);
        assert!(allowed(&p, "anything.test", 80));
        assert!(
            !allowed(&p, "93.184.216.34", 80),
            "`*` covers names, not IPs"
        );
        assert!(allowed(&p, "10.0.0.5", 5432));
        assert!(!allowed(&p, "10.0.0.5", 22));
        assert!(allowed(&p, "[::1]", 8080));
        assert!(allowed(&p, "[::ffff:10.0.0.5]", 5432), "v4-mapped is v4");
    }

    #[test]
    fn names_may_not_resolve_to_private_addresses_unless_granted() {
        let p = policy(&["api.test", "localhost:9000"]);
        let host = Host::parse("api.test");
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let public: IpAddr = "93.184.216.34".parse().unwrap();
        let err = p.vet(&host, 80, &[loopback]).unwrap_err();
        assert_eq!(
            err.grant().map(|g| g.flag()).as_deref(),
            Some("--allow-net 127.0.0.1:80")
        );
        assert!(err.to_string().contains("loopback"), "{err}");
        assert_eq!(p.vet(&host, 80, &[loopback, public]).unwrap(), [public]);
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        assert!(p.vet(&host, 80, &[metadata]).is_err());
        let localhost = Host::parse("localhost");
        assert_eq!(p.vet(&localhost, 9000, &[loopback]).unwrap(), [loopback]);
        let granted = policy(&["api.test", "127.0.0.1:80"]);
        assert_eq!(granted.vet(&host, 80, &[loopback]).unwrap(), [loopback]);
    }

    #[test]
    fn raw_sockets_only_to_granted_addresses() {
        let p = policy(&["example.com", "127.0.0.1:7000"]);
        assert!(p.allows_socket("127.0.0.1:7000".parse().unwrap()));
        assert!(!p.allows_socket("127.0.0.1:7001".parse().unwrap()));
        assert!(!p.allows_socket("93.184.216.34:80".parse().unwrap()));
    }

    #[test]
    fn bad_grants_are_errors() {
        for bad in [
            "http://example.com",
            "example.com:http",
            "ex*mple.com",
            "*.",
            "",
        ] {
            assert!(NetGrant::parse(bad).is_err(), "{bad}");
        }
    }
}
