//! Peer addresses: `host:port` parsed, and IP addresses sorted into the classes a peer may or
//! may not dial (docs/security.md, "Addresses").
//!
//! An address travels in every `PeerRef`, and peers dial what others tell them. So the wire
//! accepts only a well-formed `host:port` ([`parse`]) whose host, when it is an IP literal,
//! could ever be a peer ([`Class::never_dialled`]); and the dialler checks every IP a name
//! resolves to against its [`Policy`] before it connects, so that no message can point a peer
//! at link-local metadata services or, unless the cluster allows it, at loopback and private
//! ranges.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::id::MAX_ADDR_LEN;

/// The host of a parsed address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    /// An IP literal (`10.0.0.1`, `[::1]`).
    Ip(IpAddr),
    /// A DNS name, resolved when dialled.
    Name(&'a str),
}

/// Why an address is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrError {
    /// Not `host:port`, with the reason.
    Malformed(&'static str),
    /// An IP of a class no peer is ever at.
    Refused(Class),
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrError::Malformed(why) => write!(f, "not host:port: {why}"),
            AddrError::Refused(class) => write!(f, "{class} address refused"),
        }
    }
}

impl std::error::Error for AddrError {}

/// Parses `host:port`: a DNS name (letters, digits, `-` and `.`, labels of 1 to 63 bytes, at
/// most 253 bytes), an IPv4 literal or a bracketed IPv6 literal; a port from 1 to 65535; at
/// most [`MAX_ADDR_LEN`] bytes. An IP literal of a class that [`Class::never_dialled`] is
/// refused.
pub fn parse(s: &str) -> Result<(Host<'_>, u16), AddrError> {
    if s.len() > MAX_ADDR_LEN {
        return Err(AddrError::Malformed("too long"));
    }
    let (host, port) = s.rsplit_once(':').ok_or(AddrError::Malformed("no port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| AddrError::Malformed("the port is not a number from 1 to 65535"))?;
    if port == 0 {
        return Err(AddrError::Malformed("port 0"));
    }
    let host = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Host::Ip(IpAddr::V6(
            v6.parse::<Ipv6Addr>()
                .map_err(|_| AddrError::Malformed("bad IPv6 literal"))?,
        ))
    } else if let Ok(v4) = host.parse::<Ipv4Addr>() {
        Host::Ip(IpAddr::V4(v4))
    } else if valid_name(host) {
        Host::Name(host)
    } else {
        return Err(AddrError::Malformed(
            "the host is neither a DNS name nor an IP literal (IPv6 in brackets)",
        ));
    };
    if let Host::Ip(ip) = host {
        let class = classify(ip);
        if class.never_dialled() {
            return Err(AddrError::Refused(class));
        }
    }
    Ok((host, port))
}

fn valid_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        // All-numeric dotted hosts are IPv4 literals or typos of one, not names.
        && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// What kind of network an IP address belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Routable on the internet.
    Public,
    /// Private ranges: 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier-grade NAT), fc00::/7.
    Private,
    /// 127/8 and ::1.
    Loopback,
    /// 169.254/16 (where cloud metadata services live) and fe80::/10.
    LinkLocal,
    /// 224/4, ff00::/8.
    Multicast,
    /// 0.0.0.0, ::, and 0/8.
    Unspecified,
    /// 255.255.255.255.
    Broadcast,
    /// Documentation and reserved ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 240/4,
    /// 2001:db8::/32).
    Reserved,
}

impl Class {
    /// Whether no peer is ever at such an address, so that the wire refuses it outright.
    pub fn never_dialled(self) -> bool {
        matches!(
            self,
            Class::LinkLocal
                | Class::Multicast
                | Class::Unspecified
                | Class::Broadcast
                | Class::Reserved
        )
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Class::Public => "public",
            Class::Private => "private",
            Class::Loopback => "loopback",
            Class::LinkLocal => "link-local",
            Class::Multicast => "multicast",
            Class::Unspecified => "unspecified",
            Class::Broadcast => "broadcast",
            Class::Reserved => "reserved",
        })
    }
}

/// The class of `ip`; an IPv4-mapped IPv6 address is classed as its IPv4 address.
pub fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || a == 0 {
        Class::Unspecified
    } else if ip.is_broadcast() {
        Class::Broadcast
    } else if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_link_local() {
        Class::LinkLocal
    } else if ip.is_multicast() {
        Class::Multicast
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Class::Private
    } else if a >= 240
        || (a, b, c) == (192, 0, 2)
        || (a, b, c) == (198, 51, 100)
        || (a, b, c) == (203, 0, 113)
    {
        Class::Reserved
    } else {
        Class::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Class::Unspecified
    } else if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_multicast() {
        Class::Multicast
    } else if first & 0xffc0 == 0xfe80 {
        Class::LinkLocal
    } else if first & 0xfe00 == 0xfc00 {
        Class::Private
    } else if first == 0x2001 && ip.segments()[1] == 0x0db8 {
        Class::Reserved
    } else {
        Class::Public
    }
}

/// Which addresses a process dials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Also loopback and private ranges: test clusters on one host, containers on a private
    /// network, a cluster inside one VPC.
    pub allow_private: bool,
}

impl Policy {
    /// Public addresses and, with `allow_private`, loopback and private ones.
    pub fn admits(self, ip: IpAddr) -> Result<(), Class> {
        match classify(ip) {
            Class::Public => Ok(()),
            Class::Private | Class::Loopback if self.allow_private => Ok(()),
            other => Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_into_hosts_and_ports() {
        assert_eq!(
            parse("peer-1.eu.example:7000").unwrap(),
            (Host::Name("peer-1.eu.example"), 7000)
        );
        assert_eq!(
            parse("10.1.2.3:7000").unwrap(),
            (Host::Ip("10.1.2.3".parse().unwrap()), 7000)
        );
        assert_eq!(
            parse("[2001:4860::1]:443").unwrap(),
            (Host::Ip("2001:4860::1".parse().unwrap()), 443)
        );
        for bad in [
            "",
            "host",
            "host:",
            ":7000",
            "host:0",
            "host:65536",
            "host:x",
            "a b:1",
            "-a:1",
            "a..b:1",
            "::1:7000",
            "[zz]:1",
            "1.2.3:7000",
            "host:7000\n",
        ] {
            assert!(
                matches!(parse(bad), Err(AddrError::Malformed(_))),
                "{bad:?} parsed"
            );
        }
        assert!(parse(&format!("{}:1", "a".repeat(300))).is_err());
    }

    #[test]
    fn classes_no_peer_is_at_are_refused_on_the_wire() {
        for (addr, class) in [
            ("169.254.169.254:80", Class::LinkLocal),
            ("[fe80::1]:7000", Class::LinkLocal),
            ("0.0.0.0:7000", Class::Unspecified),
            ("[::]:7000", Class::Unspecified),
            ("224.0.0.1:7000", Class::Multicast),
            ("[ff02::1]:7000", Class::Multicast),
            ("255.255.255.255:7000", Class::Broadcast),
            ("192.0.2.1:7000", Class::Reserved),
            ("[::ffff:169.254.169.254]:80", Class::LinkLocal),
        ] {
            assert_eq!(parse(addr), Err(AddrError::Refused(class)), "{addr}");
        }
        for ok in [
            "127.0.0.1:7000",
            "10.0.0.1:7000",
            "[::1]:7000",
            "8.8.8.8:53",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn the_policy_admits_private_ranges_only_when_told() {
        let strict = Policy::default();
        let open = Policy {
            allow_private: true,
        };
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(strict.admits(ip("8.8.8.8")), Ok(()));
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "::1",
        ] {
            assert!(strict.admits(ip(private)).is_err(), "{private}");
            assert_eq!(open.admits(ip(private)), Ok(()), "{private}");
        }
        for never in ["169.254.169.254", "0.0.0.0", "224.0.0.1", "fe80::1"] {
            assert!(open.admits(ip(never)).is_err(), "{never}");
        }
    }
}
