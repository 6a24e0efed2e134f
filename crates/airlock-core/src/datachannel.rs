//! The data-channel driver: one tokio task per session that owns the WebSocket and the
//! `ssm-protocol` channel in the client role, and talks to the rest of Airlock through two
//! queues ([`Command`] in, [`Notice`] out).
//!
//! This is where a byte from the WebSocket becomes session output: `run` reads a binary frame,
//! `Channel::handle_frame` checks, acknowledges and orders it, and `deliver` turns each delivered
//! message into a [`Notice`] (`Notice::Data` for terminal or tunnel bytes).
//!
//! The task also owns what keeps a session alive: the handshake answer, a WebSocket heartbeat
//! that notices a dead link within a minute, reconnection through ResumeSession with bounded
//! backoff (nothing unacknowledged is lost: the channel resends it on the new socket), and
//! pacing of uploads with a token bucket just under the service's message-rate limit.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use ssm_protocol::handshake::{answer_request, KmsAnswer, SessionKind, CLIENT_VERSION};
use ssm_protocol::payload::{ExitCode, HandshakeRequest, OpenDataChannel, PortFlag, TerminalSize};
use ssm_protocol::{Channel, ChannelError, Config, Event, PayloadType, Role};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;

use crate::network::{DialError, Network, Socket};

/// Where a session's data channel is and the right to join it.
#[derive(Clone)]
pub struct Endpoint {
    /// The session id.
    pub session_id: String,
    /// The StreamUrl from StartSession.
    pub stream_url: String,
    /// The token from StartSession (or the latest ResumeSession).
    pub token: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("session_id", &self.session_id)
            .field("stream_url", &self.stream_url)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A future returned by [`Resume::resume`].
pub type ResumeFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>>;

/// How the driver gets a new token after the link drops: ResumeSession against the real
/// service, or anything a test provides.
pub trait Resume: Send + 'static {
    /// A fresh token for `session_id`; `Ok(None)` when the service says the session is over.
    fn resume<'a>(&'a mut self, session_id: &'a str) -> ResumeFuture<'a>;
}

/// Settings of the driver.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Trust and proxies for the WebSocket (the place's, shared with its API calls).
    pub network: Network,
    /// The version announced to the agent (it gates features on it).
    pub client_version: String,
    /// One id per Airlock process, the same across reconnects.
    pub client_id: String,
    /// How often a WebSocket ping goes out.
    pub heartbeat: Duration,
    /// The link is declared dead when nothing at all arrived for this long.
    pub dead_after: Duration,
    /// Reconnect attempts before giving up.
    pub reconnect_attempts: u32,
    /// Upper bound of the backoff between attempts.
    pub reconnect_max_delay: Duration,
    /// Stream messages per second this end sends at most (the service closes sockets that stay
    /// above about 1000). `None` for no pacing.
    pub message_rate: Option<u32>,
    /// The protocol state machine's settings.
    pub channel: Config,
    /// Credentials to SigV4-sign each WebSocket upgrade with (service `ssmmessages`), as
    /// current plugins do. `None` dials unsigned, with the token as the only credential.
    pub signing: Option<UpgradeSigning>,
}

/// What signing a data-channel upgrade needs: a credentials source (asked afresh on every
/// dial, so refreshed credentials are used) and the region.
#[derive(Clone)]
pub struct UpgradeSigning {
    /// Where credentials come from.
    pub credentials: aws_credential_types::provider::SharedCredentialsProvider,
    /// The region of the session.
    pub region: String,
}

impl std::fmt::Debug for UpgradeSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradeSigning").field("region", &self.region).finish_non_exhaustive()
    }
}

impl DriverConfig {
    /// The defaults, over `network`.
    pub fn new(network: Network) -> Self {
        DriverConfig {
            network,
            client_version: CLIENT_VERSION.to_owned(),
            client_id: uuid::Uuid::new_v4().to_string(),
            heartbeat: Duration::from_secs(20),
            dead_after: Duration::from_secs(50),
            reconnect_attempts: 8,
            reconnect_max_delay: Duration::from_secs(5),
            message_rate: Some(950),
            channel: Config { id_seed: rand::random(), ..Config::default() },
            signing: None,
        }
    }
}

/// What the session's owner asks of the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Stream bytes: keystrokes or tunnel data. Any length; sent in 1024-byte messages.
    Data(Vec<u8>),
    /// The terminal's size.
    Resize(TerminalSize),
    /// A port-forwarding flag (DisconnectToPort, TerminateSession).
    Flag(PortFlag),
    /// Stop: the driver closes the socket and ends with [`Ending::ClosedByUser`].
    Close,
}

/// What the driver tells the session's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The session is ready and of this kind (after the handshake, or the first shell output).
    Ready(SessionKind),
    /// Stream output (payload type 1).
    Data(Vec<u8>),
    /// Standard error of a command (payload type 11).
    Stderr(Vec<u8>),
    /// The command's exit code (payload type 12).
    Exit(i32),
    /// A flag from the agent (ConnectToPortError).
    Flag(PortFlag),
    /// The link dropped; attempt `attempt` follows after `delay`.
    Reconnecting {
        /// 1 for the first attempt.
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// Why the link was lost.
        reason: String,
    },
    /// A new socket joined the session; nothing was lost.
    Reconnected,
    /// The session is over; nothing follows.
    Ended(Ending),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The service closed the channel; `output` is its reason, often empty.
    Closed {
        /// The service's text.
        output: String,
    },
    /// [`Command::Close`] was sent.
    ClosedByUser,
    /// ResumeSession said the session is gone.
    TimedOut,
    /// The link could not be brought back.
    LinkLost(String),
    /// Data stayed unacknowledged for the delivery timeout.
    Undeliverable,
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Closed { output } if output.is_empty() => f.write_str("the session ended"),
            Ending::Closed { output } => write!(f, "the session ended: {output}"),
            Ending::ClosedByUser => f.write_str("closed"),
            Ending::TimedOut => f.write_str("the session timed out on the service; start a new one"),
            Ending::LinkLost(reason) => write!(f, "the connection was lost and could not be restored: {reason}"),
            Ending::Undeliverable => f.write_str("data could not be delivered for 5 minutes; the session was abandoned"),
        }
    }
}

/// Why the first connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The WebSocket could not be opened.
    #[error("could not open the data channel: {0}")]
    Dial(#[from] DialError),
    /// The upgrade could not be signed.
    #[error("could not sign the data-channel upgrade: {0}")]
    Sign(String),
    /// The open-data-channel frame could not be sent.
    #[error("the data channel closed before it opened: {0}")]
    Open(String),
}

/// The owner's end of a running session.
#[derive(Debug)]
pub struct SessionChannel {
    /// Commands to the driver. A full queue is backpressure: the channel's window is full.
    pub commands: mpsc::Sender<Command>,
    /// Notices from the driver.
    pub notices: mpsc::Receiver<Notice>,
    /// Live figures of the link.
    pub figures: Arc<LinkFigures>,
}

/// Live figures of a session's link, updated by its driver.
#[derive(Debug, Default)]
pub struct LinkFigures {
    /// The smoothed round-trip time, in microseconds.
    pub rtt_micros: AtomicU64,
    /// Stream messages sent again.
    pub messages_resent: AtomicU64,
    /// Successful reconnects.
    pub reconnects: AtomicU64,
}

/// Opens the data channel and starts its task.
pub async fn connect(endpoint: Endpoint, resume: Box<dyn Resume>, config: DriverConfig) -> Result<SessionChannel, ConnectError> {
    let socket = dial(&endpoint, &config).await?;
    let (commands, command_rx) = mpsc::channel(64);
    let (notice_tx, notices) = mpsc::channel(256);
    let figures = Arc::new(LinkFigures::default());
    let driver = Driver::new(endpoint, resume, config, notice_tx, figures.clone());
    tokio::spawn(driver.run(socket, command_rx));
    Ok(SessionChannel { commands, notices, figures })
}

async fn dial(endpoint: &Endpoint, config: &DriverConfig) -> Result<Socket, ConnectError> {
    let mut headers = Vec::new();
    if let Some(signing) = &config.signing {
        for (name, value) in sign_upgrade(&endpoint.stream_url, signing).await.map_err(ConnectError::Sign)? {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| ConnectError::Sign(e.to_string()))?;
            let value = HeaderValue::from_str(&value).map_err(|e| ConnectError::Sign(e.to_string()))?;
            headers.push((name, value));
        }
    }
    let mut socket = config.network.websocket(&endpoint.stream_url, headers).await?;
    let open = OpenDataChannel {
        message_schema_version: "1.0".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        token_value: endpoint.token.clone(),
        client_id: Some(config.client_id.clone()),
        client_version: Some(config.client_version.clone()),
    };
    socket.send(Message::text(open.to_json())).await.map_err(|e| ConnectError::Open(e.to_string()))?;
    Ok(socket)
}

/// The SigV4 headers for a WebSocket upgrade to `url`: only Host is signed and the payload is
/// the empty body's, because the handshake's own headers are added after signing.
async fn sign_upgrade(url: &str, signing: &UpgradeSigning) -> Result<Vec<(String, String)>, String> {
    use aws_credential_types::provider::ProvideCredentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};

    let credentials = signing.credentials.provide_credentials().await.map_err(|e| format!("no credentials to sign the data-channel upgrade: {e}"))?;
    let http_url = if let Some(rest) = url.strip_prefix("wss://") { format!("https://{rest}") } else { url.replacen("ws://", "http://", 1) };
    let uri: tokio_tungstenite::tungstenite::http::Uri = http_url.parse().map_err(|e| format!("the stream URL is not a URL: {e}"))?;
    let host = match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => return Err("the stream URL has no host".into()),
    };
    let identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&signing.region)
        .name("ssmmessages")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new("GET", http_url.as_str(), [("host", host.as_str())].into_iter(), SignableBody::Bytes(b"")).map_err(|e| e.to_string())?;
    let (instructions, _) = sign(request, &params).map_err(|e| e.to_string())?.into_parts();
    Ok(instructions.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Paces stream messages: `rate` per second with a small burst.
/// When the loop must wake to move pending bytes: when the next token is due, or at once if
/// tokens have come in since the bytes were last pumped (writing the frames out takes time,
/// and without this the bytes would wait for the next unrelated event, up to a heartbeat).
/// `None` when nothing waits for a token (no bucket, nothing pending, or the window is full,
/// in which case an acknowledgement wakes the loop).
fn pacing_wake(bucket: Option<&mut TokenBucket>, waiting: bool, now: Instant) -> Option<Instant> {
    let bucket = bucket.filter(|_| waiting)?;
    Some(if bucket.available(now) == 0 { bucket.next_at() } else { now })
}

#[derive(Debug)]
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    fn new(rate: u32, now: Instant) -> Self {
        let rate = f64::from(rate.max(1));
        let burst = (rate / 20.0).max(1.0);
        TokenBucket { rate, burst, tokens: burst, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }

    /// Whole messages that may go now.
    fn available(&mut self, now: Instant) -> usize {
        self.refill(now);
        self.tokens.floor() as usize
    }

    fn take(&mut self, n: usize) {
        self.tokens -= n as f64;
    }

    /// When the next message may go.
    fn next_at(&self) -> Instant {
        let missing = (1.0 - self.tokens).max(0.0);
        self.at + Duration::from_secs_f64(missing / self.rate)
    }
}

struct Driver {
    endpoint: Endpoint,
    resume: Box<dyn Resume>,
    config: DriverConfig,
    channel: Channel,
    notices: mpsc::Sender<Notice>,
    backlog: VecDeque<Notice>,
    /// Stream bytes taken from a command but not yet in the window.
    pending: VecDeque<u8>,
    bucket: Option<TokenBucket>,
    kind: Option<SessionKind>,
    last_heard: Instant,
    /// Reconnects since the last frame from the agent: a socket that opens and closes without
    /// delivering anything does not reset the attempt budget.
    unproven_reconnects: u32,
    figures: Arc<LinkFigures>,
}

enum Step {
    LinkLost(String),
    End(Ending),
}

impl Driver {
    fn new(endpoint: Endpoint, resume: Box<dyn Resume>, config: DriverConfig, notices: mpsc::Sender<Notice>, figures: Arc<LinkFigures>) -> Self {
        let now = Instant::now();
        Driver {
            channel: Channel::new(Role::Client, config.channel.clone(), now, unix_millis()),
            bucket: config.message_rate.map(|r| TokenBucket::new(r, now)),
            endpoint,
            resume,
            config,
            notices,
            backlog: VecDeque::new(),
            pending: VecDeque::new(),
            kind: None,
            last_heard: now,
            unproven_reconnects: 0,
            figures,
        }
    }

    async fn run(mut self, socket: Socket, mut commands: mpsc::Receiver<Command>) {
        let mut socket = socket;
        let ending = loop {
            let step = self.serve(&mut socket, &mut commands).await;
            match step {
                Step::End(ending) => {
                    let _ = socket.close(None).await;
                    break ending;
                }
                Step::LinkLost(reason) => {
                    self.channel.handle_link_down();
                    let _ = socket.close(None).await;
                    match self.reconnect(reason).await {
                        Ok(new_socket) => {
                            socket = new_socket;
                            self.last_heard = Instant::now();
                            self.channel.handle_link_up(Instant::now());
                            self.figures.reconnects.fetch_add(1, Ordering::Relaxed);
                            self.push(Notice::Reconnected);
                        }
                        Err(ending) => break ending,
                    }
                }
            }
        };
        self.push(Notice::Ended(ending));
        while let Some(notice) = self.backlog.pop_front() {
            if self.notices.send(notice).await.is_err() {
                break;
            }
        }
    }

    /// Runs the session on one socket until it ends or the link is lost.
    async fn serve(&mut self, socket: &mut Socket, commands: &mut mpsc::Receiver<Command>) -> Step {
        let mut ping = tokio::time::interval(self.config.heartbeat);
        // Once writing fails, the socket is only read to its end: the service may have closed
        // it right after a channel_closed that is still waiting to be read.
        let mut write_error: Option<String> = None;
        loop {
            self.figures.rtt_micros.store(self.channel.rtt().as_micros() as u64, Ordering::Relaxed);
            self.figures.messages_resent.store(self.channel.stats().messages_resent, Ordering::Relaxed);
            if let Some(step) = self.pump_pending() {
                return step;
            }
            // Frames out. Those lost to a failed write stay in the window and are resent.
            while let Some(frame) = self.channel.poll_transmit() {
                if write_error.is_none() {
                    if let Err(e) = socket.feed(Message::binary(frame)).await {
                        write_error = Some(e.to_string());
                    }
                }
            }
            if write_error.is_none() {
                if let Err(e) = socket.flush().await {
                    write_error = Some(e.to_string());
                }
            }
            let now = Instant::now();
            let timer = self.channel.poll_timeout();
            let dead_at = self.last_heard + self.config.dead_after;
            let paced_until = pacing_wake(self.bucket.as_mut(), !self.pending.is_empty() && self.channel.send_room() > 0, now);
            let wake = [timer, paced_until, Some(dead_at)].into_iter().flatten().min().unwrap_or(dead_at);
            let can_take_command = self.pending.is_empty() && self.channel.send_room() > 0 && !self.channel.is_closed();
            let has_backlog = !self.backlog.is_empty();
            let notices = self.notices.clone();
            tokio::select! {
                message = socket.next() => match message {
                    Some(Ok(Message::Binary(bytes))) => {
                        self.last_heard = Instant::now();
                        self.unproven_reconnects = 0;
                        // A malformed frame is dropped; the agent resends it.
                        let _ = self.channel.handle_frame(self.last_heard, &bytes);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let reason = frame.map_or_else(|| "the service closed the socket".to_owned(), |f| format!("the service closed the socket ({}: {})", u16::from(f.code), f.reason));
                        return Step::LinkLost(reason);
                    }
                    Some(Ok(_)) => self.last_heard = Instant::now(),
                    Some(Err(e)) => return Step::LinkLost(write_error.unwrap_or_else(|| e.to_string())),
                    None => return Step::LinkLost(write_error.unwrap_or_else(|| "the socket closed".into())),
                },
                command = commands.recv(), if can_take_command => match command {
                    Some(Command::Data(bytes)) => self.pending.extend(bytes),
                    Some(Command::Resize(size)) => {
                        if let Err(e) = self.channel.send_size(Instant::now(), size) {
                            return self.send_failed(e);
                        }
                    }
                    Some(Command::Flag(flag)) => {
                        if let Err(e) = self.channel.send_flag(Instant::now(), flag) {
                            return self.send_failed(e);
                        }
                    }
                    Some(Command::Close) | None => return Step::End(Ending::ClosedByUser),
                },
                _ = ping.tick(), if write_error.is_none() => {
                    if let Err(e) = socket.send(Message::Ping(b"keepalive".to_vec().into())).await {
                        write_error = Some(e.to_string());
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= dead_at {
                        return Step::LinkLost(format!("nothing heard from the service for {} s", self.config.dead_after.as_secs()));
                    }
                    self.channel.handle_timeout(now);
                }
                permit = notices.reserve(), if has_backlog => {
                    if let (Ok(permit), Some(notice)) = (permit, self.backlog.pop_front()) {
                        permit.send(notice);
                    } else {
                        // The owner dropped its receiver: nobody is listening any more.
                        return Step::End(Ending::ClosedByUser);
                    }
                }
            }
            if let Some(step) = self.deliver() {
                return step;
            }
        }
    }

    fn send_failed(&mut self, error: ChannelError) -> Step {
        match error {
            ChannelError::Closed => Step::End(Ending::Closed { output: String::new() }),
            // The room was checked before the command was taken; anything else is a bug
            // surfaced as the session's end rather than a panic.
            other => Step::End(Ending::LinkLost(other.to_string())),
        }
    }

    /// Moves pending stream bytes into the window, as pacing allows.
    fn pump_pending(&mut self) -> Option<Step> {
        if self.pending.is_empty() {
            return None;
        }
        let now = Instant::now();
        let max = self.config.channel.max_payload.max(1);
        let mut budget = self.bucket.as_mut().map_or(usize::MAX, |b| b.available(now));
        let mut sent = 0;
        while budget > 0 && !self.pending.is_empty() && self.channel.send_room() > 0 {
            let n = max.min(self.pending.len());
            let chunk: Vec<u8> = self.pending.drain(..n).collect();
            match self.channel.send(now, PayloadType::Output, &chunk) {
                Ok(_) => {
                    budget -= 1;
                    sent += 1;
                }
                Err(e) => return Some(self.send_failed(e)),
            }
        }
        if let Some(bucket) = &mut self.bucket {
            bucket.take(sent);
        }
        None
    }

    /// Turns channel events into notices, as far as the notice queue has room.
    fn deliver(&mut self) -> Option<Step> {
        while self.backlog.len() < 64 {
            let event = self.channel.poll_event()?;
            match event {
                Event::Message(message) => match message.payload_type {
                    PayloadType::Output => {
                        if self.kind.is_none() {
                            // No handshake: a shell, announced by its first output.
                            self.kind = Some(SessionKind::Shell);
                            self.push(Notice::Ready(SessionKind::Shell));
                        }
                        self.push(Notice::Data(message.payload));
                    }
                    PayloadType::StdErr => self.push(Notice::Stderr(message.payload)),
                    PayloadType::ExitCode => {
                        if let Ok(code) = ExitCode::from_bytes(&message.payload) {
                            self.push(Notice::Exit(code.0));
                        }
                    }
                    PayloadType::Flag => {
                        if let Ok(flag) = PortFlag::from_bytes(&message.payload) {
                            self.push(Notice::Flag(flag));
                        }
                    }
                    PayloadType::HandshakeRequest => {
                        let Ok(request) = HandshakeRequest::from_bytes(&message.payload) else { continue };
                        let answer = answer_request(&request, &self.config.client_version, |_| {
                            KmsAnswer::Failed("Airlock does not support KMS-encrypted sessions yet".into())
                        });
                        self.kind = answer.kind;
                        if let Err(e) = self.channel.send(Instant::now(), PayloadType::HandshakeResponse, &answer.response.to_bytes()) {
                            return Some(self.send_failed(e));
                        }
                    }
                    PayloadType::HandshakeComplete => {
                        if let Some(kind) = self.kind.clone() {
                            self.push(Notice::Ready(kind));
                        }
                    }
                    _ => {}
                },
                Event::Closed(closed) => return Some(Step::End(Ending::Closed { output: closed.output })),
                Event::DeliveryTimedOut { .. } => return Some(Step::End(Ending::Undeliverable)),
                _ => {}
            }
        }
        None
    }

    fn push(&mut self, notice: Notice) {
        if !self.backlog.is_empty() {
            // Order matters more than speed: nothing overtakes what is already waiting.
            self.backlog.push_back(notice);
            return;
        }
        match self.notices.try_send(notice) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(notice)) => self.backlog.push_back(notice),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }

    /// ResumeSession and a new socket, with bounded exponential backoff.
    async fn reconnect(&mut self, reason: String) -> Result<Socket, Ending> {
        let mut delay = Duration::from_millis(100 + u64::from(rand::random::<u8>() % 100));
        delay = (delay * 2u32.pow(self.unproven_reconnects.min(6))).min(self.config.reconnect_max_delay);
        let mut last_error = reason.clone();
        let first = self.unproven_reconnects + 1;
        for attempt in first..=self.config.reconnect_attempts {
            self.unproven_reconnects = attempt;
            self.push(Notice::Reconnecting { attempt, delay, reason: reason.clone() });
            self.flush_backlog().await;
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.config.reconnect_max_delay);
            match self.resume.resume(&self.endpoint.session_id).await {
                Ok(Some(token)) => self.endpoint.token = token,
                Ok(None) => return Err(Ending::TimedOut),
                Err(e) => {
                    last_error = e;
                    continue;
                }
            }
            match dial(&self.endpoint, &self.config).await {
                Ok(socket) => return Ok(socket),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(Ending::LinkLost(last_error))
    }

    async fn flush_backlog(&mut self) {
        while let Some(notice) = self.backlog.pop_front() {
            if self.notices.send(notice).await.is_err() {
                self.backlog.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_network() -> Network {
        let authority = ssm_emulator::tls::Authority::generate([127, 0, 0, 1].into(), &[]).unwrap();
        let trust = crate::network::TrustSettings::only(authority.ca_pem().as_bytes().to_vec(), "a test authority");
        Network::new(&crate::network::NetworkSettings { trust, ..Default::default() }).unwrap()
    }

    #[test]
    fn a_dead_link_is_noticed_within_a_minute_by_default() {
        let config = DriverConfig::new(test_network());
        assert!(config.heartbeat < config.dead_after, "pings go out before silence counts as death");
        assert!(config.dead_after <= Duration::from_secs(60), "the issue asks for detection within a minute");
    }

    #[test]
    fn the_bucket_allows_its_rate_and_no_more() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000, t0);
        let burst = bucket.available(t0);
        assert_eq!(burst, 50);
        bucket.take(burst);
        assert_eq!(bucket.available(t0), 0);
        assert_eq!(bucket.next_at(), t0 + Duration::from_millis(1));
        // Over one second the bucket yields the rate, capped at the burst when unused.
        assert_eq!(bucket.available(t0 + Duration::from_millis(10)), 10);
        assert_eq!(bucket.available(t0 + Duration::from_secs(5)), 50);
    }

    #[test]
    fn pending_bytes_wake_the_loop_when_their_token_is_due_or_already_there() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(1000, t0);
        let burst = bucket.available(t0);
        bucket.take(burst);
        // Empty bucket: wake when the next token comes.
        assert_eq!(pacing_wake(Some(&mut bucket), true, t0), Some(t0 + Duration::from_millis(1)));
        // Tokens came in while the frames were written (the case that once stalled uploads
        // until the next heartbeat): wake at once.
        let later = t0 + Duration::from_millis(3);
        assert_eq!(pacing_wake(Some(&mut bucket), true, later), Some(later));
        // Nothing waits for a token: no pacing wake.
        assert_eq!(pacing_wake(Some(&mut bucket), false, later), None);
        assert_eq!(pacing_wake(None, true, later), None);
    }
}
