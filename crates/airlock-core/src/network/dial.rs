//! Opening a connection the way the SDK's client does: TCP to the host or to its proxy (then
//! `CONNECT`), TLS with the place's [`Trust`](super::Trust), and for the data channel the
//! WebSocket upgrade; every stage under its own timeout, every failure typed.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use super::proxy::{connect_tunnel, ProxyRoute};
use super::{DialError, Network, Stage};

/// A byte stream: plain TCP, or TLS over TCP or over a proxy's tunnel.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// An open connection.
pub struct Connection {
    stream: Box<dyn Stream>,
    /// The proxy it goes through, if any.
    pub via: Option<ProxyRoute>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("via", &self.via).finish_non_exhaustive()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut *self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut *self.stream).poll_shutdown(cx)
    }
}

/// A WebSocket over a [`Connection`].
pub type Socket = WebSocketStream<Connection>;

/// The largest WebSocket message Airlock reads. Session Manager messages carry at most a few
/// kilobytes (1024-byte payloads plus a 120-byte header); anything near this is hostile or
/// broken, and is refused before it is buffered.
pub const MAX_WEBSOCKET_MESSAGE: usize = 1 << 20;

/// Where a URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// TLS (`https`, `wss`) or plaintext (`http`, `ws`).
    pub tls: bool,
    /// The host, without brackets.
    pub host: String,
    /// The port (the scheme's default when the URL has none).
    pub port: u16,
}

impl Target {
    /// The target of an `http(s)://` or `ws(s)://` URL.
    pub fn of_url(url: &str) -> Result<Target, DialError> {
        let bad = |why: &str| DialError::BadUrl { url: without_query(url), why: why.to_owned() };
        let uri: Uri = url.parse().map_err(|_| bad("it does not parse as a URL"))?;
        let tls = match uri.scheme_str() {
            Some("https" | "wss") => true,
            Some("http" | "ws") => false,
            _ => return Err(bad("the scheme must be https, wss, http or ws")),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or_else(|| bad("it has no host"))?;
        Ok(Target {
            tls,
            host: host.trim_matches(['[', ']']).to_owned(),
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        })
    }

    /// `host:port`, as it appears in errors and in a Host header.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The URL without its query, which may carry a cell number or more.
pub(crate) fn without_query(url: &str) -> String {
    url.split('?').next().unwrap_or_default().to_owned()
}

async fn within<T>(
    stage: Stage,
    host: &str,
    after: Duration,
    work: impl std::future::Future<Output = Result<T, DialError>>,
) -> Result<T, DialError> {
    match tokio::time::timeout(after, work).await {
        Ok(result) => result,
        Err(_) => Err(DialError::TimedOut { stage, host: host.to_owned(), after }),
    }
}

impl Network {
    /// Connects to `target`: through its proxy if the rules say so, with TLS if its scheme
    /// does.
    pub async fn connect(&self, target: &Target) -> Result<Connection, DialError> {
        let timeouts = self.timeouts();
        let via = self.proxies().route(target.tls, &target.host, target.port);
        let (dial_host, dial_port) =
            via.as_ref().map_or_else(|| (target.host.clone(), target.port), ProxyRoute::address);
        let tcp = within(Stage::Connect, &dial_host, timeouts.connect, async {
            TcpStream::connect((dial_host.as_str(), dial_port)).await.map_err(|source| match &via {
                Some(proxy) => DialError::ProxyConnect { proxy: proxy.to_string(), source },
                None => DialError::Connect { host: target.authority(), source },
            })
        })
        .await?;
        // Nagle's algorithm would hold a keystroke's small frame until the previous one is
        // acknowledged (tens of milliseconds with delayed ACKs); Go's sockets, and so the
        // plugin's, have it off too.
        let _ = tcp.set_nodelay(true);
        let mut stream: Box<dyn Stream> = Box::new(tcp);
        if let Some(proxy) = &via {
            if proxy.is_tls() {
                let (proxy_host, _) = proxy.address();
                stream = within(
                    Stage::Tls,
                    &proxy_host,
                    timeouts.tls,
                    self.tls_over(stream, &proxy_host),
                )
                .await?;
            }
            within(
                Stage::Proxy,
                &dial_host,
                timeouts.connect,
                connect_tunnel(&mut stream, proxy, &target.host, target.port),
            )
            .await?;
        }
        if target.tls {
            stream =
                within(Stage::Tls, &target.host, timeouts.tls, self.tls_over(stream, &target.host))
                    .await?;
        }
        Ok(Connection { stream, via })
    }

    async fn tls_over(
        &self,
        stream: Box<dyn Stream>,
        host: &str,
    ) -> Result<Box<dyn Stream>, DialError> {
        let name = rustls_pki_types::ServerName::try_from(host.to_owned()).map_err(|_| {
            DialError::BadUrl {
                url: host.to_owned(),
                why: "the host is not a valid TLS server name".into(),
            }
        })?;
        let connector = tokio_rustls::TlsConnector::from(self.tls_config());
        match connector.connect(name, stream).await {
            Ok(tls) => Ok(Box::new(tls)),
            Err(source) => Err(self.tls_failure(host, source)),
        }
    }

    /// The typed failure for a TLS handshake with `host` that ended in `source`.
    pub(crate) fn tls_failure(&self, host: &str, source: std::io::Error) -> DialError {
        match super::find_certificate_error(&source) {
            Some(detail) => DialError::Untrusted {
                host: host.to_owned(),
                detail,
                trust: self.trust().description().to_owned(),
            },
            None => DialError::Tls { host: host.to_owned(), source },
        }
    }

    /// Opens the WebSocket at `url` with `headers` added to the upgrade request.
    pub async fn websocket(
        &self,
        url: &str,
        headers: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<Socket, DialError> {
        let target = Target::of_url(url)?;
        let mut request = url
            .into_client_request()
            .map_err(|e| DialError::BadUrl { url: without_query(url), why: e.to_string() })?;
        for (name, value) in headers {
            request.headers_mut().insert(name, value);
        }
        let connection = self.connect(&target).await?;
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_WEBSOCKET_MESSAGE))
            .max_frame_size(Some(MAX_WEBSOCKET_MESSAGE));
        let upgrade = async {
            tokio_tungstenite::client_async_with_config(request, connection, Some(config))
                .await
                .map(|(socket, _)| socket)
                .map_err(|error| DialError::Upgrade {
                    url: without_query(url),
                    why: upgrade_failure(error),
                })
        };
        within(Stage::Upgrade, &target.host, self.timeouts().upgrade, upgrade).await
    }
}

fn upgrade_failure(error: tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error;
    match error {
        Error::Http(response) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                .unwrap_or_default();
            let status = response.status();
            if body.is_empty() {
                format!("the server answered HTTP {status}")
            } else {
                format!("the server answered HTTP {status}: {body}")
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_take_the_schemes_default_port() {
        assert_eq!(
            Target::of_url("wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s?role=x")
                .unwrap(),
            Target { tls: true, host: "ssmmessages.eu-west-1.amazonaws.com".into(), port: 443 }
        );
        assert_eq!(
            Target::of_url("ws://127.0.0.1:8790/v1").unwrap(),
            Target { tls: false, host: "127.0.0.1".into(), port: 8790 }
        );
        assert_eq!(Target::of_url("https://[::1]:9/").unwrap().authority(), "[::1]:9");
        let error = Target::of_url("ftp://example.com/x?token=secret").unwrap_err();
        assert!(!error.to_string().contains("secret"), "the query is left out of errors: {error}");
    }
}
