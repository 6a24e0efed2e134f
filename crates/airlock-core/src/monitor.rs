//! A running tunnel (a forward, a SOCKS proxy, or a saved profile's group of forwards) as a
//! front end watches it: its figures once a [`SAMPLE_PERIOD`] (bytes each way, connections,
//! round-trip time, live sessions; each forward's too for a group), the moment it ends and
//! why, and a handle to stop it. Rates are left to the viewer: the figures are
//! running totals, so a missed sample loses nothing.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::group::{ForwardFigures, TunnelGroup};
use crate::session::{ForwardTunnel, TunnelFigures};
use crate::socks::SocksProxy;

/// How often figures are reported.
pub const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// What a watched tunnel reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelEvent {
    /// The running totals, once a [`SAMPLE_PERIOD`] and once more at the end.
    Figures {
        /// Of the whole tunnel.
        total: TunnelFigures,
        /// Of each forward of a group, in the profile's order; empty for anything else.
        forwards: Vec<ForwardFigures>,
    },
    /// The tunnel has ended; nothing follows.
    Ended {
        /// Why, in words for the user.
        reason: String,
        /// The user stopped it.
        by_user: bool,
    },
}

/// Stops a watched tunnel. Dropping it stops the tunnel too.
#[derive(Debug)]
pub struct TunnelHandle {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<()>>,
}

impl TunnelHandle {
    /// Where local clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops listening and terminates the tunnel's sessions; a [`TunnelEvent::Ended`] follows.
    /// Resolves when the sessions are terminated.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

/// What a front end watches.
#[derive(Debug)]
pub enum Watched {
    /// Local connections forwarded to one destination.
    Forward(ForwardTunnel),
    /// A SOCKS5 proxy: each connection to the destination it names, a session per destination.
    Socks(SocksProxy),
    /// The forwards of a saved profile, stopped together when one ends.
    Group(TunnelGroup),
}

impl From<TunnelGroup> for Watched {
    fn from(group: TunnelGroup) -> Self {
        Watched::Group(group)
    }
}

impl From<ForwardTunnel> for Watched {
    fn from(tunnel: ForwardTunnel) -> Self {
        Watched::Forward(tunnel)
    }
}

impl From<SocksProxy> for Watched {
    fn from(proxy: SocksProxy) -> Self {
        Watched::Socks(proxy)
    }
}

impl Watched {
    fn local_addr(&self) -> SocketAddr {
        match self {
            Watched::Forward(tunnel) => tunnel.local_addr(),
            Watched::Socks(proxy) => proxy.local_addr(),
            Watched::Group(group) => group.local_addr(),
        }
    }

    fn figures(&self) -> TunnelEvent {
        let (total, forwards) = match self {
            Watched::Forward(tunnel) => (tunnel.figures(), Vec::new()),
            Watched::Socks(proxy) => (proxy.figures(), Vec::new()),
            Watched::Group(group) => (group.figures(), group.forward_figures()),
        };
        TunnelEvent::Figures { total, forwards }
    }

    /// Resolves when it has ended by itself, with why. A proxy's destinations open and close
    /// as they are used; the proxy itself runs until it is stopped.
    async fn ended(&mut self) -> String {
        match self {
            Watched::Forward(tunnel) => tunnel.wait().await,
            Watched::Socks(proxy) => {
                while proxy.next_event().await.is_some() {}
                "the proxy stopped".to_owned()
            }
            Watched::Group(group) => group.wait().await,
        }
    }

    async fn stop(self) {
        match self {
            Watched::Forward(tunnel) => tunnel.stop().await,
            Watched::Socks(proxy) => proxy.stop().await,
            Watched::Group(group) => group.stop().await,
        }
    }
}

/// Watches `tunnel` from a task of its own.
pub fn watch(tunnel: impl Into<Watched>) -> (TunnelHandle, mpsc::Receiver<TunnelEvent>) {
    let tunnel = tunnel.into();
    let (stop, stopped) = oneshot::channel();
    let (done, done_rx) = oneshot::channel();
    let (events, event_rx) = mpsc::channel(16);
    let local_addr = tunnel.local_addr();
    tokio::spawn(async move {
        run(tunnel, stopped, events).await;
        let _ = done.send(());
    });
    (TunnelHandle { local_addr, stop: Some(stop), done: Some(done_rx) }, event_rx)
}

async fn run(
    mut tunnel: Watched,
    mut stopped: oneshot::Receiver<()>,
    events: mpsc::Sender<TunnelEvent>,
) {
    let mut ticks = tokio::time::interval(SAMPLE_PERIOD);
    let (reason, by_user) = loop {
        tokio::select! {
            _ = ticks.tick() => {
                // A viewer that is behind skips a sample rather than slowing the tunnel.
                let _ = events.try_send(tunnel.figures());
            }
            reason = tunnel.ended() => break (reason, false),
            _ = &mut stopped => break ("stopped".to_owned(), true),
        }
    };
    let last = tunnel.figures();
    tunnel.stop().await;
    let _ = events.send(last).await;
    let _ = events.send(TunnelEvent::Ended { reason, by_user }).await;
}
