//! Which proxy a connection goes through, and the HTTP `CONNECT` that opens a tunnel through
//! it. The SDK's HTTP client and the data channel read the same variables with the same
//! parser (hyper-util's `Matcher`, which the SDK's client uses too): `HTTPS_PROXY` /
//! `https_proxy` for `https://` and `wss://`, `HTTP_PROXY` / `http_proxy` for plaintext,
//! `ALL_PROXY`, and `NO_PROXY` / `no_proxy`. `user:password@` in a proxy URL is sent as basic
//! authentication.

use std::fmt;
use std::sync::Arc;

use hyper_util::client::proxy::matcher::Matcher;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};

use super::DialError;

/// Where proxies come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxySource {
    /// The standard variables of this process's environment.
    #[default]
    Environment,
    /// No proxy, whatever the environment says.
    Direct,
}

/// The proxy rules of a place.
#[derive(Clone)]
pub struct Proxies {
    matcher: Option<Arc<Matcher>>,
    source: ProxySource,
}

impl fmt::Debug for Proxies {
    // The matcher holds credentials; only whether there are rules is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxies").field("source", &self.source).finish_non_exhaustive()
    }
}

/// A proxy a connection goes through.
#[derive(Clone)]
pub struct ProxyRoute {
    uri: Uri,
    authorization: Option<HeaderValue>,
}

impl fmt::Debug for ProxyRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyRoute")
            .field("proxy", &self.to_string())
            .field("authorization", &self.authorization.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl fmt::Display for ProxyRoute {
    /// The proxy's scheme, host and port, never its credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.uri.scheme_str().unwrap_or("http");
        let host = self.uri.host().unwrap_or("?");
        match self.uri.port_u16() {
            Some(port) => write!(f, "{scheme}://{host}:{port}"),
            None => write!(f, "{scheme}://{host}"),
        }
    }
}

impl ProxyRoute {
    /// The proxy's host and port (port 80, or 443 for an `https://` proxy, when not given).
    pub fn address(&self) -> (String, u16) {
        let tls = self.uri.scheme_str() == Some("https");
        let port = self.uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        (self.uri.host().unwrap_or_default().trim_matches(['[', ']']).to_owned(), port)
    }

    /// Whether the proxy itself is reached over TLS.
    pub fn is_tls(&self) -> bool {
        self.uri.scheme_str() == Some("https")
    }
}

impl Proxies {
    /// The rules `source` gives.
    pub fn new(source: ProxySource) -> Proxies {
        let matcher = match source {
            ProxySource::Environment => Some(Arc::new(Matcher::from_env())),
            ProxySource::Direct => None,
        };
        Proxies { matcher, source }
    }

    /// The proxy for `scheme://host:port` (`https` also stands for `wss`), or `None` to go
    /// direct.
    pub fn route(&self, tls: bool, host: &str, port: u16) -> Option<ProxyRoute> {
        let matcher = self.matcher.as_ref()?;
        let scheme = if tls { "https" } else { "http" };
        let host = if host.contains(':') { format!("[{host}]") } else { host.to_owned() };
        let uri: Uri = format!("{scheme}://{host}:{port}/").parse().ok()?;
        let intercept = matcher.intercept(&uri)?;
        Some(ProxyRoute {
            uri: intercept.uri().clone(),
            authorization: intercept.basic_auth().cloned(),
        })
    }

    /// The same rules for the SDK's HTTP client.
    pub(crate) fn sdk_config(&self) -> aws_smithy_http_client::proxy::ProxyConfig {
        match self.source {
            ProxySource::Environment => aws_smithy_http_client::proxy::ProxyConfig::from_env(),
            ProxySource::Direct => aws_smithy_http_client::proxy::ProxyConfig::disabled(),
        }
    }
}

/// The longest proxy answer to a CONNECT that is read.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// Asks `proxy`, already connected on `stream`, for a tunnel to `host:port`.
pub(crate) async fn connect_tunnel<S>(
    stream: &mut S,
    proxy: &ProxyRoute,
    host: &str,
    port: u16,
) -> Result<(), DialError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let authority =
        if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(authorization) = &proxy.authorization {
        request.push_str("Proxy-Authorization: ");
        request.push_str(authorization.to_str().unwrap_or_default());
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let io_error =
        |source: std::io::Error| DialError::ProxyConnect { proxy: proxy.to_string(), source };
    stream.write_all(request.as_bytes()).await.map_err(io_error)?;
    stream.flush().await.map_err(io_error)?;

    // One byte at a time up to the blank line: the tunnel's first bytes must stay unread.
    let mut head = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_RESPONSE {
            return Err(DialError::ProxyProtocol {
                proxy: proxy.to_string(),
                what: "its answer to CONNECT has no end".into(),
            });
        }
        match stream.read(&mut byte).await.map_err(io_error)? {
            0 => {
                return Err(DialError::ProxyProtocol {
                    proxy: proxy.to_string(),
                    what: "it closed the connection without answering CONNECT".into(),
                })
            }
            _ => head.push(byte[0]),
        }
    }
    let status_line = head
        .split(|b| *b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim().to_owned())
        .unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, status, reason) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let Ok(status) = status.parse::<u16>() else {
        return Err(DialError::ProxyProtocol {
            proxy: proxy.to_string(),
            what: format!("it answered {status_line:?}, not an HTTP status"),
        });
    };
    if !version.starts_with("HTTP/") {
        return Err(DialError::ProxyProtocol {
            proxy: proxy.to_string(),
            what: format!("it answered {status_line:?}, not HTTP"),
        });
    }
    match status {
        200..=299 => Ok(()),
        407 => Err(DialError::ProxyAuthRequired {
            proxy: proxy.to_string(),
            sent_credentials: proxy.authorization.is_some(),
        }),
        _ => Err(DialError::ProxyRefused {
            proxy: proxy.to_string(),
            destination: authority,
            status,
            reason: reason.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(uri: &str, auth: bool) -> ProxyRoute {
        ProxyRoute {
            uri: uri.parse().unwrap(),
            authorization: auth.then(|| HeaderValue::from_static("Basic dTpw")),
        }
    }

    async fn answer(response: &'static [u8], auth: bool) -> (Result<(), DialError>, String) {
        let (mut client, mut proxy) = tokio::io::duplex(4096);
        let server = tokio::spawn(async move {
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                let n = proxy.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
            }
            proxy.write_all(response).await.unwrap();
            // The tunnel's first byte, which CONNECT must leave unread.
            proxy.write_all(b"T").await.unwrap();
            String::from_utf8(request).unwrap()
        });
        let result = connect_tunnel(
            &mut client,
            &route("http://proxy.example:3128", auth),
            "ssm.eu-west-1.amazonaws.com",
            443,
        )
        .await;
        let request = server.await.unwrap();
        if result.is_ok() {
            let mut first = [0u8; 1];
            client.read_exact(&mut first).await.unwrap();
            assert_eq!(&first, b"T", "the tunnel's bytes are not consumed by the CONNECT exchange");
        }
        (result, request)
    }

    #[tokio::test]
    async fn a_tunnel_opens_with_credentials_sent_as_basic_auth() {
        let (result, request) =
            answer(b"HTTP/1.1 200 Connection established\r\nVia: test\r\n\r\n", true).await;
        result.unwrap();
        assert!(
            request.starts_with("CONNECT ssm.eu-west-1.amazonaws.com:443 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nProxy-Authorization: Basic dTpw\r\n"), "{request}");
    }

    #[tokio::test]
    async fn refusals_say_what_the_proxy_said() {
        let (result, request) =
            answer(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", false).await;
        assert!(
            !request.contains("Proxy-Authorization"),
            "no credentials were configured: {request}"
        );
        let error = result.unwrap_err();
        assert!(
            matches!(error, DialError::ProxyAuthRequired { sent_credentials: false, .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("user:password@"),
            "says how to give credentials: {error}"
        );
        let (result, _) = answer(b"HTTP/1.0 403 Filtered\r\n\r\n", false).await;
        let error = result.unwrap_err();
        assert!(
            error.to_string().contains("403 Filtered") && error.to_string().contains("NO_PROXY"),
            "{error}"
        );
        let (result, _) = answer(b"SSH-2.0-OpenSSH\r\n\r\n", false).await;
        assert!(matches!(result.unwrap_err(), DialError::ProxyProtocol { .. }));
    }

    #[test]
    fn a_route_never_shows_its_credentials() {
        let proxy = route("http://user:secret@proxy.example:3128", true);
        assert_eq!(proxy.to_string(), "http://proxy.example:3128");
        assert!(!format!("{proxy:?}").contains("secret"));
        assert_eq!(proxy.address(), ("proxy.example".to_owned(), 3128));
    }
}
