//! Opening what a user asks for, end to end: StartSession, the data channel, the handshake.
//! [`Aws::open`] gives a shell or command session to read and write; [`Aws::forward`] a
//! tunnel of one or more pooled sessions behind one local listener; [`OpenSession::bridge`]
//! joins an SSH (stdio) session to any reader and writer, such as stdin and stdout.
//!
//! Closing goes through TerminateSession, so the service ends the session at once instead of
//! waiting for its idle timeout.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use ssm_protocol::handshake::{PortMode, PortSession, SessionKind};
use ssm_protocol::payload::PortFlag;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::aws::{Aws, AwsError, StartRequest};
use crate::datachannel::{
    self, Command, ConnectError, DriverConfig, Ending, Endpoint, Notice, Ready, SessionChannel,
};
use crate::tunnel::{Handoff, Tunnel, TunnelError};

/// Why a session or tunnel could not be opened, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The control plane refused or could not be reached.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The data channel could not be opened.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The session ended during its start.
    #[error("the session ended before it was ready: {0}")]
    EndedEarly(Ending),
    /// The local port is taken.
    #[error("local address {addr} is already in use: choose another local port (or 0 for any free one), or stop the program using it")]
    PortInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The local listener could not be opened for another reason.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The document starts another kind of session than the caller needs.
    #[error("the document starts a {found} session, but {wanted} is needed here: choose a matching document")]
    WrongKind {
        /// What the caller needs.
        wanted: &'static str,
        /// What the agent announced.
        found: String,
    },
    /// A value given is out of range.
    #[error("{0}")]
    Invalid(String),
    /// The target names no node, or several.
    #[error(transparent)]
    Target(#[from] crate::inventory::TargetError),
}

/// A started session.
#[derive(Debug)]
pub struct OpenSession {
    /// The session id.
    pub session_id: String,
    /// The driver's end.
    pub channel: SessionChannel,
    pub(crate) aws: Aws,
}

impl Aws {
    /// StartSession, then the data channel. The session announces its kind with
    /// [`Notice::Ready`] (see [`OpenSession::ready`]).
    pub async fn open(
        &self,
        request: &StartRequest,
        config: DriverConfig,
    ) -> Result<OpenSession, OpenError> {
        let endpoint = self.start_session(request).await?;
        self.join(endpoint, config).await
    }

    /// Opens the data channel of a session StartSession has started; terminates the session
    /// when the channel cannot be opened.
    pub async fn join(
        &self,
        endpoint: Endpoint,
        config: DriverConfig,
    ) -> Result<OpenSession, OpenError> {
        let session_id = endpoint.session_id.clone();
        match datachannel::connect(endpoint, self.resumer(), config).await {
            Ok(channel) => Ok(OpenSession { session_id, channel, aws: self.clone() }),
            Err(error) => {
                let _ = self.terminate_session(&session_id).await;
                Err(error.into())
            }
        }
    }
}

impl OpenSession {
    /// The account and region the session belongs to.
    pub fn aws(&self) -> &Aws {
        &self.aws
    }

    /// Waits for the session to be ready (the handshake's end, or a shell's first output,
    /// which stays queued): its kind, its encryption, the agent's message.
    pub async fn ready(&mut self) -> Result<Ready, OpenError> {
        loop {
            match self.channel.notices.recv().await {
                Some(Notice::Ready(ready)) => return Ok(ready),
                Some(Notice::Ended(ending)) => return Err(OpenError::EndedEarly(ending)),
                Some(_) => {}
                None => {
                    return Err(OpenError::EndedEarly(Ending::LinkLost(
                        "the session's task stopped".into(),
                    )))
                }
            }
        }
    }

    /// Ends the session: TerminateSession, then the data channel closes.
    pub async fn terminate(self) -> Result<(), AwsError> {
        let result = self.aws.terminate_session(&self.session_id).await;
        let _ = self.channel.commands.send(Command::Close).await;
        result
    }

    /// Joins a stdio port session (AWS-StartSSHSession) to `input` and `output` until either
    /// side ends; then terminates the session.
    pub async fn bridge<R, W>(mut self, input: R, output: W) -> Result<(), OpenError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        match self.ready().await?.kind {
            SessionKind::Port(PortSession { mode: PortMode::Stdio, .. }) => {}
            other => {
                return Err(OpenError::WrongKind {
                    wanted: "an SSH (stdio) session",
                    found: kind_name(&other),
                })
            }
        }
        self.pipe(input, output).await
    }

    /// [`OpenSession::bridge`] of a session already known to be a stdio port session.
    pub async fn pipe<R, W>(mut self, mut input: R, mut output: W) -> Result<(), OpenError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut buf = vec![0u8; 16 * 1024];
        let mut input_open = true;
        let outcome = loop {
            tokio::select! {
                n = input.read(&mut buf), if input_open => match n {
                    Ok(0) | Err(_) => {
                        // ssh closed its end; what the server still sends is read to the end.
                        input_open = false;
                        let _ = self.channel.commands.send(Command::Flag(PortFlag::TerminateSession)).await;
                    }
                    Ok(n) => {
                        if self.channel.commands.send(Command::Data(buf[..n].to_vec())).await.is_err() {
                            break Ok(());
                        }
                    }
                },
                notice = self.channel.notices.recv() => match notice {
                    Some(Notice::Data(bytes)) => {
                        if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
                            break Ok(());
                        }
                    }
                    Some(Notice::Ended(Ending::Closed { .. } | Ending::ClosedByUser)) | None => break Ok(()),
                    Some(Notice::Ended(ending)) => break Err(OpenError::EndedEarly(ending)),
                    Some(_) => {}
                },
            }
        };
        let _ = self.terminate().await;
        outcome
    }
}

fn kind_name(kind: &SessionKind) -> String {
    match kind {
        SessionKind::Shell => "shell".into(),
        SessionKind::Command => "command".into(),
        SessionKind::Port(port) => format!("port ({:?})", port.mode),
    }
}

/// What a tunnel forwards to and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelSpec {
    /// The node.
    pub target: String,
    /// The port on the node, or on `remote_host`.
    pub remote_port: u16,
    /// A host reached through the node (a database behind it); `None` for the node itself.
    pub remote_host: Option<String>,
    /// Where to listen; port 0 picks a free one.
    pub local: SocketAddr,
    /// Sessions in the pool (1 to [`MAX_POOL`]).
    pub sessions: usize,
    /// Why, for the audit trail.
    pub reason: Option<String>,
    /// A Port document of the account's own, with its parameters, instead of AWS's two port
    /// forwarding documents; `remote_port` and `remote_host` are then not used.
    pub document: Option<PortDocument>,
    /// Opt-in: an smux NOP this often, so the service's idle timeout (Session Manager's
    /// preferences, 20 minutes by default) does not close the tunnel while nobody uses it.
    /// The trade-off: a tunnel left open is not closed for being idle, so whoever can reach
    /// its local port can use it for as long as it runs. Multiplexed tunnels only.
    pub keep_alive: Option<std::time::Duration>,
}

/// The heartbeat interval of [`TunnelSpec::keep_alive`] when a front end turns it on: well
/// inside the shortest idle timeout Session Manager allows (1 minute).
pub const KEEP_ALIVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// A Port document and the parameters to start it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortDocument {
    /// Its name.
    pub name: String,
    /// Its parameters, as StartSession takes them.
    pub parameters: std::collections::HashMap<String, Vec<String>>,
}

/// The most sessions one tunnel may hold.
pub const MAX_POOL: usize = 16;

impl TunnelSpec {
    /// The StartSession request for one member of the pool.
    pub fn start_request(&self) -> StartRequest {
        if let Some(document) = &self.document {
            return StartRequest {
                target: self.target.clone(),
                document: Some(document.name.clone()),
                parameters: document.parameters.clone(),
                reason: self.reason.clone(),
            };
        }
        let mut parameters = std::collections::HashMap::new();
        parameters.insert("portNumber".to_owned(), vec![self.remote_port.to_string()]);
        parameters.insert("localPortNumber".to_owned(), vec![self.local.port().to_string()]);
        let document = match &self.remote_host {
            Some(host) => {
                parameters.insert("host".to_owned(), vec![host.clone()]);
                "AWS-StartPortForwardingSessionToRemoteHost"
            }
            None => "AWS-StartPortForwardingSession",
        };
        StartRequest {
            target: self.target.clone(),
            document: Some(document.into()),
            parameters,
            reason: self.reason.clone(),
        }
    }
}

/// Live figures of a whole tunnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct TunnelFigures {
    /// Bytes from local clients into the tunnel.
    pub bytes_up: u64,
    /// Bytes from the tunnel to local clients.
    pub bytes_down: u64,
    /// Connections open now.
    pub open_connections: u64,
    /// Connections accepted since the start.
    pub total_connections: u64,
    /// Connections the node could not connect onwards.
    pub refused_connections: u64,
    /// Connections closed at once because the tunnel carried its most
    /// ([`crate::tunnel::MAX_CONNECTIONS`] a session).
    pub turned_away_connections: u64,
    /// Sessions still carrying connections.
    pub live_sessions: usize,
    /// The highest smoothed round-trip time among them, in microseconds.
    pub rtt_micros: u64,
    /// Reconnects of all sessions.
    pub reconnects: u64,
}

impl TunnelFigures {
    /// Adds `other`'s figures to these, as for tunnels shown as one: totals add up, the round
    /// trip is the highest.
    pub fn add(&mut self, other: &TunnelFigures) {
        self.bytes_up += other.bytes_up;
        self.bytes_down += other.bytes_down;
        self.open_connections += other.open_connections;
        self.total_connections += other.total_connections;
        self.refused_connections += other.refused_connections;
        self.turned_away_connections += other.turned_away_connections;
        self.live_sessions += other.live_sessions;
        self.rtt_micros = self.rtt_micros.max(other.rtt_micros);
        self.reconnects += other.reconnects;
    }
}

struct Member {
    session_id: String,
    tunnel: Tunnel,
    handoff: Handoff,
}

/// A running tunnel: one listener, one or more sessions.
pub struct ForwardTunnel {
    local_addr: SocketAddr,
    members: Arc<Vec<Member>>,
    dispatcher: JoinHandle<()>,
    aws: Aws,
}

impl std::fmt::Debug for ForwardTunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForwardTunnel")
            .field("local_addr", &self.local_addr)
            .field("sessions", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl Aws {
    /// Opens a tunnel: binds the local address first (so a taken port fails before any
    /// session starts), then starts `spec.sessions` sessions side by side.
    pub async fn forward(&self, spec: &TunnelSpec) -> Result<ForwardTunnel, OpenError> {
        self.forward_with(spec, self.driver_config()).await
    }

    /// [`Aws::forward`] with other driver settings, for example without the client-side
    /// message pacing (`message_rate: None`) against an endpoint that does not limit it.
    pub async fn forward_with(
        &self,
        spec: &TunnelSpec,
        config: DriverConfig,
    ) -> Result<ForwardTunnel, OpenError> {
        if spec.sessions == 0 || spec.sessions > MAX_POOL {
            return Err(OpenError::Invalid(format!(
                "a tunnel holds 1 to {MAX_POOL} sessions, not {}",
                spec.sessions
            )));
        }
        if spec.remote_port == 0 && spec.document.is_none() {
            return Err(OpenError::Invalid("the remote port must be between 1 and 65535".into()));
        }
        let target = self.resolve_target(&spec.target).await?;
        let spec = &TunnelSpec { target, ..spec.clone() };
        let (listener, local_addr) = listen(spec.local).await?;
        let members = Arc::new(self.open_pool(spec, config, local_addr).await?);
        let dispatcher = tokio::spawn(dispatch(listener, members.clone()));
        Ok(ForwardTunnel { local_addr, members, dispatcher, aws: self.clone() })
    }

    /// A tunnel of one port session already open and ready (the AWS CLI started it and
    /// Airlock, run as its plugin, joined it): listens on `local`, or terminates the session
    /// when it cannot, or when the session does not forward TCP.
    pub async fn forward_opened(
        &self,
        session: OpenSession,
        port: &PortSession,
        local: SocketAddr,
    ) -> Result<ForwardTunnel, OpenError> {
        let (listener, local_addr) = match listen(local).await {
            Ok(bound) => bound,
            Err(error) => {
                let _ = session.terminate().await;
                return Err(error);
            }
        };
        let member = self.pool_member(session, port, local_addr, None).await?;
        let members = Arc::new(vec![member]);
        let dispatcher = tokio::spawn(dispatch(listener, members.clone()));
        Ok(ForwardTunnel { local_addr, members, dispatcher, aws: self.clone() })
    }

    /// Starts `spec.sessions` port sessions side by side, each a tunnel fed from a queue;
    /// when one fails, the others are ended and the error is returned. `local_addr` names the
    /// tunnel in logs and figures.
    async fn open_pool(
        &self,
        spec: &TunnelSpec,
        config: DriverConfig,
        local_addr: SocketAddr,
    ) -> Result<Vec<Member>, OpenError> {
        let request = spec.start_request();
        let opened = futures_util::future::join_all(
            (0..spec.sessions).map(|_| self.open_port(&request, config.clone())),
        )
        .await;
        let mut members = Vec::new();
        let mut failure = None;
        for result in opened {
            let member = match result {
                Ok((session, port)) => {
                    self.pool_member(session, &port, local_addr, spec.keep_alive).await
                }
                Err(error) => Err(error),
            };
            match member {
                Ok(member) => members.push(member),
                Err(error) => failure = Some(error),
            }
        }
        if let Some(error) = failure {
            for member in &members {
                member.tunnel.stop();
                let _ = self.terminate_session(&member.session_id).await;
            }
            return Err(error);
        }
        Ok(members)
    }

    /// A tunnel without a listener of its own: the caller hands it connections it accepted
    /// (the SOCKS proxy does, after the SOCKS handshake). Otherwise as [`Aws::forward_with`].
    pub async fn forward_handed(
        &self,
        spec: &TunnelSpec,
        config: DriverConfig,
    ) -> Result<HandedTunnel, OpenError> {
        if spec.sessions == 0 || spec.sessions > MAX_POOL {
            return Err(OpenError::Invalid(format!(
                "a tunnel holds 1 to {MAX_POOL} sessions, not {}",
                spec.sessions
            )));
        }
        let target = self.resolve_target(&spec.target).await?;
        let spec = &TunnelSpec { target, ..spec.clone() };
        let members = self.open_pool(spec, config, spec.local).await?;
        Ok(HandedTunnel { members, aws: self.clone() })
    }

    /// A port session's tunnel, fed from a queue; the session is terminated when it does not
    /// forward TCP.
    async fn pool_member(
        &self,
        session: OpenSession,
        port: &PortSession,
        local_addr: SocketAddr,
        heartbeat: Option<std::time::Duration>,
    ) -> Result<Member, OpenError> {
        let session_id = session.session_id.clone();
        let error = match Tunnel::start_queued(local_addr, session.channel, port, heartbeat) {
            Ok((tunnel, handoff)) => return Ok(Member { session_id, tunnel, handoff }),
            Err(TunnelError::NotForwarding(mode)) => OpenError::WrongKind {
                wanted: "a TCP port-forwarding session",
                found: format!("port ({mode:?})"),
            },
            Err(other) => OpenError::Invalid(other.to_string()),
        };
        let _ = self.terminate_session(&session_id).await;
        Err(error)
    }

    async fn open_port(
        &self,
        request: &StartRequest,
        config: DriverConfig,
    ) -> Result<(OpenSession, PortSession), OpenError> {
        let session = self.open(request, config).await?;
        self.port_of(session).await
    }

    /// Waits for `session` to be ready; a session that is not a port session is terminated.
    async fn port_of(
        &self,
        mut session: OpenSession,
    ) -> Result<(OpenSession, PortSession), OpenError> {
        match session.ready().await.map(|ready| ready.kind) {
            Ok(SessionKind::Port(port)) => Ok((session, port)),
            Ok(other) => {
                let found = kind_name(&other);
                let _ = session.terminate().await;
                Err(OpenError::WrongKind { wanted: "a port-forwarding session", found })
            }
            Err(error) => {
                let _ = self.terminate_session(&session.session_id).await;
                Err(error)
            }
        }
    }
}

/// Binds a local listener; a taken address is [`OpenError::PortInUse`], so the front end can
/// say so on its field. Returns the listener and the address it got (port 0 picks one).
pub(crate) async fn listen(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), OpenError> {
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            return Err(OpenError::PortInUse { addr })
        }
        Err(e) => return Err(OpenError::Listen { addr, reason: e.to_string() }),
    };
    let local_addr =
        listener.local_addr().map_err(|e| OpenError::Listen { addr, reason: e.to_string() })?;
    Ok((listener, local_addr))
}

/// Hands each accepted connection to the live session with the fewest open connections (ties
/// go to the one that carried fewer so far).
async fn dispatch(mut listener: TcpListener, members: Arc<Vec<Member>>) {
    let mut backoff = crate::tunnel::AcceptBackoff::default();
    loop {
        let stream = crate::tunnel::accept_with_backoff(&mut listener, &mut backoff).await;
        if hand(&members, stream).await.is_err() {
            return; // every session ended: the listener closes with this task
        }
    }
}

/// Gives `stream` to the live session with the fewest open connections (ties go to the one
/// that carried fewer so far); `Err` gives it back when every session has ended.
async fn hand(members: &[Member], mut stream: TcpStream) -> Result<(), TcpStream> {
    loop {
        let choice =
            members.iter().filter(|m| m.tunnel.is_running() && m.handoff.is_open()).min_by_key(
                |m| (m.handoff.load(), m.tunnel.stats().total_connections.load(Ordering::Relaxed)),
            );
        let Some(member) = choice else { return Err(stream) };
        match member.handoff.hand(stream).await {
            Ok(()) => return Ok(()),
            Err(returned) => stream = returned, // that session just ended: try another
        }
    }
}

/// The live figures of a pool, summed over its sessions.
fn pool_figures(members: &[Member]) -> TunnelFigures {
    let mut figures = TunnelFigures::default();
    for member in members {
        let stats = member.tunnel.stats();
        figures.bytes_up += stats.bytes_up();
        figures.bytes_down += stats.bytes_down();
        figures.open_connections += stats.open_connections.load(Ordering::Relaxed);
        figures.total_connections += stats.total_connections.load(Ordering::Relaxed);
        figures.refused_connections += stats.refused_connections.load(Ordering::Relaxed);
        figures.turned_away_connections += stats.turned_away_connections.load(Ordering::Relaxed);
        figures.reconnects += member.tunnel.link().reconnects.load(Ordering::Relaxed);
        if member.tunnel.is_running() {
            figures.live_sessions += 1;
            figures.rtt_micros =
                figures.rtt_micros.max(member.tunnel.link().rtt_micros.load(Ordering::Relaxed));
        }
    }
    figures
}

/// Ends a pool: its tunnels stop and its sessions are terminated at the service.
async fn stop_pool(aws: &Aws, members: &[Member]) {
    for member in members {
        member.tunnel.stop();
        let _ = aws.terminate_session(&member.session_id).await;
    }
}

/// A tunnel fed by its owner ([`Aws::forward_handed`]).
pub struct HandedTunnel {
    members: Vec<Member>,
    aws: Aws,
}

impl std::fmt::Debug for HandedTunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandedTunnel")
            .field("sessions", &self.members.len())
            .finish_non_exhaustive()
    }
}

impl HandedTunnel {
    /// Carries `stream` (already past any handshake of the owner's) to the far side; `Err`
    /// gives it back when the tunnel has ended.
    pub async fn hand(&self, stream: TcpStream) -> Result<(), TcpStream> {
        hand(&self.members, stream).await
    }

    /// The live figures, summed over the pool.
    pub fn figures(&self) -> TunnelFigures {
        pool_figures(&self.members)
    }

    /// Whether any session still carries the tunnel.
    pub fn is_running(&self) -> bool {
        self.members.iter().any(|m| m.tunnel.is_running())
    }

    /// Terminates every session.
    pub async fn stop(&self) {
        stop_pool(&self.aws, &self.members).await;
    }
}

impl ForwardTunnel {
    /// Where local clients connect.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The session ids of the pool.
    pub fn session_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.session_id.clone()).collect()
    }

    /// Open connections per session, in pool order.
    pub fn connections_per_session(&self) -> Vec<u64> {
        self.members
            .iter()
            .map(|m| m.tunnel.stats().total_connections.load(Ordering::Relaxed))
            .collect()
    }

    /// The live figures, summed over the pool.
    pub fn figures(&self) -> TunnelFigures {
        pool_figures(&self.members)
    }

    /// Whether any session still carries the tunnel.
    pub fn is_running(&self) -> bool {
        !self.dispatcher.is_finished() && self.members.iter().any(|m| m.tunnel.is_running())
    }

    /// Stops listening and terminates every session.
    pub async fn stop(self) {
        self.dispatcher.abort();
        stop_pool(&self.aws, &self.members).await;
    }

    /// Waits until every session has ended (the service closed them, or their links were lost
    /// for good); returns the last one's reason.
    pub async fn wait(&self) -> String {
        let mut reason = String::new();
        for member in self.members.iter() {
            reason = member.tunnel.finished().await;
        }
        reason
    }
}
