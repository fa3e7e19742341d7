//! The one HTTP client for URLs users give wharf (Provider files, compute inputs): it resolves
//! the host itself, refuses every address that is not public, connects to the address it
//! checked (no second resolution, so DNS rebinding cannot slip in), follows redirects by hand
//! checking each hop again, and bounds redirects and time. Addresses an operator allows
//! (`provider.allow_private_networks`: CIDRs, or `ip:port` for one service) pass.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    str::FromStr,
    sync::Arc,
    time::Duration,
};

use reqwest::{Method, header::HeaderMap};
use url::Url;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("the URL is not valid")]
    BadUrl,
    #[error("only http and https URLs are fetched")]
    Scheme,
    #[error("{host} resolves to an address that is not public")]
    Forbidden { host: String },
    #[error("{host} does not resolve")]
    Unresolved { host: String },
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("a redirect without a usable Location")]
    BadRedirect,
    #[error("the server did not answer in time")]
    Timeout,
    #[error("the server could not be reached")]
    Unreachable,
}

/// Name resolution, replaceable in tests.
#[async_trait::async_trait]
pub trait Resolve: Send + Sync {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system resolver.
pub struct SystemResolver;

#[async_trait::async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// A network an operator allows although it is not public: a CIDR, or one `ip:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    Network(IpAddr, u8),
    Service(SocketAddr),
}

impl FromStr for Allowed {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if let Ok(service) = SocketAddr::from_str(text) {
            return Ok(Allowed::Service(service));
        }
        let (ip, bits) = match text.split_once('/') {
            Some((ip, bits)) => (ip, Some(bits)),
            None => (text, None),
        };
        let ip = IpAddr::from_str(ip).map_err(|_| format!("{text:?} is not a CIDR or ip:port"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{text:?} has a bad prefix length"))?,
            None => max,
        };
        Ok(Allowed::Network(ip, bits))
    }
}

impl Allowed {
    fn admits(&self, address: &SocketAddr) -> bool {
        match self {
            Allowed::Service(service) => service == address,
            Allowed::Network(network, bits) => in_network(address.ip(), *network, *bits),
        }
    }
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Whether an address is on the public internet. Refused: unspecified, loopback, private,
/// link-local (cloud metadata), CGNAT, benchmarking, documentation, reserved, broadcast,
/// multicast, unique-local IPv6; IPv6 forms that embed an IPv4 address (mapped, NAT64,
/// 6to4) are judged by that address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_public_v4(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || (first == 0x0100 && v6.segments()[1..4] == [0, 0, 0])) // discard-only
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0 // "this network", 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224) // multicast, reserved, broadcast
}

/// The IPv4 address an IPv6 one carries: mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d),
/// NAT64 (64:ff9b::/96) or 6to4 (2002:a.b.c.d::/16).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || (s[5] == 0 && !(s[6] == 0 && s[7] <= 1))) {
        return Some(tail(s[6], s[7]));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(tail(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(tail(s[1], s[2]));
    }
    None
}

/// A response, after the redirects, and the URL that gave it.
pub struct Fetched {
    pub url: Url,
    pub response: reqwest::Response,
}

#[derive(Clone)]
pub struct SafeClient {
    resolver: Arc<dyn Resolve>,
    allowed: Arc<Vec<Allowed>>,
    timeout: Duration,
    max_redirects: usize,
}

impl SafeClient {
    pub fn new(allowed: Vec<Allowed>, timeout: Duration, max_redirects: usize) -> Self {
        Self::with_resolver(Arc::new(SystemResolver), allowed, timeout, max_redirects)
    }

    pub fn with_resolver(
        resolver: Arc<dyn Resolve>,
        allowed: Vec<Allowed>,
        timeout: Duration,
        max_redirects: usize,
    ) -> Self {
        Self {
            resolver,
            allowed: Arc::new(allowed),
            timeout,
            max_redirects,
        }
    }

    /// The one address of `url` that may be connected to: every address the host has must be
    /// allowed (a host that also resolves inward is refused as a whole).
    pub async fn check(&self, url: &Url) -> Result<SocketAddr, FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Scheme);
        }
        let host = url.host().ok_or(FetchError::BadUrl)?;
        let port = url.port_or_known_default().ok_or(FetchError::BadUrl)?;
        let name = host.to_string();
        let addresses = match host {
            url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            url::Host::Domain(domain) => {
                let resolving = self.resolver.resolve(domain, port);
                match tokio::time::timeout(self.timeout, resolving).await {
                    Ok(Ok(found)) if !found.is_empty() => found,
                    Ok(_) => return Err(FetchError::Unresolved { host: name }),
                    Err(_) => return Err(FetchError::Timeout),
                }
            }
        };
        let admitted =
            |a: &SocketAddr| is_public(a.ip()) || self.allowed.iter().any(|w| w.admits(a));
        if !addresses.iter().all(admitted) {
            return Err(FetchError::Forbidden { host: name });
        }
        Ok(addresses[0])
    }

    /// Sends a request to `url` and follows redirects (each hop checked before any packet is
    /// sent to it). `build` adds headers and a body to each hop's request.
    pub async fn fetch(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<bytes::Bytes>,
    ) -> Result<Fetched, FetchError> {
        let mut url = url;
        let mut method = method;
        let mut body = body;
        for _ in 0..=self.max_redirects {
            let address = self.check(&url).await?;
            let mut builder = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(self.timeout)
                .read_timeout(self.timeout);
            if let Some(url::Host::Domain(domain)) = url.host() {
                // Connect to the address just checked, not whatever a second lookup says.
                builder = builder.resolve(domain, address);
            }
            let client = builder.build().map_err(|_| FetchError::Unreachable)?;
            let mut request = client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(bytes) = &body {
                request = request.body(bytes.clone());
            }
            let response = match tokio::time::timeout(self.timeout, request.send()).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) if e.is_timeout() => return Err(FetchError::Timeout),
                Ok(Err(_)) => return Err(FetchError::Unreachable),
                Err(_) => return Err(FetchError::Timeout),
            };
            if !response.status().is_redirection() {
                return Ok(Fetched { url, response });
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or(FetchError::BadRedirect)?;
            url = url.join(location).map_err(|_| FetchError::BadRedirect)?;
            // 303 (and 301/302 for POST, as browsers do) turn into a GET without a body.
            if response.status() == reqwest::StatusCode::SEE_OTHER || method == Method::POST {
                method = Method::GET;
                body = None;
            }
        }
        Err(FetchError::TooManyRedirects(self.max_redirects))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        IpAddr::from_str(text).unwrap()
    }

    #[test]
    fn inward_addresses_are_not_public() {
        for inward in [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "192.0.0.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip(inward)), "{inward} taken for public");
        }
        for outward in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(outward)), "{outward} taken for inward");
        }
    }

    #[test]
    fn allowed_networks_and_services() {
        let service: Allowed = "127.0.0.1:8088".parse().unwrap();
        assert!(service.admits(&"127.0.0.1:8088".parse().unwrap()));
        assert!(!service.admits(&"127.0.0.1:8089".parse().unwrap()));
        let network: Allowed = "10.0.0.0/8".parse().unwrap();
        assert!(network.admits(&"10.9.9.9:80".parse().unwrap()));
        assert!(!network.admits(&"11.0.0.1:80".parse().unwrap()));
        assert!("nonsense".parse::<Allowed>().is_err());
        assert!("10.0.0.0/33".parse::<Allowed>().is_err());
    }

    struct Fixed(Vec<IpAddr>);

    #[async_trait::async_trait]
    impl Resolve for Fixed {
        async fn resolve(&self, _host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
            Ok(self.0.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
        }
    }

    #[tokio::test]
    async fn names_that_resolve_inward_are_refused_before_any_packet() {
        let client = |ips: Vec<&str>| {
            SafeClient::with_resolver(
                Arc::new(Fixed(ips.into_iter().map(ip).collect())),
                Vec::new(),
                Duration::from_secs(1),
                5,
            )
        };
        let url = Url::parse("http://files.example/data.csv").unwrap();
        assert!(matches!(
            client(vec!["127.0.0.1"]).check(&url).await,
            Err(FetchError::Forbidden { .. })
        ));
        // One inward answer among public ones is enough to refuse (rebinding by A records).
        assert!(matches!(
            client(vec!["93.184.216.34", "169.254.169.254"])
                .check(&url)
                .await,
            Err(FetchError::Forbidden { .. })
        ));
        assert_eq!(
            client(vec!["93.184.216.34"]).check(&url).await.unwrap(),
            "93.184.216.34:80".parse().unwrap()
        );
        assert!(matches!(
            client(vec![]).check(&url).await,
            Err(FetchError::Unresolved { .. })
        ));
        for scheme in ["file:///etc/passwd", "ftp://files.example/x", "gopher://x/"] {
            assert!(matches!(
                client(vec!["93.184.216.34"])
                    .check(&Url::parse(scheme).unwrap())
                    .await,
                Err(FetchError::Scheme)
            ));
        }
    }
}
