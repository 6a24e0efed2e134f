//! Port-forward tunnels: a local listener whose connections travel through one session's data
//! channel, as smux streams (current agents) or one at a time (basic mode, older agents).
//!
//! One task owns the listener and the session's queues. In multiplexed mode an
//! [`smux_tcp::Pump`] carries the connections (a reader with read-ahead credit and a writer per
//! connection; closing as smux and the agent close); in basic mode the task copies one
//! connection at a time, and `ssm-protocol` decides which output belongs to which connection.
//! A failing `accept` backs off ([`AcceptBackoff`]); at most [`MAX_CONNECTIONS`] connections
//! are carried at once, and those beyond are turned away with a warning. Live figures are in
//! [`TunnelStats`].

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smux_tcp::{Pump, PumpEvent, Traffic, READ_SIZE};
use ssm_protocol::handshake::{PortMode, PortSession};
use ssm_protocol::payload::PortFlag;
use ssm_protocol::smux::{KeepAlive, SessionConfig, Side};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::datachannel::{Command, Ending, LinkFigures, Notice, SessionChannel};

/// The most connections one tunnel session carries at once. Far above what a database pool or
/// a browser opens; a client that opens more (a loop that never closes its sockets) is turned
/// away rather than allowed to exhaust the node's or this machine's descriptors.
pub const MAX_CONNECTIONS: usize = 512;

/// How long the end of a multiplexed session waits for slow connections to take what the
/// session had received for them.
const END_GRACE: Duration = Duration::from_secs(5);

/// Output held for the first connection of a basic tunnel when it arrives before anyone
/// connected (a destination that speaks first); beyond it the session waits.
const EARLY_OUTPUT: usize = 256 * 1024;

/// A local port that is free now on `bind` (the operating system's choice), to suggest for a
/// new tunnel. Another program may take it before the tunnel listens; the tunnel then says so.
pub async fn free_port(bind: IpAddr) -> std::io::Result<u16> {
    Ok(TcpListener::bind(SocketAddr::new(bind, 0)).await?.local_addr()?.port())
}

/// The warning for a listener on `bind` that other machines can reach: any address but
/// loopback (`0.0.0.0`, `::`, a LAN address). Whoever reaches that port reaches the tunnel's
/// destination as this user, with no credentials of their own; the CLI and the app say so.
pub fn exposure_warning(bind: IpAddr) -> Option<String> {
    if bind.to_canonical().is_loopback() {
        return None;
    }
    let reach = if bind.is_unspecified() {
        "every network this machine is on"
    } else {
        "the network of that address"
    };
    Some(format!(
        "listening on {bind} makes the tunnel reachable from other machines on {reach}: anyone who can connect reaches its destination through your session. Bind to 127.0.0.1 unless you mean to share it."
    ))
}

/// Live figures of a tunnel.
#[derive(Debug, Default)]
pub struct TunnelStats {
    /// Bytes from local clients into the tunnel, and from the tunnel to local clients.
    pub traffic: Arc<Traffic>,
    /// Connections open now.
    pub open_connections: AtomicU64,
    /// Connections accepted since the start.
    pub total_connections: AtomicU64,
    /// Connections the agent could not connect to the destination.
    pub refused_connections: AtomicU64,
    /// Connections closed at once because [`MAX_CONNECTIONS`] were open.
    pub turned_away_connections: AtomicU64,
}

impl TunnelStats {
    fn count_new_connection(&self) {
        self.total_connections.fetch_add(1, Ordering::Relaxed);
        self.open_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// Bytes from local clients into the tunnel.
    pub fn bytes_up(&self) -> u64 {
        self.traffic.from_connections.load(Ordering::Relaxed)
    }

    /// Bytes from the tunnel to local clients.
    pub fn bytes_down(&self) -> u64 {
        self.traffic.to_connections.load(Ordering::Relaxed)
    }
}

/// Why a tunnel stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelError {
    /// The session ended.
    #[error("the tunnel's session ended: {0}")]
    SessionEnded(String),
    /// The session is not a port session this tunnel can carry.
    #[error("the session is not a TCP port-forwarding session (mode {0:?})")]
    NotForwarding(PortMode),
    /// The local listener failed.
    #[error("the local listener failed: {0}")]
    Listener(String),
    /// The smux layer broke.
    #[error("the multiplexed stream broke: {0}")]
    Mux(String),
    /// Keep-alive was asked of a tunnel that carries one connection at a time.
    #[error("keep-alive needs a multiplexed tunnel, and this node's agent (older than 3.0.196.0) forwards one connection at a time: turn keep-alive off, or update the agent")]
    NoKeepAlive,
}

/// A running tunnel.
#[derive(Debug)]
pub struct Tunnel {
    local_addr: SocketAddr,
    stats: Arc<TunnelStats>,
    link: Arc<LinkFigures>,
    task: JoinHandle<Result<(), TunnelError>>,
    finished: tokio::sync::watch::Receiver<Option<String>>,
}

/// Where a tunnel's connections come from: its own listener, or a pool that hands them out.
#[derive(Debug)]
enum Incoming {
    /// Accept on this listener.
    Listener(TcpListener),
    /// Take connections from this queue (a pool's dispatcher, through a [`Handoff`]); its end
    /// ends the tunnel.
    Queue(mpsc::Receiver<TcpStream>),
}

impl Incoming {
    /// The next connection. One from the listener is counted here; one from the queue was
    /// counted when it was handed over. A failing accept is retried after `backoff`'s wait; only
    /// the end of the queue ends the tunnel.
    async fn accept(
        &mut self,
        stats: &TunnelStats,
        backoff: &mut AcceptBackoff,
    ) -> Result<TcpStream, TunnelError> {
        match self {
            Incoming::Listener(listener) => {
                let stream = accept_with_backoff(listener, backoff).await;
                stats.count_new_connection();
                Ok(stream)
            }
            Incoming::Queue(queue) => queue
                .recv()
                .await
                .ok_or_else(|| TunnelError::Listener("the tunnel was stopped".into())),
        }
    }
}

/// Something connections are accepted from: a listener (or a test's stand-in for one).
pub(crate) trait Accept {
    async fn accept_one(&mut self) -> std::io::Result<TcpStream>;
}

impl Accept for TcpListener {
    async fn accept_one(&mut self) -> std::io::Result<TcpStream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// How a listener recovers from failing accepts. A failure that concerns one connection (reset
/// or aborted before it was taken, an interrupted call) is skipped at once. Any other, such as
/// running out of file descriptors (EMFILE, ENFILE) or memory, leaves the pending connection in
/// the kernel's queue, so trying again at once would fail at once and spin a core: the
/// listener waits, from 10 ms doubling to 1 s, and a success starts over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptBackoff {
    next: Duration,
    failing: bool,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff { next: AcceptBackoff::FIRST, failing: false }
    }
}

impl AcceptBackoff {
    /// The first wait.
    pub const FIRST: Duration = Duration::from_millis(10);
    /// The longest wait.
    pub const LONGEST: Duration = Duration::from_secs(1);

    /// How long to wait after `error` before accepting again.
    pub fn after_error(&mut self, error: &std::io::Error) -> Duration {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted, WouldBlock};
        if matches!(error.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock) {
            return Duration::ZERO;
        }
        if !self.failing {
            tracing::warn!(%error, "the tunnel's listener cannot accept connections; retrying with back-off");
        }
        self.failing = true;
        let wait = self.next;
        self.next = (self.next * 2).min(AcceptBackoff::LONGEST);
        wait
    }

    /// An accept succeeded.
    pub fn after_success(&mut self) {
        if self.failing {
            tracing::info!("the tunnel's listener accepts connections again");
        }
        *self = AcceptBackoff::default();
    }
}

/// The next connection from `listener`, waiting out failures as [`AcceptBackoff`] says.
pub(crate) async fn accept_with_backoff(
    listener: &mut impl Accept,
    backoff: &mut AcceptBackoff,
) -> TcpStream {
    loop {
        match listener.accept_one().await {
            Ok(stream) => {
                backoff.after_success();
                return stream;
            }
            Err(error) => {
                let wait = backoff.after_error(&error);
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// The sending end of a tunnel's [`Incoming::Queue`]: counts a connection as the tunnel's the
/// moment it is handed over, so a dispatcher choosing the least loaded tunnel sees every
/// connection it has already given out, even those not yet picked up.
#[derive(Debug, Clone)]
pub struct Handoff {
    queue: mpsc::Sender<TcpStream>,
    stats: Arc<TunnelStats>,
}

impl Handoff {
    /// Gives `stream` to the tunnel; `Err` gives it back when the tunnel has ended.
    pub async fn hand(&self, stream: TcpStream) -> Result<(), TcpStream> {
        self.stats.count_new_connection();
        self.queue.send(stream).await.map_err(|returned| {
            self.stats.open_connections.fetch_sub(1, Ordering::Relaxed);
            self.stats.total_connections.fetch_sub(1, Ordering::Relaxed);
            returned.0
        })
    }

    /// Connections open in the tunnel, including those handed over and not yet picked up.
    pub fn load(&self) -> u64 {
        self.stats.open_connections.load(Ordering::Relaxed)
    }

    /// Whether the tunnel still takes connections.
    pub fn is_open(&self) -> bool {
        !self.queue.is_closed()
    }
}

impl Tunnel {
    /// Starts forwarding connections accepted on `listener` through `session`, which must be
    /// ready (its [`Notice::Ready`] received) as the port session `port`.
    pub fn start(
        listener: TcpListener,
        session: SessionChannel,
        port: &PortSession,
    ) -> Result<Tunnel, TunnelError> {
        let local_addr = listener.local_addr().map_err(|e| TunnelError::Listener(e.to_string()))?;
        Tunnel::start_counted(
            Incoming::Listener(listener),
            local_addr,
            session,
            port,
            Arc::new(TunnelStats::default()),
            None,
        )
    }

    /// A tunnel fed by a pool's dispatcher: the [`Handoff`] to give it connections with.
    /// `heartbeat`: an smux NOP this often, so the service's idle timeout does not close the
    /// tunnel while nobody uses it ([`crate::session::TunnelSpec::keep_alive`]).
    pub fn start_queued(
        local_addr: SocketAddr,
        session: SessionChannel,
        port: &PortSession,
        heartbeat: Option<Duration>,
    ) -> Result<(Tunnel, Handoff), TunnelError> {
        let (queue, incoming) = mpsc::channel(16);
        let stats = Arc::new(TunnelStats::default());
        let tunnel = Tunnel::start_counted(
            Incoming::Queue(incoming),
            local_addr,
            session,
            port,
            stats.clone(),
            heartbeat,
        )?;
        Ok((tunnel, Handoff { queue, stats }))
    }

    fn start_counted(
        incoming: Incoming,
        local_addr: SocketAddr,
        session: SessionChannel,
        port: &PortSession,
        stats: Arc<TunnelStats>,
        heartbeat: Option<Duration>,
    ) -> Result<Tunnel, TunnelError> {
        let link = session.figures.clone();
        let (done, finished) = tokio::sync::watch::channel(None);
        let run = match port.mode {
            PortMode::Mux { keep_alive } => futures_util::future::Either::Left(run_mux(
                incoming,
                session,
                keep_alive,
                heartbeat,
                stats.clone(),
            )),
            PortMode::Basic if heartbeat.is_some() => return Err(TunnelError::NoKeepAlive),
            PortMode::Basic => {
                futures_util::future::Either::Right(run_basic(incoming, session, stats.clone()))
            }
            mode @ PortMode::Stdio => return Err(TunnelError::NotForwarding(mode)),
        };
        let task = tokio::spawn(async move {
            let outcome = run.await;
            let _ = done.send(Some(
                outcome.as_ref().err().map_or_else(|| "stopped".to_owned(), ToString::to_string),
            ));
            outcome
        });
        Ok(Tunnel { local_addr, stats, link, task, finished })
    }

    /// The session link's figures (round-trip time, resends, reconnects).
    pub fn link(&self) -> &Arc<LinkFigures> {
        &self.link
    }

    /// Waits until the tunnel has ended; returns why.
    pub async fn finished(&self) -> String {
        let mut finished = self.finished.clone();
        let reason = match finished.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => "stopped".into(),
        };
        reason
    }

    /// Whether the tunnel still runs.
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Where local clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The live figures.
    pub fn stats(&self) -> &Arc<TunnelStats> {
        &self.stats
    }

    /// Stops the tunnel (the session ends with it).
    pub fn stop(&self) {
        self.task.abort();
    }

    /// Waits for the tunnel to end.
    pub async fn join(self) -> Result<(), TunnelError> {
        self.task.await.unwrap_or(Ok(()))
    }
}

fn ended(ending: Ending) -> TunnelError {
    TunnelError::SessionEnded(ending.to_string())
}

fn session_gone() -> TunnelError {
    TunnelError::SessionEnded("the session's task is gone".into())
}

/// Multiplexed mode: every connection an smux stream of the session.
async fn run_mux(
    mut incoming: Incoming,
    mut session: SessionChannel,
    keep_alive: bool,
    heartbeat: Option<Duration>,
    stats: Arc<TunnelStats>,
) -> Result<(), TunnelError> {
    let config = SessionConfig {
        keep_alive: keep_alive.then(KeepAlive::default),
        heartbeat,
        max_streams: MAX_CONNECTIONS,
        ..SessionConfig::default()
    };
    let mut pump = Pump::new(Side::Client, config, stats.traffic.clone());
    let mut backoff = AcceptBackoff::default();
    // smux bytes waiting for room in the session's queue. The loop never blocks on that queue:
    // it keeps reading the session's output meanwhile, or the two ends could wait on each other.
    let mut outbox: Option<Vec<u8>> = None;
    loop {
        if outbox.is_none() {
            outbox = pump.poll_transmit(READ_SIZE);
        }
        let commands = session.commands.clone();
        tokio::select! {
            permit = commands.reserve(), if outbox.is_some() => match (permit, outbox.take()) {
                (Ok(permit), Some(bytes)) => permit.send(Command::Data(bytes)),
                _ => return Err(session_gone()),
            },
            accepted = incoming.accept(&stats, &mut backoff) => {
                let stream = accepted?;
                if pump.connection_count() >= MAX_CONNECTIONS {
                    turn_away(stream, &stats);
                } else if let Err(error) = pump.open(stream) {
                    return Err(TunnelError::Mux(error.to_string()));
                }
            }
            notice = session.notices.recv(), if pump.wants_bytes() => match notice {
                Some(Notice::Data(bytes)) => pump.give_bytes(bytes),
                Some(Notice::Flag(PortFlag::ConnectToPortError)) => {
                    stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                }
                Some(Notice::Ended(ending)) => {
                    // Everything before the end is in smux already: hand it over first.
                    pump.drain(END_GRACE).await;
                    return Err(ended(ending));
                }
                None => return Err(session_gone()),
                Some(_) => {}
            },
            () = pump.wait() => {}
        }
        pump.progress();
        while let Some(event) = pump.poll_event() {
            match event {
                PumpEvent::Closed(_) => {
                    stats.open_connections.fetch_sub(1, Ordering::Relaxed);
                }
                PumpEvent::Refused(id) => tracing::warn!(
                    stream = id.0,
                    "the agent opened a stream; a client takes none, so it was closed"
                ),
                // Streams are opened by this end only.
                PumpEvent::Opened(_) => {}
                PumpEvent::Ended(reason) => return Err(TunnelError::Mux(reason.to_string())),
            }
        }
    }
}

/// Closes a connection beyond [`MAX_CONNECTIONS`] at once, and says so.
fn turn_away(stream: TcpStream, stats: &TunnelStats) {
    stats.open_connections.fetch_sub(1, Ordering::Relaxed);
    if stats.turned_away_connections.fetch_add(1, Ordering::Relaxed) == 0 {
        tracing::warn!(limit = MAX_CONNECTIONS, "the tunnel carries {MAX_CONNECTIONS} connections at once; further connections are closed until some end");
    }
    drop(stream);
}

/// Basic mode: one connection at a time; DisconnectToPort when it closes. Which output is the
/// closed connection's is decided by the session (`ssm_protocol::ClientSession`); here, output
/// that arrives before the first connection is held for it (the agent dials its destination
/// at session start, and a destination may speak first), and the session's notices are taken
/// even while no connection is open, so the session never waits on this loop.
async fn run_basic(
    mut incoming: Incoming,
    mut session: SessionChannel,
    stats: Arc<TunnelStats>,
) -> Result<(), TunnelError> {
    let mut backoff = AcceptBackoff::default();
    let mut early: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let stream = loop {
            tokio::select! {
                accepted = incoming.accept(&stats, &mut backoff) => break accepted?,
                notice = session.notices.recv(), if early.len() < EARLY_OUTPUT => match notice {
                    Some(Notice::Data(bytes)) if first => early.extend(bytes),
                    Some(Notice::Flag(PortFlag::ConnectToPortError)) => {
                        stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(Notice::Ended(ending)) => return Err(ended(ending)),
                    None => return Err(session_gone()),
                    Some(_) => {}
                },
            }
        };
        first = false;
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let outcome = async {
            if !early.is_empty() {
                if write.write_all(&early).await.is_err() {
                    return Ok(());
                }
                stats.traffic.to_connections.fetch_add(early.len() as u64, Ordering::Relaxed);
                early = Vec::new();
            }
            let mut buf = vec![0u8; READ_SIZE];
            let mut outbox: Option<Vec<u8>> = None;
            let commands = session.commands.clone();
            loop {
                tokio::select! {
                    n = read.read(&mut buf), if outbox.is_none() => match n {
                        Ok(0) | Err(_) => return Ok(()),
                        Ok(n) => {
                            stats.traffic.from_connections.fetch_add(n as u64, Ordering::Relaxed);
                            outbox = Some(buf[..n].to_vec());
                        }
                    },
                    permit = commands.reserve(), if outbox.is_some() => match (permit, outbox.take()) {
                        (Ok(permit), Some(bytes)) => permit.send(Command::Data(bytes)),
                        _ => return Err(session_gone()),
                    },
                    notice = session.notices.recv() => match notice {
                        Some(Notice::Data(bytes)) => {
                            if write.write_all(&bytes).await.is_err() {
                                return Ok(());
                            }
                            stats.traffic.to_connections.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                        }
                        Some(Notice::Flag(PortFlag::ConnectToPortError)) => {
                            stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                            return Ok(());
                        }
                        Some(Notice::Ended(ending)) => return Err(ended(ending)),
                        None => return Err(session_gone()),
                        Some(_) => {}
                    },
                }
            }
        }
        .await;
        stats.open_connections.fetch_sub(1, Ordering::Relaxed);
        outcome?;
        let _ = write.shutdown().await;
        if session.commands.send(Command::Flag(PortFlag::DisconnectToPort)).await.is_err() {
            return Err(session_gone());
        }
        // Output the session handed on before the flag (queued here, not yet read) is the
        // closed connection's; the session drops what arrives of it later.
        loop {
            match session.notices.recv().await {
                Some(Notice::PortDisconnected) => break,
                Some(Notice::Flag(PortFlag::ConnectToPortError)) => {
                    stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                }
                Some(Notice::Ended(ending)) => return Err(ended(ending)),
                None => return Err(session_gone()),
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A listener that fails as told, then hands out real connections.
    struct Scripted {
        failures: VecDeque<std::io::ErrorKind>,
        listener: TcpListener,
        attempts: Vec<tokio::time::Instant>,
    }

    impl Accept for Scripted {
        async fn accept_one(&mut self) -> std::io::Result<TcpStream> {
            self.attempts.push(tokio::time::Instant::now());
            match self.failures.pop_front() {
                Some(kind) => Err(std::io::Error::new(kind, "scripted")),
                None => self.listener.accept_one().await,
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_accept_backs_off_instead_of_spinning() {
        use std::io::ErrorKind::{ConnectionAborted, Other, OutOfMemory};
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Out of descriptors looks like this to std (EMFILE has no kind of its own).
        let failures = [Other, Other, Other, OutOfMemory, ConnectionAborted].into();
        let mut scripted = Scripted { failures, listener, attempts: Vec::new() };
        let client = tokio::spawn(async move { TcpStream::connect(addr).await.unwrap() });
        let mut backoff = AcceptBackoff::default();
        let _stream = accept_with_backoff(&mut scripted, &mut backoff).await;
        client.await.unwrap();
        let gaps: Vec<Duration> = scripted.attempts.windows(2).map(|w| w[1] - w[0]).collect();
        let ms = Duration::from_millis;
        assert_eq!(
            gaps,
            [ms(10), ms(20), ms(40), ms(80), ms(0)],
            "waits double; a lost connection is skipped at once"
        );
        assert_eq!(backoff, AcceptBackoff::default(), "a success starts over");
    }

    #[test]
    fn only_loopback_listeners_go_without_a_warning() {
        let warned = |bind: &str| exposure_warning(bind.parse().unwrap()).is_some();
        for quiet in ["127.0.0.1", "127.10.0.3", "::1", "::ffff:127.0.0.1"] {
            assert!(!warned(quiet), "{quiet} is loopback");
        }
        for exposed in ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "fe80::1"] {
            assert!(warned(exposed), "{exposed} is reachable from other machines");
        }
        let text = exposure_warning("0.0.0.0".parse().unwrap()).unwrap();
        assert!(
            text.contains("0.0.0.0") && text.contains("127.0.0.1"),
            "names the address and the fix: {text}"
        );
    }

    #[test]
    fn the_back_off_stops_growing_at_a_second() {
        let mut backoff = AcceptBackoff::default();
        let error = std::io::Error::other("EMFILE");
        let waits: Vec<Duration> = (0..10).map(|_| backoff.after_error(&error)).collect();
        assert_eq!(waits.last(), Some(&AcceptBackoff::LONGEST));
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
    }
}
