//! Which addresses a callback may connect to, and the resolver that enforces it when each
//! attempt connects: a host name's loopback, private, link-local, unique-local, shared (CGNAT)
//! and metadata addresses are dropped unless `jobs.callback_private_networks` is set.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is a public unicast address a host name may lead a callback to. Not public:
/// unspecified, loopback, private (10/8, 172.16/12, 192.168/16), shared 100.64/10, link-local
/// (169.254/16, the metadata address 169.254.169.254 among them; fe80::/10), unique-local
/// (fc00::/7, AWS's metadata fd00:ec2::254 among them), 0/8, 192.0.0/24, benchmarking
/// 198.18/15, reserved 240/4, broadcast, multicast, site-local fec0::/10, and an IPv4 address of
/// those carried in IPv6 (`::ffff:a.b.c.d`, `::a.b.c.d`, NAT64's `64:ff9b::a.b.c.d`).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let not_public = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240;
    !not_public
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let not_public = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0;
    !not_public
}

/// The IPv4 address an IPv6 one stands for: mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`
/// (not `::` and `::1`) and NAT64's well-known prefix `64:ff9b::/96`.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    let low = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let compatible = s[..6].iter().all(|&x| x == 0) && !ip.is_unspecified() && !ip.is_loopback();
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0);
    (compatible || nat64).then_some(low)
}

/// A host name left with no address after the non-public ones were dropped.
#[derive(Debug)]
pub struct NonPublic(String);

impl fmt::Display for NonPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} resolves only to non-public addresses", self.0)
    }
}

impl std::error::Error for NonPublic {}

/// The callback client's resolver: the system's (`tokio::net::lookup_host`), on every new
/// connection (so a name rebound between attempts is caught), keeping only public addresses
/// unless private networks are allowed. reqwest does not call it for an IP-literal URL: the
/// policy checks those (`Policy::check`).
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly {
    /// `jobs.callback_private_networks`: keep every address.
    pub private_networks: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let private_networks = self.private_networks;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|address| private_networks || is_public(address.ip()))
                .collect();
            if kept.is_empty() && !found.is_empty() {
                return Err(Box::new(NonPublic(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}
