//! Port-forward tunnels: a local listener whose connections travel through one session's data
//! channel, as smux streams (current agents) or one at a time (basic mode, older agents).
//!
//! One task owns the listener, the smux client and the session's queues. Each accepted
//! connection gets a reader task (with a credit of bytes it may read ahead, so one busy
//! connection cannot starve the others or grow memory) and a writer task. Live figures are in
//! [`TunnelStats`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ssm_protocol::handshake::{PortMode, PortSession};
use ssm_protocol::payload::PortFlag;
use ssm_protocol::smux::{self, KeepAlive, SessionConfig, Side, StreamId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use crate::datachannel::{Command, Ending, LinkFigures, Notice, SessionChannel};

/// Bytes a connection may read ahead of what smux has taken.
const CONNECTION_CREDIT: usize = 64 * 1024;
/// One read from a local connection.
const READ_SIZE: usize = 16 * 1024;

/// Live figures of a tunnel.
#[derive(Debug, Default)]
pub struct TunnelStats {
    /// Bytes from local clients into the tunnel.
    pub bytes_up: AtomicU64,
    /// Bytes from the tunnel to local clients.
    pub bytes_down: AtomicU64,
    /// Connections open now.
    pub open_connections: AtomicU64,
    /// Connections accepted since the start.
    pub total_connections: AtomicU64,
    /// Connections the agent could not connect to the destination.
    pub refused_connections: AtomicU64,
}

impl TunnelStats {
    fn count_new_connection(&self) {
        self.total_connections.fetch_add(1, Ordering::Relaxed);
        self.open_connections.fetch_add(1, Ordering::Relaxed);
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
    /// counted when it was handed over.
    async fn accept(&mut self, stats: &TunnelStats) -> Result<TcpStream, TunnelError> {
        match self {
            Incoming::Listener(listener) => {
                let (stream, _) = listener.accept().await.map_err(|e| TunnelError::Listener(e.to_string()))?;
                stats.count_new_connection();
                Ok(stream)
            }
            Incoming::Queue(queue) => queue.recv().await.ok_or_else(|| TunnelError::Listener("the tunnel was stopped".into())),
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
    pub fn start(listener: TcpListener, session: SessionChannel, port: &PortSession) -> Result<Tunnel, TunnelError> {
        let local_addr = listener.local_addr().map_err(|e| TunnelError::Listener(e.to_string()))?;
        Tunnel::start_counted(Incoming::Listener(listener), local_addr, session, port, Arc::new(TunnelStats::default()))
    }

    /// A tunnel fed by a pool's dispatcher: the [`Handoff`] to give it connections with.
    pub fn start_queued(local_addr: SocketAddr, session: SessionChannel, port: &PortSession) -> Result<(Tunnel, Handoff), TunnelError> {
        let (queue, incoming) = mpsc::channel(16);
        let stats = Arc::new(TunnelStats::default());
        let tunnel = Tunnel::start_counted(Incoming::Queue(incoming), local_addr, session, port, stats.clone())?;
        Ok((tunnel, Handoff { queue, stats }))
    }

    fn start_counted(incoming: Incoming, local_addr: SocketAddr, session: SessionChannel, port: &PortSession, stats: Arc<TunnelStats>) -> Result<Tunnel, TunnelError> {
        let link = session.figures.clone();
        let (done, finished) = tokio::sync::watch::channel(None);
        let run = match port.mode {
            PortMode::Mux { keep_alive } => futures_util::future::Either::Left(run_mux(incoming, session, keep_alive, stats.clone())),
            PortMode::Basic => futures_util::future::Either::Right(run_basic(incoming, session, port.terminate_flag, stats.clone())),
            mode @ PortMode::Stdio => return Err(TunnelError::NotForwarding(mode)),
        };
        let task = tokio::spawn(async move {
            let outcome = run.await;
            let _ = done.send(Some(outcome.as_ref().err().map_or_else(|| "stopped".to_owned(), ToString::to_string)));
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

enum Internal {
    Read(StreamId, Vec<u8>),
    ReadEnd(StreamId),
    /// A connection's writer made room in its queue. The loop may be waiting with output for
    /// that connection it could not hand over; this wakes it (it has no other reason to wake
    /// when the local client only receives).
    Wrote,
}

struct Connection {
    writer: mpsc::Sender<Vec<u8>>,
    reader: JoinHandle<()>,
    credit: Arc<Semaphore>,
    pending: VecDeque<u8>,
    read_ended: bool,
}

fn spawn_connection(id: StreamId, stream: TcpStream, events: mpsc::Sender<Internal>, stats: Arc<TunnelStats>) -> Connection {
    let (mut read, mut write) = stream.into_split();
    let credit = Arc::new(Semaphore::new(CONNECTION_CREDIT));
    let (writer, mut writes) = mpsc::channel::<Vec<u8>>(16);
    let down = stats.clone();
    let wrote = events.clone();
    tokio::spawn(async move {
        while let Some(bytes) = writes.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
            down.bytes_down.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            // A full event queue means the loop is awake anyway.
            let _ = wrote.try_send(Internal::Wrote);
        }
        let _ = write.shutdown().await;
    });
    let reader_credit = credit.clone();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; READ_SIZE];
        loop {
            let Ok(permit) = reader_credit.acquire_many(READ_SIZE as u32).await else { break };
            permit.forget();
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    reader_credit.add_permits(READ_SIZE - n);
                    stats.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                    if events.send(Internal::Read(id, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = events.send(Internal::ReadEnd(id)).await;
    });
    Connection { writer, reader, credit, pending: VecDeque::new(), read_ended: false }
}

fn ended(ending: Ending) -> TunnelError {
    TunnelError::SessionEnded(ending.to_string())
}

async fn run_mux(mut incoming: Incoming, mut session: SessionChannel, keep_alive: bool, stats: Arc<TunnelStats>) -> Result<(), TunnelError> {
    let config = SessionConfig { keep_alive: keep_alive.then(KeepAlive::default), ..SessionConfig::default() };
    let mut mux = smux::Session::new(Side::Client, config, Instant::now());
    let (events_tx, mut events) = mpsc::channel::<Internal>(64);
    let mut connections: HashMap<StreamId, Connection> = HashMap::new();
    let mut inbox: Vec<u8> = Vec::new();
    // smux bytes waiting for room in the session's queue. The loop never blocks on that queue:
    // it keeps reading the session's output meanwhile, or the two ends could wait on each other.
    let mut outbox: Option<Vec<u8>> = None;
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        if outbox.is_none() {
            outbox = mux.poll_transmit(READ_SIZE);
        }
        let timer = mux.poll_timeout();
        let commands = session.commands.clone();
        tokio::select! {
            permit = commands.reserve(), if outbox.is_some() => match (permit, outbox.take()) {
                (Ok(permit), Some(bytes)) => permit.send(Command::Data(bytes)),
                _ => return Err(TunnelError::SessionEnded("the session's task is gone".into())),
            },
            accepted = incoming.accept(&stats) => {
                let stream = accepted?;
                let _ = stream.set_nodelay(true);
                let id = mux.open_stream().map_err(|e| TunnelError::Mux(e.to_string()))?;
                connections.insert(id, spawn_connection(id, stream, events_tx.clone(), stats.clone()));
            }
            notice = session.notices.recv(), if inbox.is_empty() => match notice {
                Some(Notice::Data(bytes)) => inbox = bytes,
                Some(Notice::Flag(PortFlag::ConnectToPortError)) => {
                    stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                }
                Some(Notice::Ended(ending)) => return Err(ended(ending)),
                None => return Err(TunnelError::SessionEnded("the session's task is gone".into())),
                Some(_) => {}
            },
            Some(event) = events.recv() => match event {
                Internal::Read(id, bytes) => {
                    if let Some(conn) = connections.get_mut(&id) {
                        conn.pending.extend(bytes);
                    }
                }
                Internal::ReadEnd(id) => {
                    if let Some(conn) = connections.get_mut(&id) {
                        conn.read_ended = true;
                    }
                }
                Internal::Wrote => {}
            },
            () = sleep_until(timer), if timer.is_some() => mux.handle_timeout(Instant::now()),
        }
        loop {
            let mut progressed = false;
            if !inbox.is_empty() {
                let consumed = mux.handle_bytes(Instant::now(), &inbox);
                inbox.drain(..consumed);
                progressed |= consumed > 0;
            }
            let mut finished = Vec::new();
            for (id, conn) in connections.iter_mut() {
                if !conn.pending.is_empty() {
                    let (front, _) = conn.pending.as_slices();
                    let accepted = mux.write(*id, front).unwrap_or(0);
                    conn.pending.drain(..accepted);
                    conn.credit.add_permits(accepted);
                    progressed |= accepted > 0;
                }
                if mux.readable_len(*id) > 0 {
                    if let Ok(permit) = conn.writer.try_reserve() {
                        let n = mux.read(*id, &mut buf).unwrap_or(0);
                        permit.send(buf[..n].to_vec());
                        progressed |= n > 0;
                    }
                }
                if conn.read_ended && conn.pending.is_empty() {
                    finished.push(*id);
                }
            }
            for id in finished {
                // The local client closed: the stream closes, as the plugin does.
                close(&mut mux, &mut connections, id, &stats);
                progressed = true;
            }
            while let Some(event) = mux.poll_event() {
                progressed = true;
                match event {
                    smux::Event::Finished(id) => close(&mut mux, &mut connections, id, &stats),
                    smux::Event::Closed(reason) => return Err(TunnelError::Mux(reason.to_string())),
                    // The agent opens no streams; Readable and Writable are handled by polling.
                    _ => {}
                }
            }
            if !progressed {
                break;
            }
        }
    }
}

fn close(mux: &mut smux::Session, connections: &mut HashMap<StreamId, Connection>, id: StreamId, stats: &TunnelStats) {
    if let Some(conn) = connections.remove(&id) {
        conn.reader.abort();
        stats.open_connections.fetch_sub(1, Ordering::Relaxed);
        // The writer drains what it holds, then shuts the connection down.
    }
    let _ = mux.close_stream(id);
}

/// Basic mode: one connection at a time; DisconnectToPort when it closes.
async fn run_basic(mut incoming: Incoming, mut session: SessionChannel, terminate_flag: bool, stats: Arc<TunnelStats>) -> Result<(), TunnelError> {
    let _ = terminate_flag; // The flag is sent by the owner on stop; kept for symmetry with mux.
    loop {
        let stream = incoming.accept(&stats).await?;
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let mut buf = vec![0u8; READ_SIZE];
        let mut outbox: Option<Vec<u8>> = None;
        let commands = session.commands.clone();
        let outcome = loop {
            tokio::select! {
                n = read.read(&mut buf), if outbox.is_none() => match n {
                    Ok(0) | Err(_) => break Ok(()),
                    Ok(n) => {
                        stats.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
                        outbox = Some(buf[..n].to_vec());
                    }
                },
                permit = commands.reserve(), if outbox.is_some() => match (permit, outbox.take()) {
                    (Ok(permit), Some(bytes)) => permit.send(Command::Data(bytes)),
                    _ => break Err(TunnelError::SessionEnded("the session's task is gone".into())),
                },
                notice = session.notices.recv() => match notice {
                    Some(Notice::Data(bytes)) => {
                        if write.write_all(&bytes).await.is_err() {
                            break Ok(());
                        }
                        stats.bytes_down.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    }
                    Some(Notice::Flag(PortFlag::ConnectToPortError)) => {
                        stats.refused_connections.fetch_add(1, Ordering::Relaxed);
                        break Ok(());
                    }
                    Some(Notice::Ended(ending)) => break Err(ended(ending)),
                    None => break Err(TunnelError::SessionEnded("the session's task is gone".into())),
                    Some(_) => {}
                },
            }
        };
        stats.open_connections.fetch_sub(1, Ordering::Relaxed);
        outcome?;
        let _ = write.shutdown().await;
        if session.commands.send(Command::Flag(PortFlag::DisconnectToPort)).await.is_err() {
            return Err(TunnelError::SessionEnded("the session's task is gone".into()));
        }
        // Output that arrives between connections belongs to the closed one: drop it.
        while let Ok(notice) = session.notices.try_recv() {
            if let Notice::Ended(ending) = notice {
                return Err(ended(ending));
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
