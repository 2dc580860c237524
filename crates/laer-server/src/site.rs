//! Where laer is reached and who is asking: the configured public URL, which is then the
//! only source of the links laer hands out (share links, password links in emails), and
//! the proxies whose forwarded headers (`X-Forwarded-For`, `-Host`, `-Proto`) are
//! believed. A request that did not come through a trusted proxy is taken as it arrived:
//! its forwarded headers are ignored, since anyone can send them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

use crate::AppState;

/// How laer is reached: see the module's documentation.
#[derive(Debug, Clone, Default)]
pub struct Site {
    public_url: Option<url::Url>,
    trusted_proxies: Vec<IpNet>,
    /// Whether laer serves HTTPS itself (set by the server from its TLS configuration).
    pub(crate) serves_tls: bool,
}

/// A public URL or a proxy address that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SiteError {
    #[error("the public URL {url:?} is not an absolute http(s) URL: {reason}")]
    PublicUrl { url: String, reason: String },
    #[error("the trusted proxy {entry:?} is neither an IP address nor a network such as 10.0.0.0/8")]
    Proxy { entry: String },
}

impl Site {
    /// A site at `public_url` (e.g. `https://cs.example.com`; a path such as `/laer` is
    /// kept) behind the proxies at `trusted_proxies` (addresses or networks).
    pub fn new(public_url: Option<&str>, trusted_proxies: &[String]) -> Result<Site, SiteError> {
        let public_url = public_url
            .map(|raw| {
                let refused = |reason: &str| SiteError::PublicUrl {
                    url: raw.to_string(),
                    reason: reason.to_string(),
                };
                let url = url::Url::parse(raw).map_err(|e| refused(&e.to_string()))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(refused("it must start with https:// (or http://) and name a host"));
                }
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(refused("it may not carry a query or a fragment"));
                }
                Ok(url)
            })
            .transpose()?;
        let trusted_proxies = trusted_proxies
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| SiteError::Proxy {
                        entry: entry.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Site {
            public_url,
            trusted_proxies,
            serves_tls: false,
        })
    }

    /// The configured public URL, if any.
    pub fn public_url(&self) -> Option<&url::Url> {
        self.public_url.as_ref()
    }

    /// Whether requests from `peer` may speak for their client in forwarded headers.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&peer))
    }

    /// The address links start with, without a trailing slash: the public URL when one is
    /// configured; otherwise the request's `Host` with its scheme — taken from the
    /// forwarded headers only when `peer` is a trusted proxy.
    pub fn origin(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.as_str().trim_end_matches('/').to_string();
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let forwarded = peer.is_some_and(|p| self.trusts(p));
        let host = forwarded
            .then(|| header("x-forwarded-host"))
            .flatten()
            .or(header("host"))
            .filter(|h| plain_host(h))
            .unwrap_or("localhost");
        let scheme = match forwarded.then(|| header("x-forwarded-proto")).flatten() {
            Some("https") => "https",
            _ if self.serves_tls => "https",
            _ => "http",
        };
        format!("{scheme}://{host}")
    }

    /// The client's address: the peer's, or — when the peer is a trusted proxy — the
    /// nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusts(peer) {
            return Some(peer);
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .map(|hop| hop.parse::<IpAddr>().ok())
            .collect::<Option<_>>()
            .unwrap_or_default();
        Some(hops.into_iter().rev().find(|hop| !self.trusts(*hop)).unwrap_or(peer))
    }
}

impl Site {
    /// The host a browser reached over plain http, or `None` when the browser spoke https:
    /// laer serves TLS, the public URL is https, or a trusted proxy says the client used
    /// https. `None` too for a `Host` that is no plain host name (nothing to name).
    fn plain_http_at<'h>(&self, peer: Option<IpAddr>, headers: &'h HeaderMap) -> Option<&'h str> {
        if self.serves_tls || self.public_url.as_ref().is_some_and(|url| url.scheme() == "https") {
            return None;
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let forwarded = peer.is_some_and(|p| self.trusts(p));
        if forwarded && header("x-forwarded-proto") == Some("https") {
            return None;
        }
        forwarded
            .then(|| header("x-forwarded-host"))
            .flatten()
            .or(header("host"))
            .filter(|h| plain_host(h))
    }

    /// The host a browser reached over plain http — so that it drops laer's `Secure`
    /// session cookie and logging in cannot work — or `None` when the page is secure for
    /// the browser ([`Site::plain_http_at`]) or the host is this machine (`localhost`,
    /// `127.0.0.1`, `[::1]`), where cookies are not marked `Secure`
    /// ([`Site::secure_cookies`]).
    pub(crate) fn plain_http_host(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<String> {
        self.plain_http_at(peer, headers)
            .filter(|host| !loopback_host(host))
            .map(str::to_string)
    }

    /// The cookie rule: laer's cookies are marked `Secure` (browsers send them only over
    /// https) except on plain http between a browser and laer on the same machine — a
    /// loopback `Host` from a loopback peer, with no https public URL — where there is no
    /// network to keep them from and where Safari, unlike Chrome and Firefox, would drop
    /// a `Secure` cookie.
    pub(crate) fn secure_cookies(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
        let local = peer.is_some_and(|p| p.is_loopback());
        !(local && self.plain_http_at(peer, headers).is_some_and(loopback_host))
    }
}

/// Applies the cookie rule ([`Site::secure_cookies`]) to every answer: handlers mark
/// their cookies `Secure`, and on plain http within this machine the mark comes off.
pub(crate) async fn cookie_rule(
    State(site): State<Arc<Site>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let secure = site.secure_cookies(peer_in(request.extensions()), request.headers());
    let mut response = next.run(request).await;
    if secure || !response.headers().contains_key(SET_COOKIE) {
        return response;
    }
    let cookies: Vec<HeaderValue> = response.headers().get_all(SET_COOKIE).iter().cloned().collect();
    response.headers_mut().remove(SET_COOKIE);
    for cookie in cookies {
        response.headers_mut().append(SET_COOKIE, without_secure(cookie));
    }
    response
}

/// A `Set-Cookie` value without its `Secure` attribute.
fn without_secure(cookie: HeaderValue) -> HeaderValue {
    let Ok(text) = cookie.to_str() else { return cookie };
    let kept: Vec<&str> = text
        .split(';')
        .map(str::trim)
        .filter(|attribute| !attribute.eq_ignore_ascii_case("secure"))
        .collect();
    HeaderValue::from_str(&kept.join("; ")).unwrap_or(cookie)
}

/// Whether `host` (with or without a port) names this machine.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `host` is a plain `name[:port]` (or `[v6]:port`), nothing a link could be
/// bent with.
fn plain_host(host: &str) -> bool {
    !host.is_empty() && host.len() <= 255 && host.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
}

/// The address a request came from (see [`Site::client_ip`]); `None` when the server
/// was not started with peer addresses (as in tests that call the router directly).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddress(pub Option<IpAddr>);

/// The TCP peer of a request, if the server recorded it.
pub(crate) fn peer(parts: &Parts) -> Option<IpAddr> {
    peer_in(&parts.extensions)
}

fn peer_in(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(state.site.client_ip(peer(parts), &parts.headers)))
    }
}

/// The host this login page was reached at over plain http, when browsers will drop the
/// session cookie there ([`Site::plain_http_host`]).
#[derive(Debug, Clone)]
pub(crate) struct PlainHttp(pub Option<String>);

impl FromRequestParts<AppState> for PlainHttp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(PlainHttp(state.site.plain_http_host(peer(parts), &parts.headers)))
    }
}

/// The origin links of this request start with ([`Site::origin`]).
#[derive(Debug, Clone)]
pub(crate) struct Origin(pub String);

impl FromRequestParts<AppState> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Origin(state.site.origin(peer(parts), &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_public_url_is_the_only_origin_when_set() {
        let site = Site::new(Some("https://cs.example.com/laer/"), &[]).unwrap();
        let forged = headers(&[("host", "evil.example"), ("x-forwarded-host", "evil.example")]);
        assert_eq!(
            site.origin(Some(ip("10.0.0.1")), &forged),
            "https://cs.example.com/laer"
        );
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let site = Site::new(None, &["10.0.0.0/8".into(), "192.168.1.5".into()]).unwrap();
        let sent = headers(&[
            ("host", "laer.internal:8080"),
            ("x-forwarded-host", "cs.example.com"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "203.0.113.9, 10.1.2.3"),
        ]);
        assert_eq!(site.origin(Some(ip("10.0.0.2")), &sent), "https://cs.example.com");
        assert_eq!(site.client_ip(Some(ip("10.0.0.2")), &sent), Some(ip("203.0.113.9")));
        assert_eq!(
            site.origin(Some(ip("198.51.100.7")), &sent),
            "http://laer.internal:8080",
            "an untrusted peer's forwarded headers are ignored"
        );
        assert_eq!(
            site.client_ip(Some(ip("198.51.100.7")), &sent),
            Some(ip("198.51.100.7"))
        );
        assert_eq!(
            site.client_ip(Some(ip("192.168.1.5")), &HeaderMap::new()),
            Some(ip("192.168.1.5"))
        );
        assert_eq!(site.client_ip(None, &sent), None);
    }

    #[test]
    fn a_host_that_could_bend_a_link_is_not_used() {
        let site = Site::default();
        let bent = headers(&[("host", "evil.example/path?x=")]);
        assert_eq!(site.origin(None, &bent), "http://localhost");
    }

    #[test]
    fn plain_http_is_named_unless_the_browser_counts_it_secure() {
        let site = Site::new(None, &["10.0.0.0/8".into()]).unwrap();
        let at = |host: &str| headers(&[("host", host)]);
        let outside = Some(ip("198.51.100.7"));
        assert_eq!(
            site.plain_http_host(outside, &at("cs.example.com:8080")),
            Some("cs.example.com:8080".into())
        );
        assert_eq!(
            site.plain_http_host(outside, &at("192.168.1.20")),
            Some("192.168.1.20".into())
        );
        for local in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "app.localhost"] {
            assert_eq!(site.plain_http_host(outside, &at(local)), None, "{local}");
        }
        let proxied = headers(&[
            ("host", "laer.internal:8080"),
            ("x-forwarded-host", "cs.example.com"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(site.plain_http_host(Some(ip("10.0.0.2")), &proxied), None);
        assert_eq!(
            site.plain_http_host(outside, &proxied),
            Some("laer.internal:8080".into()),
            "an untrusted peer cannot claim https"
        );
        let tls = Site {
            serves_tls: true,
            ..Site::default()
        };
        assert_eq!(tls.plain_http_host(outside, &at("cs.example.com")), None);
        assert!(tls.origin(outside, &at("cs.example.com")).starts_with("https://"));
        let public = Site::new(Some("https://cs.example.com"), &[]).unwrap();
        assert_eq!(public.plain_http_host(outside, &at("cs.example.com")), None);
    }

    #[test]
    fn cookies_are_secure_except_on_plain_http_within_this_machine() {
        let site = Site::new(None, &["10.0.0.0/8".into()]).unwrap();
        let at = |host: &str| headers(&[("host", host)]);
        let here = Some(ip("127.0.0.1"));
        for local in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080"] {
            assert!(!site.secure_cookies(here, &at(local)), "{local}");
            assert!(!site.secure_cookies(Some(ip("::1")), &at(local)), "{local}");
        }
        assert!(site.secure_cookies(here, &at("cs.example.com")), "a public host");
        assert!(
            site.secure_cookies(Some(ip("198.51.100.7")), &at("localhost:8080")),
            "a loopback Host from another machine"
        );
        assert!(site.secure_cookies(None, &at("localhost")), "an unknown peer");
        let https = Site::new(Some("https://cs.example.com"), &[]).unwrap();
        assert!(https.secure_cookies(here, &at("localhost:8080")), "an https public URL");
        let tls = Site {
            serves_tls: true,
            ..Site::default()
        };
        assert!(tls.secure_cookies(here, &at("localhost:8080")), "laer's own TLS");
        let sent = HeaderValue::from_static("laer_session=s3cret; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60");
        assert_eq!(
            without_secure(sent),
            "laer_session=s3cret; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        );
    }

    #[test]
    fn bad_configuration_is_named() {
        assert!(matches!(
            Site::new(Some("cs.example.com"), &[]),
            Err(SiteError::PublicUrl { .. })
        ));
        assert!(matches!(
            Site::new(Some("ftp://x.example"), &[]),
            Err(SiteError::PublicUrl { .. })
        ));
        assert!(matches!(
            Site::new(None, &["proxy.local".into()]),
            Err(SiteError::Proxy { .. })
        ));
    }
}
