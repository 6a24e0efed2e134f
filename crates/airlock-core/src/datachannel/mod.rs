//! The data channel of one session, on tokio. [`connect`] dials the WebSocket
//! ([`dial`], with the SigV4-signed upgrade of [`upgrade`]) and starts the session's task
//! ([`driver`]): a thin loop that moves frames between the socket and the sans-IO
//! `ssm_protocol::ClientSession`, which makes every protocol decision (handshake, session
//! kind, KMS, pacing, what each payload means), and moves time. The rest of Airlock talks to
//! the task through two queues: [`Command`] in, [`Notice`] out.
//!
//! This is where a byte from the WebSocket becomes session output: `driver::Driver::serve`
//! reads a binary frame and hands it to `ClientSession::handle_frame`; `ClientSession::poll_event`
//! gives it back as `SessionEvent::Output`, which the driver sends on as [`Notice::Data`].
//!
//! The task also owns what keeps a session alive: a WebSocket heartbeat that notices a dead
//! link within a minute, and reconnection through ResumeSession with bounded backoff (nothing
//! unacknowledged is lost: the session resends it on the new socket, with the same keys).

mod dial;
mod driver;
mod upgrade;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use ssm_protocol::handshake::CLIENT_VERSION;
use ssm_protocol::payload::{PortFlag, TerminalSize};
use ssm_protocol::{Config, SessionEnd};
use tokio::sync::mpsc;

pub use ssm_protocol::client::Ready;

use crate::kms::DataKeys;
use crate::network::{DialError, Network};

/// Where a session's data channel is and the right to join it.
#[derive(Clone)]
pub struct Endpoint {
    /// The session id.
    pub session_id: String,
    /// The StreamUrl from StartSession.
    pub stream_url: String,
    /// The token from StartSession (or the latest ResumeSession).
    pub token: String,
    /// The target as given to StartSession (the KMS encryption context names it).
    pub target: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("session_id", &self.session_id)
            .field("stream_url", &self.stream_url)
            .field("token", &"<redacted>")
            .field("target", &self.target)
            .finish()
    }
}

/// A future returned by [`Resume::resume`].
pub type ResumeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>>;

/// How the driver gets a new token after the link drops: ResumeSession against the real
/// service, or anything a test provides.
pub trait Resume: Send + 'static {
    /// A fresh token for `session_id`; `Ok(None)` when the service says the session is over.
    fn resume<'a>(&'a mut self, session_id: &'a str) -> ResumeFuture<'a>;
}

/// Settings of the driver.
#[derive(Clone)]
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
    /// Where data keys of KMS-encrypted sessions come from; `None` refuses such sessions.
    pub data_keys: Option<Arc<dyn DataKeys>>,
}

impl std::fmt::Debug for DriverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverConfig")
            .field("client_version", &self.client_version)
            .field("heartbeat", &self.heartbeat)
            .field("dead_after", &self.dead_after)
            .field("message_rate", &self.message_rate)
            .field("signing", &self.signing)
            .field("kms", &self.data_keys.is_some())
            .finish_non_exhaustive()
    }
}

pub use upgrade::UpgradeSigning;

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
            data_keys: None,
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
    /// The session is ready: its kind, whether it is KMS-encrypted, the agent's message.
    Ready(Ready),
    /// Stream output (payload type 1).
    Data(Vec<u8>),
    /// Standard error of a command (payload type 11).
    Stderr(Vec<u8>),
    /// The command's exit code (payload type 12).
    Exit(i32),
    /// A flag from the agent (ConnectToPortError).
    Flag(PortFlag),
    /// A basic tunnel's DisconnectToPort went in: output before this notice was the closed
    /// connection's, output after it the next one's.
    PortDisconnected,
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
    /// The session is KMS-encrypted and no data key could be had; the reason says what to do.
    Encryption(String),
    /// The agent's data did not decrypt with the session's key.
    Undecryptable(String),
    /// The agent asked for a session this client cannot run, or broke the handshake.
    Handshake(String),
    /// The far side broke the protocol in a way no reconnect mends (a message far larger than
    /// any Session Manager sends); the reason names it.
    Protocol(String),
}

impl From<SessionEnd> for Ending {
    fn from(end: SessionEnd) -> Self {
        match end {
            SessionEnd::Closed { output } => Ending::Closed { output },
            SessionEnd::Undeliverable => Ending::Undeliverable,
            SessionEnd::DataKey(reason) => Ending::Encryption(reason),
            SessionEnd::Undecryptable(error) => Ending::Undecryptable(error.to_string()),
            SessionEnd::Unsupported(reason) | SessionEnd::BadHandshake(reason) => Ending::Handshake(reason),
            SessionEnd::HandshakeTimedOut(after) => Ending::Handshake(format!(
                "the agent did not start the session within {} s; check that the node is online and its agent running (airlock doctor NODE)",
                after.as_secs()
            )),
            other => Ending::Handshake(format!("{other:?}")),
        }
    }
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
            Ending::Encryption(reason) => write!(f, "the session is KMS-encrypted, and {reason}"),
            Ending::Undecryptable(reason) => write!(f, "the session's encrypted data could not be read ({reason}); start a new session"),
            Ending::Handshake(reason) => write!(f, "the session could not start: {reason}"),
            Ending::Protocol(reason) => write!(f, "the far side broke the Session Manager protocol ({reason}); if the endpoint or a proxy on the way is not AWS's, check it"),
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
pub async fn connect(
    endpoint: Endpoint,
    resume: Box<dyn Resume>,
    config: DriverConfig,
) -> Result<SessionChannel, ConnectError> {
    let socket = dial::dial(&endpoint, &config).await?;
    let (commands, command_rx) = mpsc::channel(64);
    let (notice_tx, notices) = mpsc::channel(256);
    let figures = Arc::new(LinkFigures::default());
    let driver = driver::Driver::new(endpoint, resume, config, notice_tx, figures.clone());
    tokio::spawn(driver.run(socket, command_rx));
    Ok(SessionChannel { commands, notices, figures })
}
