//! A session as the client runs it, sans-IO: every decision the client makes about the data
//! channel above reliable delivery. [`ClientSession`] owns the [`Channel`] (client role) and
//! decides:
//! - what the session is: the handshake's SessionType, or, with no handshake, a shell
//!   announced by its first output (plugin `sessionhandler.go` `ProcessFirstMessage`);
//! - the answer to each handshake action, including KMS: it asks the caller for a data key
//!   ([`SessionEvent::DataKeyNeeded`]), answers with the key's ciphertext, runs the challenge
//!   round and then encrypts and decrypts the stream ([`crate::kms`]);
//! - when input may go: nothing (keystrokes, sizes, flags) is sent before the session is
//!   ready, since the agent acknowledges and drops stream data that arrives during its
//!   handshake; then input goes in messages of at most 1024 bytes, paced under the service's
//!   message-rate limit ([`crate::pacing`]);
//! - what each agent payload means: output, standard error, exit code, flags;
//! - in a basic port session (one connection at a time), which output belongs to the
//!   connection that just closed and is dropped so the next connection never sees it
//!   ([`Boundary`]).
//!
//! # Driving it
//! As [`Channel`]: inputs are [`ClientSession::handle_frame`], [`ClientSession::handle_timeout`],
//! [`ClientSession::handle_link_down`] / [`ClientSession::handle_link_up`] and the KMS answers
//! [`ClientSession::handle_data_key`] / [`ClientSession::handle_data_key_failure`]; mutators
//! queue input ([`ClientSession::send_input`], [`ClientSession::send_size`],
//! [`ClientSession::send_flag`]); after any of them, call [`ClientSession::poll_transmit`] until
//! `None`, arm a timer for [`ClientSession::poll_timeout`], and take
//! [`ClientSession::poll_event`] until `None` (as far as the caller has room: events not taken
//! leave messages unacknowledged in the channel, which is the backpressure on the agent).
//! `now` must never go backwards.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;

use crate::channel::{Channel, ChannelError, Config, Event, Role};
use crate::codec::PayloadType;
use crate::codec::SeqNum;
use crate::handshake::{
    answer_request, gates, KmsAnswer, PortMode, SessionKind, Version, CLIENT_VERSION,
};
use crate::kms::{self, Cipher, CipherError, DataKey, End};
use crate::pacing::Pacer;
use crate::payload::{
    ClientAction, EncryptionChallenge, ExitCode, HandshakeComplete, HandshakeRequest,
    KmsEncryptionRequest, PortFlag, TerminalSize,
};
use crate::Delivered;

/// Settings of a client session.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The reliable channel's settings.
    pub channel: Config,
    /// The version announced to the agent (it gates features on it).
    pub client_version: String,
    /// The session id, for the KMS encryption context.
    pub session_id: String,
    /// The target as given to StartSession, for the KMS encryption context.
    pub target: String,
    /// Stream messages per second this end sends at most; `None` for no pacing.
    pub message_rate: Option<u32>,
    /// Input bytes held before [`ClientSession::wants_input`] says no more.
    pub input_buffer: usize,
    /// Twelve random bytes: where this end's KMS nonce counter starts.
    pub nonce_start: [u8; kms::NONCE_BYTES],
    /// How long the session may take to become ready (the agent's handshake, with KMS the
    /// data key, or a shell's first output) before it ends with
    /// [`SessionEnd::HandshakeTimedOut`].
    pub handshake_timeout: Duration,
}

impl ClientConfig {
    /// The defaults for a session: Airlock's client version, pacing just under the service's
    /// limit (950 messages a second), 64 KiB of input held.
    pub fn new(
        session_id: impl Into<String>,
        target: impl Into<String>,
        id_seed: u64,
        nonce_start: [u8; kms::NONCE_BYTES],
    ) -> Self {
        ClientConfig {
            channel: Config { id_seed, ..Config::default() },
            client_version: CLIENT_VERSION.to_owned(),
            session_id: session_id.into(),
            target: target.into(),
            message_rate: Some(950),
            input_buffer: 64 * 1024,
            nonce_start,
            handshake_timeout: Duration::from_secs(60),
        }
    }
}

/// What a KMS data key must be generated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKeyRequest {
    /// The key the agent named (an id, ARN or alias).
    pub key_id: String,
    /// The encryption context the agent will decrypt with.
    pub encryption_context: std::collections::BTreeMap<String, String>,
    /// Always 64.
    pub number_of_bytes: usize,
}

/// The session is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// What kind of session it is.
    pub kind: SessionKind,
    /// The KMS key its stream is encrypted under, if it is.
    pub encrypted_with: Option<String>,
    /// The agent's message for the user (HandshakeComplete's CustomerMessage), possibly empty.
    pub customer_message: String,
}

/// Why a session ended, as far as the protocol knows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEnd {
    /// The service closed the channel; `output` is its reason, often empty.
    Closed {
        /// The service's text.
        output: String,
    },
    /// Data stayed unacknowledged for the delivery timeout.
    Undeliverable,
    /// No KMS data key could be had; the agent was told, with `reason`.
    DataKey(String),
    /// The agent's data does not decrypt with the session's key.
    Undecryptable(CipherError),
    /// The agent asked for a session this client cannot run.
    Unsupported(String),
    /// The agent's handshake could not be read or followed.
    BadHandshake(String),
    /// The session was not ready within `handshake_timeout`.
    HandshakeTimedOut(Duration),
}

/// What the caller must learn about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The agent asks for KMS encryption: generate a data key as asked and answer with
    /// [`ClientSession::handle_data_key`] (or [`ClientSession::handle_data_key_failure`]).
    DataKeyNeeded(DataKeyRequest),
    /// The session is ready; input now flows.
    Ready(Ready),
    /// Output (payload type 1), decrypted if the stream is.
    Output(Vec<u8>),
    /// A command's standard error (payload type 11).
    Stderr(Vec<u8>),
    /// A command's exit code (payload type 12).
    ExitCode(i32),
    /// A flag from the agent (ConnectToPortError).
    Flag(PortFlag),
    /// Basic port sessions: DisconnectToPort was queued. Output before this event was the
    /// closed connection's (a caller drops what it still holds of it); output after it is the
    /// next connection's.
    PortDisconnected,
    /// The session is over; nothing follows.
    Ended(SessionEnd),
}

/// What the session waits for.
#[derive(Debug)]
enum Stage {
    /// Nothing from the agent yet: a HandshakeRequest, or a shell's first output.
    AwaitingAgent,
    /// The agent asked for KMS; the caller is getting a data key.
    AwaitingDataKey {
        request: HandshakeRequest,
        kms: KmsEncryptionRequest,
        acknowledge_challenge: bool,
    },
    /// The response went out; the challenge (with KMS) and HandshakeComplete are due.
    AwaitingCompletion { kind: SessionKind, encrypted_with: Option<String> },
    /// The session runs.
    Open,
    /// It ended; nothing more is sent.
    Ended,
}

/// A control message waiting for the session to be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Size(TerminalSize),
    Flag(PortFlag),
}

/// The line between two connections of a basic port session. The agent's output carries no
/// mark of the connection it came from, so after DisconnectToPort (flag `F`) output is dropped
/// until both of these hold, each fixing a sequence number of the agent's stream:
/// - the agent acknowledged `F`. The agent closes the destination connection while processing
///   the flag and acknowledges after processing (protocol.md 5.3), so everything it sent before
///   that acknowledgement, up to the highest number received by then, is the old connection's;
/// - the next connection's first input went out. The agent dials the destination again only
///   when that input arrives, so nothing received before it was sent can be the new one's.
///
/// Output numbered above both marks belongs to the next connection, and the boundary is gone.
/// (The official plugin leaves output that arrives between connections unacknowledged, so the
/// agent resends it until the next connection takes it: the bug this prevents.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Boundary {
    /// The DisconnectToPort message, once sent.
    flag: Option<SeqNum>,
    /// The highest agent number received when the agent acknowledged the flag.
    at_ack: Option<SeqNum>,
    /// The highest agent number received when the next connection's first input went out.
    at_input: Option<SeqNum>,
}

impl Boundary {
    /// The highest agent number that is still the old connection's, once both marks are set.
    fn last_old(&self) -> Option<SeqNum> {
        Some(self.at_ack?.max(self.at_input?))
    }
}

/// The mark a [`Boundary`] takes when no agent message has arrived yet.
const NOTHING_RECEIVED: SeqNum = SeqNum(-1);

/// The client's state machine of one session. See the module documentation for the call
/// order.
#[derive(Debug)]
pub struct ClientSession {
    channel: Channel,
    config: ClientConfig,
    stage: Stage,
    kind: Option<SessionKind>,
    cipher: Option<Cipher>,
    pacer: Option<Pacer>,
    /// Input not yet in the channel's window, bounded by `config.input_buffer` (plus one call).
    input: VecDeque<u8>,
    /// Sizes and flags waiting for the session to be ready, in order.
    controls: VecDeque<Control>,
    events: VecDeque<SessionEvent>,
    /// Basic port sessions, after a connection closed: see [`Boundary`].
    boundary: Option<Boundary>,
    /// When the session must be ready by; `None` once it is.
    ready_by: Option<Instant>,
}

impl ClientSession {
    /// A new session at `now`; `wall` is the wall-clock time at `now`.
    pub fn new(config: ClientConfig, now: Instant, wall: SystemTime) -> Self {
        ClientSession {
            channel: Channel::new(Role::Client, config.channel.clone(), now, wall),
            pacer: config.message_rate.map(|rate| Pacer::new(rate, now)),
            ready_by: Some(now + config.handshake_timeout),
            config,
            stage: Stage::AwaitingAgent,
            kind: None,
            cipher: None,
            input: VecDeque::new(),
            controls: VecDeque::new(),
            events: VecDeque::new(),
            boundary: None,
        }
    }

    /// Takes one binary frame from the WebSocket. A bad frame is dropped (its sender resends it).
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) -> Result<(), ChannelError> {
        let result = self.channel.handle_frame(now, frame);
        if let Some(boundary) = &mut self.boundary {
            if boundary.at_ack.is_none()
                && boundary.flag.is_some_and(|f| self.channel.is_acknowledged(f))
            {
                boundary.at_ack = Some(self.channel.highest_received().unwrap_or(NOTHING_RECEIVED));
            }
        }
        self.flush(now);
        result
    }

    /// Fires due timers: resends, the delivery timeout, paced input.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ready_by.is_some_and(|by| by <= now) {
            self.ready_by = None;
            if !matches!(self.stage, Stage::Open | Stage::Ended) {
                self.end(SessionEnd::HandshakeTimedOut(self.config.handshake_timeout));
            }
        }
        self.channel.handle_timeout(now);
        self.flush(now);
    }

    /// The WebSocket is gone; see [`Channel::handle_link_down`].
    pub fn handle_link_down(&mut self) {
        self.channel.handle_link_down();
    }

    /// A new WebSocket is open; what was unacknowledged goes again. No new handshake: the
    /// keys and everything else belong to the session, not the socket.
    pub fn handle_link_up(&mut self, now: Instant) {
        self.channel.handle_link_up(now);
        self.flush(now);
    }

    /// The data key the caller generated for [`SessionEvent::DataKeyNeeded`]. A key nobody
    /// waits for (the session ended meanwhile) is ignored.
    pub fn handle_data_key(&mut self, now: Instant, key: DataKey) {
        let Some((request, kms, acknowledge_challenge)) = self.take_data_key_wait() else { return };
        match Cipher::new(End::Client, &key.plaintext, self.config.nonce_start) {
            Ok(cipher) => {
                self.cipher = Some(cipher);
                let blob = base64::engine::general_purpose::STANDARD.encode(&key.ciphertext_blob);
                self.answer(
                    now,
                    &request,
                    KmsAnswer::Generated {
                        ciphertext_key_b64: blob,
                        challenge_acknowledged: acknowledge_challenge,
                    },
                    Some(kms.kms_key_id),
                );
            }
            Err(error) => self.fail_data_key(now, &request, error.to_string()),
        }
    }

    /// No data key could be had: the agent is told why, and the session ends with that reason.
    pub fn handle_data_key_failure(&mut self, now: Instant, reason: String) {
        if let Some((request, _, _)) = self.take_data_key_wait() {
            self.fail_data_key(now, &request, reason);
        }
    }

    fn take_data_key_wait(&mut self) -> Option<(HandshakeRequest, KmsEncryptionRequest, bool)> {
        if !matches!(self.stage, Stage::AwaitingDataKey { .. }) {
            return None;
        }
        match std::mem::replace(&mut self.stage, Stage::AwaitingAgent) {
            Stage::AwaitingDataKey { request, kms, acknowledge_challenge } => {
                Some((request, kms, acknowledge_challenge))
            }
            // Checked just above.
            other => {
                self.stage = other;
                None
            }
        }
    }

    fn fail_data_key(&mut self, now: Instant, request: &HandshakeRequest, reason: String) {
        // The plugin's words, which the agent quotes in its own error.
        let told = format!("Failed to process action KMSEncryption: {reason}");
        let answer = answer_request(request, &self.config.client_version, |_| {
            KmsAnswer::Failed(told.clone())
        });
        if let Err(error) =
            self.channel.send(now, PayloadType::HandshakeResponse, &answer.response.to_bytes())
        {
            return self.end_for(error);
        }
        self.end(SessionEnd::DataKey(reason));
    }

    /// Queues stream bytes (keystrokes, tunnel data); they go once the session is ready, in
    /// messages of at most 1024 bytes, paced. Check [`ClientSession::wants_input`] first.
    pub fn send_input(&mut self, now: Instant, bytes: &[u8]) {
        if !matches!(self.stage, Stage::Ended) {
            self.input.extend(bytes);
            self.flush(now);
        }
    }

    /// Queues a terminal size (only the latest waiting one is kept).
    pub fn send_size(&mut self, now: Instant, size: TerminalSize) {
        self.controls.retain(|c| !matches!(c, Control::Size(_)));
        self.controls.push_back(Control::Size(size));
        self.flush(now);
    }

    /// Queues a port flag (DisconnectToPort, TerminateSession). In a basic port session,
    /// DisconnectToPort also starts dropping the closed connection's output ([`Boundary`]).
    pub fn send_flag(&mut self, now: Instant, flag: PortFlag) {
        if flag == PortFlag::DisconnectToPort && self.is_basic_port() {
            self.boundary = Some(Boundary::default());
            self.events.push_back(SessionEvent::PortDisconnected);
        }
        self.controls.push_back(Control::Flag(flag));
        self.flush(now);
    }

    fn is_basic_port(&self) -> bool {
        matches!(&self.kind, Some(SessionKind::Port(port)) if port.mode == PortMode::Basic)
    }

    /// Whether more input is welcome: the session runs (or is starting) and what is held is
    /// under the buffer. A caller that stops reading its source while this is false passes the
    /// channel's backpressure on.
    pub fn wants_input(&self) -> bool {
        !matches!(self.stage, Stage::Ended) && self.input.len() < self.config.input_buffer
    }

    /// Input held, not yet sent.
    pub fn input_held(&self) -> usize {
        self.input.len()
    }

    /// Marks the session closed by this end (the user closed it): nothing more is sent.
    pub fn close(&mut self) {
        self.channel.close();
        self.stage = Stage::Ended;
    }

    /// The next frame to send as a binary WebSocket message.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.channel.poll_transmit()
    }

    /// When [`ClientSession::handle_timeout`] must next be called, if ever: the channel's next
    /// resend, or the next paced message.
    #[must_use]
    pub fn poll_timeout(&mut self, now: Instant) -> Option<Instant> {
        let channel = self.channel.poll_timeout();
        let paced = if matches!(self.stage, Stage::Open)
            && !self.input.is_empty()
            && self.channel.send_room() > 0
        {
            self.pacer.as_mut().map(|p| p.next_at(now))
        } else {
            None
        };
        let ready_by = self.ready_by.filter(|_| !matches!(self.stage, Stage::Open | Stage::Ended));
        [channel, paced, ready_by].into_iter().flatten().min()
    }

    /// The next thing the caller must learn about. Messages are read from the channel only as
    /// events are taken, so a caller with no room leaves them unacknowledged.
    #[must_use]
    pub fn poll_event(&mut self, now: Instant) -> Option<SessionEvent> {
        while self.events.is_empty() {
            match self.channel.poll_event()? {
                Event::Message(message) => self.handle_message(now, message),
                Event::Closed(closed) => self.end(SessionEnd::Closed { output: closed.output }),
                Event::DeliveryTimedOut { .. } => self.end(SessionEnd::Undeliverable),
                // Room in the window: input may move; flushed below.
                _ => {}
            }
            self.flush(now);
        }
        self.events.pop_front()
    }

    /// What kind of session this is, once known.
    pub fn kind(&self) -> Option<&SessionKind> {
        self.kind.as_ref()
    }

    /// Whether the stream is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.cipher.is_some()
    }

    /// The channel under the session, for its figures (round-trip time, resends).
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    fn handle_message(&mut self, now: Instant, message: Delivered) {
        if matches!(self.stage, Stage::Ended) {
            return;
        }
        match message.payload_type {
            PayloadType::HandshakeRequest => self.handle_handshake_request(now, &message.payload),
            PayloadType::EncChallengeRequest => self.handle_challenge(now, &message.payload),
            PayloadType::HandshakeComplete => self.handle_complete(&message.payload),
            PayloadType::Output => {
                if matches!(self.stage, Stage::AwaitingAgent) {
                    // No handshake: a shell, announced by its first output.
                    self.become_ready(SessionKind::Shell, None, String::new());
                }
                if let Some(boundary) = self.boundary {
                    match boundary.last_old() {
                        Some(last_old) if message.sequence_number > last_old => {
                            self.boundary = None
                        }
                        // The closed connection's: dropped.
                        _ => return,
                    }
                }
                if let Some(bytes) = self.open_payload(PayloadType::Output, message.payload) {
                    self.events.push_back(SessionEvent::Output(bytes));
                }
            }
            PayloadType::StdErr => {
                if let Some(bytes) = self.open_payload(PayloadType::StdErr, message.payload) {
                    self.events.push_back(SessionEvent::Stderr(bytes));
                }
            }
            PayloadType::ExitCode => {
                if let Some(bytes) = self.open_payload(PayloadType::ExitCode, message.payload) {
                    if let Ok(code) = ExitCode::from_bytes(&bytes) {
                        self.events.push_back(SessionEvent::ExitCode(code.0));
                    }
                }
            }
            PayloadType::Flag => {
                if let Ok(flag) = PortFlag::from_bytes(&message.payload) {
                    self.events.push_back(SessionEvent::Flag(flag));
                }
            }
            // Error, Parameter and types of the future: nothing a client acts on.
            _ => {}
        }
    }

    /// Decrypts what the agent encrypts, once the stream is encrypted.
    fn open_payload(&mut self, payload_type: PayloadType, payload: Vec<u8>) -> Option<Vec<u8>> {
        match &self.cipher {
            Some(cipher) if kms::encrypted_by_agent(payload_type) => match cipher.open(&payload) {
                Ok(plain) => Some(plain),
                Err(error) => {
                    // Acknowledged already, so it will not come again: the stream cannot go
                    // on (the plugin stalls here without a word).
                    self.end(SessionEnd::Undecryptable(error));
                    None
                }
            },
            _ => Some(payload),
        }
    }

    fn handle_handshake_request(&mut self, now: Instant, payload: &[u8]) {
        if !matches!(self.stage, Stage::AwaitingAgent) {
            return; // a second request is not answered twice
        }
        let request = match HandshakeRequest::from_bytes(payload) {
            Ok(request) => request,
            Err(error) => return self.end(SessionEnd::BadHandshake(error.to_string())),
        };
        let kms = request.requested_client_actions.iter().find_map(|a| match a.kind() {
            Ok(ClientAction::KmsEncryption(kms)) => Some(kms),
            _ => None,
        });
        match kms {
            Some(kms) => {
                let agent_version = request.agent_version.parse::<Version>().ok();
                // The random-challenge context only where the agent offers it (from 3.3.808.0);
                // an older agent decrypts with the two-key context, whatever the client says.
                let acknowledge_challenge = kms.challenge.is_some()
                    && agent_version
                        .as_ref()
                        .is_none_or(|v| v.is_at_least(&gates::agent_kms_challenge()));
                let context = kms::encryption_context(
                    &self.config.session_id,
                    &self.config.target,
                    kms.challenge.as_deref().filter(|_| acknowledge_challenge),
                );
                self.events.push_back(SessionEvent::DataKeyNeeded(DataKeyRequest {
                    key_id: kms.kms_key_id.clone(),
                    encryption_context: context,
                    number_of_bytes: kms::DATA_KEY_BYTES,
                }));
                self.stage = Stage::AwaitingDataKey { request, kms, acknowledge_challenge };
            }
            None => self.answer(
                now,
                &request,
                KmsAnswer::Failed("no KMS action was requested".into()),
                None,
            ),
        }
    }

    /// Sends the HandshakeResponse; what follows depends on the session kind understood.
    fn answer(
        &mut self,
        now: Instant,
        request: &HandshakeRequest,
        kms: KmsAnswer,
        encrypted_with: Option<String>,
    ) {
        let answer = answer_request(request, &self.config.client_version, |_| kms.clone());
        if let Err(error) =
            self.channel.send(now, PayloadType::HandshakeResponse, &answer.response.to_bytes())
        {
            return self.end_for(error);
        }
        match answer.kind {
            Some(kind) => self.stage = Stage::AwaitingCompletion { kind, encrypted_with },
            None => {
                // Every action was answered (the unsupported one as Failed); the agent ends the
                // session, and the reason is ours to give.
                let reason = answer
                    .response
                    .processed_client_actions
                    .iter()
                    .map(|p| p.error.clone())
                    .find(|e| !e.is_empty())
                    .unwrap_or_else(|| "the agent did not say what kind of session this is".into());
                self.end(SessionEnd::Unsupported(reason));
            }
        }
    }

    fn handle_challenge(&mut self, now: Instant, payload: &[u8]) {
        let Some(cipher) = &mut self.cipher else {
            return self.end(SessionEnd::BadHandshake(
                "the agent sent a KMS challenge to a session without encryption".into(),
            ));
        };
        let sealed =
            EncryptionChallenge::from_bytes(payload).map_err(|e| e.to_string()).and_then(|c| {
                base64::engine::general_purpose::STANDARD
                    .decode(c.challenge)
                    .map_err(|e| format!("the challenge is not base64: {e}"))
            });
        let sealed = match sealed {
            Ok(sealed) => sealed,
            Err(reason) => return self.end(SessionEnd::BadHandshake(reason)),
        };
        let answer = match cipher.open(&sealed).and_then(|plain| cipher.seal(&plain)) {
            Ok(answer) => answer,
            Err(error) => return self.end(SessionEnd::Undecryptable(error)),
        };
        let response = EncryptionChallenge {
            challenge: base64::engine::general_purpose::STANDARD.encode(answer),
        };
        if let Err(error) =
            self.channel.send(now, PayloadType::EncChallengeResponse, &response.to_bytes())
        {
            self.end_for(error);
        }
    }

    fn handle_complete(&mut self, payload: &[u8]) {
        match std::mem::replace(&mut self.stage, Stage::Open) {
            Stage::AwaitingCompletion { kind, encrypted_with } => {
                let message = HandshakeComplete::from_bytes(payload)
                    .map(|c| c.customer_message)
                    .unwrap_or_default();
                self.become_ready(kind, encrypted_with, message);
            }
            Stage::AwaitingAgent => {
                self.stage = Stage::AwaitingAgent;
                // HandshakeComplete with no request before it: the plugin fails the same way.
                self.end(SessionEnd::BadHandshake("unable to determine the session type: HandshakeComplete came before any request".into()));
            }
            // A repeat, or one while the key is being fetched: nothing changes.
            other => self.stage = other,
        }
    }

    fn become_ready(
        &mut self,
        kind: SessionKind,
        encrypted_with: Option<String>,
        customer_message: String,
    ) {
        self.kind = Some(kind.clone());
        self.stage = Stage::Open;
        self.ready_by = None;
        self.events.push_back(SessionEvent::Ready(Ready {
            kind,
            encrypted_with,
            customer_message,
        }));
    }

    /// Moves what waits into the window: controls first, then input as pacing allows.
    fn flush(&mut self, now: Instant) {
        if !matches!(self.stage, Stage::Open) {
            return;
        }
        while self.channel.send_room() > 0 {
            let Some(control) = self.controls.pop_front() else { break };
            let sent = match control {
                Control::Size(size) => self.channel.send_size(now, size).map(|_| ()),
                Control::Flag(flag) => self.channel.send_flag(now, flag).map(|seq| {
                    if let (PortFlag::DisconnectToPort, Some(boundary)) = (flag, &mut self.boundary)
                    {
                        // The latest disconnect is the one whose acknowledgement counts.
                        *boundary = Boundary { flag: Some(seq), ..Boundary::default() };
                    }
                }),
            };
            if let Err(error) = sent {
                return self.end_for(error);
            }
        }
        let max = self.config.channel.max_payload.max(1);
        let mut budget = self.pacer.as_mut().map_or(usize::MAX, |p| p.available(now));
        let mut sent = 0;
        while budget > 0 && !self.input.is_empty() && self.channel.send_room() > 0 {
            let n = max.min(self.input.len());
            let chunk: Vec<u8> = self.input.drain(..n).collect();
            let payload = match &mut self.cipher {
                Some(cipher) => match cipher.seal(&chunk) {
                    Ok(sealed) => sealed,
                    Err(error) => return self.end(SessionEnd::Undecryptable(error)),
                },
                None => chunk,
            };
            if let Err(error) = self.channel.send(now, PayloadType::Output, &payload) {
                return self.end_for(error);
            }
            if let Some(boundary) = &mut self.boundary {
                if boundary.flag.is_some() && boundary.at_input.is_none() {
                    boundary.at_input =
                        Some(self.channel.highest_received().unwrap_or(NOTHING_RECEIVED));
                }
            }
            budget -= 1;
            sent += 1;
        }
        if let Some(pacer) = &mut self.pacer {
            pacer.take(sent);
        }
    }

    fn end_for(&mut self, error: ChannelError) {
        match error {
            ChannelError::Closed => self.end(SessionEnd::Closed { output: String::new() }),
            // Room was checked before each send; anything else is a bug, reported as the end
            // of the session rather than a panic.
            other => self.end(SessionEnd::BadHandshake(other.to_string())),
        }
    }

    fn end(&mut self, why: SessionEnd) {
        if matches!(self.stage, Stage::Ended) {
            return;
        }
        self.stage = Stage::Ended;
        self.input.clear();
        self.controls.clear();
        self.events.push_back(SessionEvent::Ended(why));
    }
}

#[cfg(test)]
mod tests;
