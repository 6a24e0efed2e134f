//! A SOCKS5 proxy on a local address whose connections reach their destinations through a
//! node: each CONNECT (RFC 1928, no authentication) is carried by a remote-host
//! port-forwarding session (`AWS-StartPortForwardingSessionToRemoteHost`) to that host and
//! port. Names are resolved by the node, not here (as `curl --socks5-hostname` asks), so
//! hosts only the node's network knows can be reached. Sessions are opened per destination on
//! first use, shared by every later connection to it, and terminated once idle.
//!
//! The proxy answers a CONNECT as soon as the destination's session is open: whether the node
//! then reaches the destination is known only when its connection is tried, so a refused one
//! is closed at once and counted (`refused_connections`), as in a tunnel.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::aws::Aws;
use crate::datachannel::DriverConfig;
use crate::session::{HandedTunnel, OpenError, TunnelFigures, TunnelSpec};

/// How long a destination's session stays open with no connection on it.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(60);

/// How long a client may take to send its SOCKS greeting and request.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What to run.
#[derive(Debug, Clone)]
pub struct SocksSpec {
    /// The node every connection goes through (an id or a Name tag).
    pub target: String,
    /// Where to listen (loopback by default).
    pub local: SocketAddr,
    /// How long an unused destination's session is kept.
    pub idle: Duration,
}

/// A destination as the client named it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    /// A name (resolved by the node) or an address.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What the proxy tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocksEvent {
    /// A session to this destination was opened.
    Opened(Destination),
    /// A destination could not be reached (its session did not open); the client was told.
    Failed(Destination, String),
    /// An idle destination's session was closed.
    Closed(Destination),
}

struct Route {
    tunnel: Arc<HandedTunnel>,
    last_used: Instant,
}

#[derive(Default)]
struct Routes {
    open: HashMap<Destination, Route>,
    /// Figures of the routes already closed, so the totals never go back.
    closed: TunnelFigures,
}

/// A running proxy. Dropping it stops accepting; [`SocksProxy::stop`] also ends the sessions.
pub struct SocksProxy {
    local_addr: SocketAddr,
    routes: Arc<Mutex<Routes>>,
    acceptor: JoinHandle<()>,
    reaper: JoinHandle<()>,
    events: tokio::sync::mpsc::UnboundedReceiver<SocksEvent>,
}

impl std::fmt::Debug for SocksProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocksProxy").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

fn routes(lock: &Mutex<Routes>) -> std::sync::MutexGuard<'_, Routes> {
    // Each operation under the lock is one insert, removal or read: never half done.
    lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Aws {
    /// Starts a SOCKS5 proxy through `spec.target`. The local address is bound first, so a
    /// taken port fails before anything else; the node is resolved (by id or Name tag) once.
    pub async fn socks(&self, spec: &SocksSpec) -> Result<SocksProxy, OpenError> {
        let (listener, local_addr) = crate::session::listen(spec.local).await?;
        let target = self.resolve_target(&spec.target).await?;
        let routes = Arc::new(Mutex::new(Routes::default()));
        let (events, event_rx) = tokio::sync::mpsc::unbounded_channel();
        let proxy = Proxy {
            aws: self.clone(),
            target,
            local_addr,
            routes: routes.clone(),
            opening: Arc::new(tokio::sync::Mutex::new(())),
            events: events.clone(),
        };
        let acceptor = tokio::spawn(accept(listener, proxy));
        let reaper = tokio::spawn(reap(routes.clone(), spec.idle, events));
        Ok(SocksProxy { local_addr, routes, acceptor, reaper, events: event_rx })
    }
}

impl SocksProxy {
    /// Where SOCKS clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The destinations with an open session now.
    pub fn destinations(&self) -> Vec<Destination> {
        routes(&self.routes).open.keys().cloned().collect()
    }

    /// The figures of every destination since the start, summed.
    pub fn figures(&self) -> TunnelFigures {
        let routes = routes(&self.routes);
        let mut total = routes.closed;
        for route in routes.open.values() {
            total.add(&route.tunnel.figures());
        }
        total
    }

    /// The next thing that happened; `None` once the proxy has stopped.
    pub async fn next_event(&mut self) -> Option<SocksEvent> {
        self.events.recv().await
    }

    /// Stops accepting and terminates every destination's session.
    pub async fn stop(self) {
        self.acceptor.abort();
        self.reaper.abort();
        let open: Vec<Route> = routes(&self.routes).open.drain().map(|(_, r)| r).collect();
        for route in open {
            route.tunnel.stop().await;
        }
    }
}

#[derive(Clone)]
struct Proxy {
    aws: Aws,
    target: String,
    local_addr: SocketAddr,
    routes: Arc<Mutex<Routes>>,
    /// One session opens at a time, so two clients of a new destination share one.
    opening: Arc<tokio::sync::Mutex<()>>,
    events: tokio::sync::mpsc::UnboundedSender<SocksEvent>,
}

async fn accept(mut listener: TcpListener, proxy: Proxy) {
    let mut backoff = crate::tunnel::AcceptBackoff::default();
    loop {
        let stream = crate::tunnel::accept_with_backoff(&mut listener, &mut backoff).await;
        let proxy = proxy.clone();
        tokio::spawn(async move {
            if let Err(error) = serve(stream, &proxy).await {
                tracing::debug!(%error, "a SOCKS client was turned away");
            }
        });
    }
}

/// Closes routes whose sessions have been idle for `idle`, or have ended.
async fn reap(
    routes_lock: Arc<Mutex<Routes>>,
    idle: Duration,
    events: tokio::sync::mpsc::UnboundedSender<SocksEvent>,
) {
    let mut tick = tokio::time::interval((idle / 4).max(Duration::from_millis(250)));
    loop {
        tick.tick().await;
        let now = Instant::now();
        let mut closing = Vec::new();
        {
            let mut routes = routes(&routes_lock);
            let done: Vec<Destination> = routes
                .open
                .iter()
                .filter(|(_, route)| {
                    let figures = route.tunnel.figures();
                    !route.tunnel.is_running()
                        || (figures.open_connections == 0
                            && now.duration_since(route.last_used) >= idle)
                })
                .map(|(destination, _)| destination.clone())
                .collect();
            for destination in done {
                if let Some(route) = routes.open.remove(&destination) {
                    let figures = route.tunnel.figures();
                    routes.closed.add(&TunnelFigures { live_sessions: 0, ..figures });
                    closing.push((destination, route));
                }
            }
        }
        for (destination, route) in closing {
            route.tunnel.stop().await;
            let _ = events.send(SocksEvent::Closed(destination));
        }
    }
}

/// Why a client was turned away.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("the client spoke something other than SOCKS5")]
    NotSocks5,
    #[error("the client offered no method without authentication")]
    NoMethod,
    #[error("the client asked for command {0}, not CONNECT")]
    Command(u8),
    #[error("the client named an address of type {0}")]
    AddressType(u8),
    #[error("the client took too long")]
    Timeout,
    #[error("the destination could not be reached: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// RFC 1928 replies.
const SUCCEEDED: u8 = 0x00;
const GENERAL_FAILURE: u8 = 0x01;
const COMMAND_NOT_SUPPORTED: u8 = 0x07;
const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;

async fn reply(stream: &mut TcpStream, code: u8) -> std::io::Result<()> {
    // The bound address is not meaningful through a node: 0.0.0.0:0, as many proxies answer.
    stream.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]).await
}

async fn serve(mut stream: TcpStream, proxy: &Proxy) -> Result<(), Refusal> {
    let destination = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&mut stream)).await {
        Err(_) => return Err(Refusal::Timeout),
        Ok(Err(refusal)) => {
            let code = match &refusal {
                Refusal::Command(_) => Some(COMMAND_NOT_SUPPORTED),
                Refusal::AddressType(_) => Some(ADDRESS_TYPE_NOT_SUPPORTED),
                _ => None,
            };
            if let Some(code) = code {
                let _ = reply(&mut stream, code).await;
            }
            return Err(refusal);
        }
        Ok(Ok(destination)) => destination,
    };
    let tunnel = match route(proxy, &destination).await {
        Ok(tunnel) => tunnel,
        Err(error) => {
            let _ = reply(&mut stream, GENERAL_FAILURE).await;
            let _ = proxy.events.send(SocksEvent::Failed(destination, error.to_string()));
            return Err(Refusal::Unreachable(error.to_string()));
        }
    };
    reply(&mut stream, SUCCEEDED).await?;
    if tunnel.hand(stream).await.is_err() {
        return Err(Refusal::Unreachable("its session ended".into()));
    }
    Ok(())
}

/// The greeting and the CONNECT request; what the client asked to reach.
async fn handshake(stream: &mut TcpStream) -> Result<Destination, Refusal> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(Refusal::NotSocks5);
    }
    let mut methods = vec![0u8; usize::from(head[1])];
    stream.read_exact(&mut methods).await?;
    if !methods.contains(&0) {
        stream.write_all(&[5, 0xff]).await?;
        return Err(Refusal::NoMethod);
    }
    stream.write_all(&[5, 0]).await?;
    let mut request = [0u8; 4];
    stream.read_exact(&mut request).await?;
    if request[0] != 5 {
        return Err(Refusal::NotSocks5);
    }
    if request[1] != 1 {
        return Err(Refusal::Command(request[1]));
    }
    let host = match request[3] {
        1 => {
            let mut octets = [0u8; 4];
            stream.read_exact(&mut octets).await?;
            IpAddr::V4(Ipv4Addr::from(octets)).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len).await?;
            let mut name = vec![0u8; usize::from(len[0])];
            stream.read_exact(&mut name).await?;
            String::from_utf8(name).map_err(|_| Refusal::AddressType(3))?
        }
        4 => {
            let mut octets = [0u8; 16];
            stream.read_exact(&mut octets).await?;
            IpAddr::V6(Ipv6Addr::from(octets)).to_string()
        }
        other => return Err(Refusal::AddressType(other)),
    };
    let mut port = [0u8; 2];
    stream.read_exact(&mut port).await?;
    Ok(Destination { host, port: u16::from_be_bytes(port) })
}

/// The destination's tunnel: the open one, or a new session.
async fn route(proxy: &Proxy, destination: &Destination) -> Result<Arc<HandedTunnel>, OpenError> {
    let shared = |proxy: &Proxy| {
        let mut routes = routes(&proxy.routes);
        routes.open.get_mut(destination).filter(|r| r.tunnel.is_running()).map(|route| {
            route.last_used = Instant::now();
            route.tunnel.clone()
        })
    };
    if let Some(tunnel) = shared(proxy) {
        return Ok(tunnel);
    }
    let _one_at_a_time = proxy.opening.lock().await;
    if let Some(tunnel) = shared(proxy) {
        return Ok(tunnel);
    }
    let spec = TunnelSpec {
        target: proxy.target.clone(),
        remote_port: destination.port,
        remote_host: Some(destination.host.clone()),
        local: proxy.local_addr,
        sessions: 1,
        reason: None,
        document: None,
        keep_alive: None,
    };
    let config: DriverConfig = proxy.aws.driver_config();
    let tunnel = Arc::new(proxy.aws.forward_handed(&spec, config).await?);
    let replaced = routes(&proxy.routes)
        .open
        .insert(destination.clone(), Route { tunnel: tunnel.clone(), last_used: Instant::now() });
    if let Some(ended) = replaced {
        ended.tunnel.stop().await;
    }
    let _ = proxy.events.send(SocksEvent::Opened(destination.clone()));
    Ok(tunnel)
}
