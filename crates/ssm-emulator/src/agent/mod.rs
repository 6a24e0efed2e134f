//! The agent end of the data channel: one task per session that owns the `ssm-protocol`
//! channel in the agent role, does the handshake the way the SSM agent does, and runs the
//! session's workload (a pty shell, a command, or port forwarding) behind it.
//!
//! The session task outlives WebSockets: a socket ([`socket`]) attaches to it after checking the
//! token, and when the socket dies the task keeps its state (sequence numbers, unacknowledged
//! output, smux streams) until a resumed socket attaches again, as the real agent and service
//! do. Pacing like the agent's (1024-byte reads, 1 ms apart) is applied here, to whatever the
//! workload produces.
//!
//! ```text
//! WebSocket ─ socket.rs ─ SessionInput::Frame ─▶ Channel (agent role) ─▶ WorkInput ─▶ workload
//!            (faults,      ◀─ Outgoing::Frame ──        ◀─ WorkOutput ─ (shell.rs / port.rs)
//!             rate limit)
//! ```

mod port;
mod shell;
pub mod socket;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ssm_protocol::handshake::HandshakeError;
use ssm_protocol::handshake::{AgentHandshake, AgentNegotiated, Version};
use ssm_protocol::payload::{
    EncryptionChallenge, ExitCode, HandshakeResponse, KmsEncryptionRequest, PortFlag,
    SessionTypeRequest, TerminalSize,
};
use ssm_protocol::{Channel, Config, Event, PayloadType, Role};
use tokio::sync::mpsc;

use crate::metrics::Metrics;

/// Everything the agent end needs to know about one session.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// The session id (for channel_closed).
    pub session_id: String,
    /// The version the node's agent reports, four numeric parts.
    pub agent_version: String,
    /// `Standard_Stream`, `InteractiveCommands`, `NonInteractiveCommands` or `Port`.
    pub session_type: String,
    /// The document's resolved properties (what the handshake carries).
    pub properties: serde_json::Value,
    /// The login shell of the node, for Standard_Stream.
    pub shell: Vec<String>,
    /// Pace output like the agent (1024-byte messages, 1 ms apart). Off with `--unpaced`.
    pub paced: bool,
    /// Ends the session after this long without stream data either way (the service's idle
    /// timeout).
    pub idle_timeout: Duration,
    /// How long the workload's handler takes to become ready after it starts; input before
    /// then is left unacknowledged, as the agent leaves it ("handler not ready").
    pub handler_ready_delay: Duration,
    /// The node's id: the agent's `aws:ssm:TargetId` when it decrypts a data key.
    pub instance_id: String,
    /// The KMS key of the preferences, for shell and command sessions (never Port).
    pub kms_key_id: Option<String>,
    /// The account's KMS, which the agent's instance role decrypts data keys with.
    pub kms: Option<Arc<crate::kms::Kms>>,
    /// The OS user the shell runs as (Run As), when it is on.
    pub run_as: Option<String>,
    /// The preferences' shell profile, typed into Standard_Stream shells at start.
    pub shell_profile: String,
    /// A Windows node: the agent types a line's end as `\r` (see [`shell::ShellOptions`]).
    pub windows: bool,
    /// The preferences' maximum session duration.
    pub max_duration: Option<Duration>,
}

/// How a session ended, for the session registry and DescribeSessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The shell or command exited, or the port target closed (stdio).
    Finished,
    /// TerminateSession or the client's TerminateSession flag.
    Terminated,
    /// The handshake failed or timed out, or the workload could not start.
    Failed(String),
    /// No stream data for the idle timeout.
    IdleTimeout,
    /// The preferences' maximum session duration passed.
    MaxDuration,
}

/// Messages into a session task.
#[derive(Debug)]
pub enum SessionInput {
    /// A socket passed the token check: its outgoing queue and an id to recognise it by.
    Attach {
        /// Distinguishes this socket from earlier ones.
        link: u64,
        /// Frames for the socket to send.
        outgoing: mpsc::UnboundedSender<Outgoing>,
    },
    /// A binary frame from the socket `link`.
    Frame {
        /// Which socket.
        link: u64,
        /// The frame.
        bytes: Vec<u8>,
    },
    /// The socket `link` is gone.
    Detach {
        /// Which socket.
        link: u64,
    },
    /// TerminateSession was called.
    Terminate,
}

/// Messages from a session task to its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A binary frame.
    Frame(Vec<u8>),
    /// Close the socket (after the frames before it).
    Close,
}

/// What the workload tells the session.
#[derive(Debug)]
pub(crate) enum WorkOutput {
    /// Stream bytes (payload type 1), at most 1024.
    Data(Vec<u8>),
    /// Standard error when the command separates it (payload type 11).
    Stderr(Vec<u8>),
    /// A port flag (ConnectToPortError).
    Flag(PortFlag),
    /// The command's exit code (payload type 12).
    Exit(i32),
    /// Basic port forwarding closed its connection on DisconnectToPort: the output before
    /// this was the closed connection's.
    Disconnected,
    /// The workload is over.
    Ended(Ending),
}

/// What the session tells the workload.
#[derive(Debug)]
pub(crate) enum WorkInput {
    /// Client stream bytes (payload type 1).
    Data(Vec<u8>),
    /// A terminal size.
    Resize(TerminalSize),
    /// A client flag.
    Flag(PortFlag),
}

/// The handle the registry keeps for a running session.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    inputs: mpsc::UnboundedSender<SessionInput>,
}

impl SessionHandle {
    /// Sends an input to the session task; false when the session is over.
    pub fn send(&self, input: SessionInput) -> bool {
        self.inputs.send(input).is_ok()
    }

    /// Whether the session task still runs.
    pub fn is_running(&self) -> bool {
        !self.inputs.is_closed()
    }
}

/// Starts a session task. `on_end` learns how it ended.
pub fn spawn(
    spec: AgentSpec,
    metrics: Arc<Metrics>,
    on_end: impl FnOnce(Ending) + Send + 'static,
) -> SessionHandle {
    let (inputs, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        metrics.session_started();
        Session::new(spec, metrics.clone()).run(receiver, on_end).await;
        metrics.session_ended();
    });
    SessionHandle { inputs }
}

/// The agent's pause after each stream message it sends (`agent/session/plugins/port`,
/// `shell`: a 1 ms sleep per 1024-byte read), which caps a session near 1 MB/s each way.
const AGENT_SEND_PAUSE: Duration = Duration::from_millis(1);

/// Which stage the session is in.
enum Stage {
    /// Waiting for the first socket.
    Unattached,
    /// HandshakeRequest sent, waiting for the response.
    Handshake(AgentHandshake),
    /// KMS: the challenge went out; its answer (payload type 9) is due by `deadline`.
    Challenge {
        challenge: ssm_protocol::kms::AgentChallenge,
        negotiated: AgentNegotiated,
        complete: ssm_protocol::payload::HandshakeComplete,
        deadline: Instant,
    },
    /// The workload runs.
    Running,
}

struct Session {
    spec: AgentSpec,
    metrics: Arc<Metrics>,
    channel: Channel,
    stage: Stage,
    link: Option<(u64, mpsc::UnboundedSender<Outgoing>)>,
    work_in: Option<mpsc::Sender<WorkInput>>,
    work_out: Option<mpsc::Receiver<WorkOutput>>,
    /// Stream messages delivered but not yet handed to the workload (its queue was full).
    backlog: std::collections::VecDeque<WorkInput>,
    next_output_at: Instant,
    last_activity: Instant,
    reported_resends: u64,
    /// When the workload's handler becomes ready; until then input is held unacknowledged.
    ready_at: Option<Instant>,
    /// The stream's cipher, once a KMS-encrypted session has its data key.
    cipher: Option<ssm_protocol::kms::Cipher>,
    /// The random challenge offered in the KMS action, for the decryption context.
    random_challenge: Option<String>,
    /// When the maximum session duration ends the session.
    ends_at: Option<Instant>,
    /// Between a DisconnectToPort and the workload's [`WorkOutput::Disconnected`]: the closed
    /// connection's output still queued is dropped, as the agent, which closes the destination
    /// before it acknowledges the flag, never sends it.
    dropping_old_output: bool,
}

impl Session {
    fn new(spec: AgentSpec, metrics: Arc<Metrics>) -> Self {
        let now = Instant::now();
        let ends_at = spec.max_duration.map(|d| now + d);
        let config = Config { id_seed: rand_seed(&spec.session_id), ..Config::default() };
        let mut channel = Channel::new(Role::Agent, config, now, SystemTime::now());
        // No socket yet: nothing is transmitted until one attaches.
        channel.handle_link_down();
        Session {
            spec,
            metrics,
            channel,
            stage: Stage::Unattached,
            link: None,
            work_in: None,
            work_out: None,
            backlog: Default::default(),
            next_output_at: now,
            last_activity: now,
            reported_resends: 0,
            ready_at: None,
            cipher: None,
            random_challenge: None,
            ends_at,
            dropping_old_output: false,
        }
    }

    /// As the agent's session plugin: a handshake when the plugin requires one (port and
    /// non-interactive commands) or when the session is encrypted.
    fn needs_handshake(&self) -> bool {
        matches!(self.spec.session_type.as_str(), "Port" | "NonInteractiveCommands")
            || self.encrypted()
    }

    /// KMS encryption: for shell and command sessions when the preferences name a key; the
    /// agent forces it off for Port (`sessionplugin.isEncryptionEnabled`).
    fn encrypted(&self) -> bool {
        self.spec.kms_key_id.is_some() && self.spec.session_type != "Port"
    }

    /// Runs the session; `on_end` learns how it ended before channel_closed goes out, as the
    /// service records a session's end before the client hears of it.
    async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<SessionInput>,
        on_end: impl FnOnce(Ending),
    ) {
        let ending = loop {
            self.flush();
            let now = Instant::now();
            let timer = self.channel.poll_timeout();
            let handshake_deadline = match &self.stage {
                Stage::Handshake(h) => Some(h.deadline()),
                Stage::Challenge { deadline, .. } => Some(*deadline),
                _ => None,
            };
            let idle_deadline = self.last_activity + self.spec.idle_timeout;
            let wake =
                [timer, handshake_deadline, self.ready_at, self.ends_at, Some(idle_deadline)]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(idle_deadline);
            let can_output =
                self.channel.send_room() > 0 && self.work_out.is_some() && self.link.is_some();
            let output_at = self.next_output_at.max(now);
            let has_backlog = !self.backlog.is_empty();
            let work_in = self.work_in.clone();
            // The select's futures must not borrow `self`, which the handlers change.
            let mut work_out = self.work_out.take();

            tokio::select! {
                input = inputs.recv() => {
                    let Some(input) = input else { break Ending::Terminated };
                    if let Some(ending) = self.handle_input(input) {
                        break ending;
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= idle_deadline {
                        break Ending::IdleTimeout;
                    }
                    if self.ends_at.is_some_and(|at| at <= now) {
                        break Ending::MaxDuration;
                    }
                    if self.ready_at.is_some_and(|at| at <= now) {
                        self.ready_at = None;
                        self.channel.hold_input(false);
                    }
                    match &self.stage {
                        Stage::Handshake(h) if h.check_deadline(now).is_err() => {
                            break Ending::Failed(handshake_failure(&HandshakeError::TimedOut.to_string()));
                        }
                        Stage::Challenge { deadline, .. } if *deadline <= now => {
                            // The agent's words: a wrong answer is only logged, then this.
                            break Ending::Failed(handshake_failure("Timed out waiting for encryption challenge."));
                        }
                        _ => {}
                    }
                    self.channel.handle_timeout(now);
                }
                output = recv_paced(&mut work_out, output_at), if can_output => {
                    match output {
                        Some(output) => if let Some(ending) = self.handle_output(output) { break ending },
                        None => break Ending::Finished,
                    }
                }
                permit = reserve(&work_in), if has_backlog => {
                    if let Some(permit) = permit {
                        if let Some(item) = self.backlog.pop_front() {
                            permit.send(item);
                        }
                    }
                }
            }
            if self.work_out.is_none() {
                self.work_out = work_out;
            }
            if let Some(ending) = self.dispatch_events() {
                break ending;
            }
        };
        on_end(ending.clone());
        self.finish(&ending);
    }

    fn handle_input(&mut self, input: SessionInput) -> Option<Ending> {
        let now = Instant::now();
        match input {
            SessionInput::Attach { link, outgoing } => {
                if let Some((_, old)) = self.link.replace((link, outgoing)) {
                    let _ = old.send(Outgoing::Close);
                }
                self.channel.handle_link_up(now);
                if matches!(self.stage, Stage::Unattached) {
                    return self.begin(now);
                }
            }
            SessionInput::Frame { link, bytes } => {
                if self.link.as_ref().is_some_and(|(current, _)| *current == link) {
                    // A bad frame is dropped; the client resends it.
                    let _ = self.channel.handle_frame(now, &bytes);
                }
            }
            SessionInput::Detach { link } => {
                if self.link.as_ref().is_some_and(|(current, _)| *current == link) {
                    self.link = None;
                    self.channel.handle_link_down();
                }
            }
            SessionInput::Terminate => return Some(Ending::Terminated),
        }
        None
    }

    /// The first socket is here: handshake, or start the shell straight away.
    fn begin(&mut self, now: Instant) -> Option<Ending> {
        if self.needs_handshake() {
            let request = SessionTypeRequest {
                session_type: self.spec.session_type.clone(),
                properties: self.spec.properties.clone(),
            };
            let kms = self.encrypted().then(|| {
                // Agents from 3.3.808.0 offer the random challenge: 16 random bytes, base64,
                // made once per session (`NewBlockCipherKMS`).
                let offers = self.spec.agent_version.parse::<Version>().is_ok_and(|v| {
                    v.is_at_least(&ssm_protocol::handshake::gates::agent_kms_challenge())
                });
                let challenge = offers.then(|| {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>())
                });
                KmsEncryptionRequest {
                    kms_key_id: self.spec.kms_key_id.clone().unwrap_or_default(),
                    challenge,
                }
            });
            self.random_challenge = kms.as_ref().and_then(|k| k.challenge.clone());
            let handshake =
                AgentHandshake::new(now, &self.spec.agent_version, &request, kms.as_ref());
            if let Err(error) = self.channel.send(
                now,
                PayloadType::HandshakeRequest,
                &handshake.request().to_bytes(),
            ) {
                return Some(Ending::Failed(format!("could not send the handshake: {error}")));
            }
            self.stage = Stage::Handshake(handshake);
            None
        } else {
            self.start_workload(None)
        }
    }

    fn start_workload(&mut self, negotiated: Option<AgentNegotiated>) -> Option<Ending> {
        let (in_tx, in_rx) = mpsc::channel(64);
        let (out_tx, out_rx) = mpsc::channel(16);
        let options = shell::ShellOptions {
            run_as: self.spec.run_as.clone(),
            profile: None,
            windows: self.spec.windows,
        };
        let started = match self.spec.session_type.as_str() {
            "Standard_Stream" => {
                let options = shell::ShellOptions {
                    profile: Some(self.spec.shell_profile.clone()),
                    ..options
                };
                shell::start_shell(&self.spec.shell, &options, in_rx, out_tx)
            }
            "InteractiveCommands" => match command_of(&self.spec.properties, self.spec.windows) {
                Some(command) => shell::start_shell(
                    &["/bin/sh".into(), "-c".into(), command],
                    &options,
                    in_rx,
                    out_tx,
                ),
                None => Err("the document gives no command to run".into()),
            },
            "NonInteractiveCommands" => {
                match command_of(&self.spec.properties, self.spec.windows) {
                    Some(command) => {
                        let separate = self
                            .spec
                            .properties
                            .get("separateOutputStream")
                            .and_then(|v| v.as_str())
                            == Some("true");
                        shell::start_command(
                            command,
                            self.spec.run_as.as_deref(),
                            separate,
                            in_rx,
                            out_tx,
                        )
                    }
                    None => Err("the document gives no command to run".into()),
                }
            }
            "Port" => port::start(&self.spec, negotiated.as_ref(), in_rx, out_tx),
            other => Err(format!("session type {other} is not supported by this agent")),
        };
        if let Err(reason) = started {
            return Some(Ending::Failed(reason));
        }
        self.work_in = Some(in_tx);
        self.work_out = Some(out_rx);
        self.stage = Stage::Running;
        if !self.spec.handler_ready_delay.is_zero() {
            self.channel.hold_input(true);
            self.ready_at = Some(Instant::now() + self.spec.handler_ready_delay);
        }
        None
    }

    fn handle_output(&mut self, output: WorkOutput) -> Option<Ending> {
        let now = Instant::now();
        let (payload_type, payload) = match output {
            WorkOutput::Data(_) if self.dropping_old_output => return None,
            WorkOutput::Disconnected => {
                self.dropping_old_output = false;
                return None;
            }
            WorkOutput::Data(bytes) => {
                self.last_activity = now;
                (PayloadType::Output, bytes)
            }
            WorkOutput::Stderr(bytes) => {
                self.last_activity = now;
                (PayloadType::StdErr, bytes)
            }
            WorkOutput::Flag(flag) => (PayloadType::Flag, flag.to_bytes().to_vec()),
            WorkOutput::Exit(code) => (PayloadType::ExitCode, ExitCode(code).to_bytes()),
            WorkOutput::Ended(ending) => return Some(ending),
        };
        // Output, stderr and exit codes go encrypted in an encrypted session; flags never.
        let payload = match &mut self.cipher {
            Some(cipher) if ssm_protocol::kms::encrypted_by_agent(payload_type) => match cipher
                .seal(&payload)
            {
                Ok(sealed) => sealed,
                Err(e) => return Some(Ending::Failed(format!("could not encrypt output: {e}"))),
            },
            _ => payload,
        };
        let sent = self.channel.send(now, payload_type, &payload);
        if self.spec.paced {
            // The agent sleeps 1 ms after each message. The next slot counts from the previous
            // one, not from now: tokio's timer wakes up to a tick late, and counting from the
            // wake-up would halve the rate. After an idle spell the slot restarts from now.
            self.next_output_at =
                self.next_output_at.max(now.checked_sub(AGENT_SEND_PAUSE).unwrap_or(now))
                    + AGENT_SEND_PAUSE;
        }
        // The window had room (checked before receiving), so a failure means closed.
        sent.err().map(|e| Ending::Failed(format!("the channel refused output: {e}")))
    }

    /// The handshake's stream messages: the response, then (KMS) the challenge's answer.
    fn handle_handshake_message(
        &mut self,
        now: Instant,
        payload_type: PayloadType,
        payload: &[u8],
    ) -> Option<Ending> {
        match (&self.stage, payload_type) {
            (Stage::Handshake(handshake), PayloadType::HandshakeResponse) => {
                let message =
                    if self.encrypted() { ssm_protocol::kms::ENCRYPTED_MESSAGE } else { "" };
                let outcome = HandshakeResponse::from_bytes(payload)
                    .map_err(|e| e.to_string())
                    .and_then(|r| {
                        handshake.handle_response(now, &r, message).map_err(|e| agent_words(&e))
                    });
                let (negotiated, complete) = match outcome {
                    Ok(done) => done,
                    Err(reason) => return Some(Ending::Failed(handshake_failure(&reason))),
                };
                match negotiated.kms_ciphertext.clone() {
                    Some(blob) => self.begin_challenge(now, negotiated, complete, &blob),
                    None => self.complete(now, negotiated, complete),
                }
            }
            (Stage::Challenge { challenge, .. }, PayloadType::EncChallengeResponse) => {
                let answered = EncryptionChallenge::from_bytes(payload)
                    .ok()
                    .zip(self.cipher.as_ref())
                    .map(|(answer, cipher)| challenge.check(cipher, &answer));
                // A wrong answer is only logged by the agent; the session then fails at the
                // deadline ("Timed out waiting for encryption challenge.").
                if !matches!(answered, Some(Ok(()))) {
                    return None;
                }
                match std::mem::replace(&mut self.stage, Stage::Running) {
                    Stage::Challenge { negotiated, complete, .. } => {
                        self.complete(now, negotiated, complete)
                    }
                    _ => None,
                }
            }
            // Input before the handshake ends is not for anyone yet.
            _ => None,
        }
    }

    /// KMS: decrypts the data key with the agent's own context (the session, this node, and
    /// the random challenge if the client acknowledged it), then sends the challenge.
    fn begin_challenge(
        &mut self,
        now: Instant,
        negotiated: AgentNegotiated,
        complete: ssm_protocol::payload::HandshakeComplete,
        blob: &[u8],
    ) -> Option<Ending> {
        let challenge =
            self.random_challenge.as_deref().filter(|_| negotiated.challenge_acknowledged);
        let context = ssm_protocol::kms::encryption_context(
            &self.spec.session_id,
            &self.spec.instance_id,
            challenge,
        );
        let decrypted = match &self.spec.kms {
            Some(kms) => kms
                .decrypt(blob, &context, self.spec.kms_key_id.as_deref())
                .map_err(|e| format!("{}: {}", e.code, e.message)),
            None => Err("no KMS".to_owned()),
        };
        let plaintext = match decrypted {
            Ok(plaintext) => zeroize::Zeroizing::new(plaintext),
            Err(error) => {
                return Some(Ending::Failed(handshake_failure(&format!("Fetching data key failed: Unable to retrieve data key, Error when decrypting data key {error}"))));
            }
        };
        let mut cipher = match ssm_protocol::kms::Cipher::new(
            ssm_protocol::kms::End::Agent,
            &plaintext,
            rand::random(),
        ) {
            Ok(cipher) => cipher,
            Err(error) => {
                return Some(Ending::Failed(handshake_failure(&format!(
                    "Fetching data key failed: {error}"
                ))))
            }
        };
        let (challenge, payload) =
            match ssm_protocol::kms::AgentChallenge::new(&mut cipher, random_64()) {
                Ok(made) => made,
                Err(error) => return Some(Ending::Failed(handshake_failure(&error.to_string()))),
            };
        if let Err(e) =
            self.channel.send(now, PayloadType::EncChallengeRequest, &payload.to_bytes())
        {
            return Some(Ending::Failed(format!("could not send the challenge: {e}")));
        }
        self.cipher = Some(cipher);
        self.stage = Stage::Challenge {
            challenge,
            negotiated,
            complete,
            deadline: now + AgentHandshake::TIMEOUT,
        };
        None
    }

    fn complete(
        &mut self,
        now: Instant,
        negotiated: AgentNegotiated,
        complete: ssm_protocol::payload::HandshakeComplete,
    ) -> Option<Ending> {
        if let Err(e) = self.channel.send(now, PayloadType::HandshakeComplete, &complete.to_bytes())
        {
            return Some(Ending::Failed(format!("could not complete the handshake: {e}")));
        }
        self.start_workload(Some(negotiated))
    }

    /// Moves channel events to the workload (or the handshake), as far as its queue allows.
    fn dispatch_events(&mut self) -> Option<Ending> {
        while self.backlog.is_empty() {
            let Some(event) = self.channel.poll_event() else { break };
            let now = Instant::now();
            match event {
                Event::Message(message) => {
                    self.last_activity = now;
                    if matches!(self.stage, Stage::Handshake(_) | Stage::Challenge { .. }) {
                        if let Some(ending) = self.handle_handshake_message(
                            now,
                            message.payload_type,
                            &message.payload,
                        ) {
                            return Some(ending);
                        }
                        continue;
                    }
                    let item = match message.payload_type {
                        PayloadType::Output => match &self.cipher {
                            // The agent decrypts keystrokes (payload type 1) only.
                            Some(cipher) => match cipher.open(&message.payload) {
                                Ok(plain) => WorkInput::Data(plain),
                                Err(_) => continue,
                            },
                            None => WorkInput::Data(message.payload),
                        },
                        PayloadType::Size => match TerminalSize::from_bytes(&message.payload) {
                            Ok(size) => WorkInput::Resize(size),
                            Err(_) => continue,
                        },
                        PayloadType::Flag => match PortFlag::from_bytes(&message.payload) {
                            Ok(PortFlag::TerminateSession) => return Some(Ending::Terminated),
                            Ok(PortFlag::DisconnectToPort) => {
                                self.dropping_old_output = true;
                                WorkInput::Flag(PortFlag::DisconnectToPort)
                            }
                            Ok(flag) => WorkInput::Flag(flag),
                            Err(_) => continue,
                        },
                        _ => continue,
                    };
                    self.backlog.push_back(item);
                    self.flush_backlog();
                }
                Event::Closed(_) => return Some(Ending::Terminated),
                Event::DeliveryTimedOut { .. } => {
                    return Some(Ending::Failed(
                        "output stayed unacknowledged for 5 minutes".into(),
                    ))
                }
                _ => {}
            }
        }
        None
    }

    fn flush_backlog(&mut self) {
        let Some(work_in) = &self.work_in else {
            self.backlog.clear();
            return;
        };
        while let Some(item) = self.backlog.pop_front() {
            match work_in.try_send(item) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(item)) => {
                    self.backlog.push_front(item);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    self.backlog.clear();
                    break;
                }
            }
        }
    }

    fn flush(&mut self) {
        let stats = self.channel.stats();
        self.metrics.add_resends(stats.messages_resent - self.reported_resends);
        self.reported_resends = stats.messages_resent;
        let Some((_, outgoing)) = &self.link else { return };
        while let Some(frame) = self.channel.poll_transmit() {
            if outgoing.send(Outgoing::Frame(frame)).is_err() {
                break;
            }
        }
    }

    fn finish(&mut self, ending: &Ending) {
        let now = Instant::now();
        let output = match ending {
            Ending::Failed(reason) => reason.clone(),
            // The service's words, as the plugin prints them (amazon-ssm-agent issue #261).
            Ending::IdleTimeout => {
                "Your session timed out due to inactivity and has been terminated.".into()
            }
            // No source gives the service's words for this one; these are the emulator's.
            Ending::MaxDuration => {
                "Your session has reached its maximum duration and has been terminated.".into()
            }
            Ending::Finished | Ending::Terminated => String::new(),
        };
        let _ = self.channel.send_channel_closed(now, &self.spec.session_id, &output);
        self.flush();
        if let Some((_, outgoing)) = &self.link {
            let _ = outgoing.send(Outgoing::Close);
        }
    }
}

/// The session's failure as the agent's session plugin words it (`sessionplugin.go`).
fn handshake_failure(reason: &str) -> String {
    format!("Encountered error while initiating handshake. {reason}")
}

/// A client's refusal as the agent words it (`handleHandshakeResponse`).
fn agent_words(error: &HandshakeError) -> String {
    match error {
        HandshakeError::ActionFailed { action, reason } => {
            format!("{action} failed on client with status 2 error: {reason}")
        }
        other => other.to_string(),
    }
}

fn random_64() -> [u8; 64] {
    let mut bytes = [0u8; 64];
    for chunk in bytes.chunks_mut(16) {
        chunk.copy_from_slice(&rand::random::<[u8; 16]>());
    }
    bytes
}

/// The command of an InteractiveCommands/NonInteractiveCommands document, from its properties
/// (`{"linux": {"commands": ...}, "windows": {...}}` as the documents have it, the node's
/// platform chosen, or a flat `commands`/`command`).
fn command_of(properties: &serde_json::Value, windows: bool) -> Option<String> {
    let platform = properties.get(if windows { "windows" } else { "linux" }).unwrap_or(properties);
    ["commands", "command"]
        .iter()
        .find_map(|key| platform.get(key))
        .and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(items) => {
                Some(items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join("\n"))
            }
            _ => None,
        })
        .filter(|c| !c.trim().is_empty())
}

/// Whether the agent version multiplexes port sessions (newer than 3.0.196.0).
pub(crate) fn agent_supports_mux(agent_version: &str) -> bool {
    agent_version
        .parse::<Version>()
        .is_ok_and(|v| v.is_newer_than(&ssm_protocol::handshake::gates::agent_mux()))
}

fn rand_seed(session_id: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(session_id.as_bytes());
    hasher.finish()
}

async fn recv_paced(
    receiver: &mut Option<mpsc::Receiver<WorkOutput>>,
    at: Instant,
) -> Option<WorkOutput> {
    // A sleep to an instant already past still waits for a timer tick (about 1 ms): skip it.
    if at > Instant::now() {
        tokio::time::sleep_until(at.into()).await;
    }
    match receiver {
        Some(r) => r.recv().await,
        None => std::future::pending().await,
    }
}

async fn reserve(sender: &Option<mpsc::Sender<WorkInput>>) -> Option<mpsc::Permit<'_, WorkInput>> {
    match sender {
        Some(s) => s.reserve().await.ok(),
        None => std::future::pending().await,
    }
}
