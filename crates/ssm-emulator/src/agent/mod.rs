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

pub mod socket;
mod shell;
mod port;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ssm_protocol::handshake::{AgentHandshake, AgentNegotiated, Version};
use ssm_protocol::payload::{ExitCode, HandshakeResponse, PortFlag, SessionTypeRequest, TerminalSize};
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
pub fn spawn(spec: AgentSpec, metrics: Arc<Metrics>, on_end: impl FnOnce(Ending) + Send + 'static) -> SessionHandle {
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

fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Which stage the session is in.
enum Stage {
    /// Waiting for the first socket.
    Unattached,
    /// HandshakeRequest sent, waiting for the response.
    Handshake(AgentHandshake),
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
}

impl Session {
    fn new(spec: AgentSpec, metrics: Arc<Metrics>) -> Self {
        let now = Instant::now();
        let config = Config { id_seed: rand_seed(&spec.session_id), ..Config::default() };
        let mut channel = Channel::new(Role::Agent, config, now, unix_millis());
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
        }
    }

    fn needs_handshake(&self) -> bool {
        matches!(self.spec.session_type.as_str(), "Port" | "NonInteractiveCommands")
    }

    /// Runs the session; `on_end` learns how it ended before channel_closed goes out, as the
    /// service records a session's end before the client hears of it.
    async fn run(mut self, mut inputs: mpsc::UnboundedReceiver<SessionInput>, on_end: impl FnOnce(Ending)) {
        let ending = loop {
            self.flush();
            let now = Instant::now();
            let timer = self.channel.poll_timeout();
            let handshake_deadline = match &self.stage {
                Stage::Handshake(h) => Some(h.deadline()),
                _ => None,
            };
            let idle_deadline = self.last_activity + self.spec.idle_timeout;
            let wake = [timer, handshake_deadline, self.ready_at, Some(idle_deadline)].into_iter().flatten().min().unwrap_or(idle_deadline);
            let can_output = self.channel.send_room() > 0 && self.work_out.is_some() && self.link.is_some();
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
                    if self.ready_at.is_some_and(|at| at <= now) {
                        self.ready_at = None;
                        self.channel.hold_input(false);
                    }
                    if let Stage::Handshake(h) = &self.stage {
                        if h.check_deadline(now).is_err() {
                            break Ending::Failed("the client did not answer the handshake within 15 s".into());
                        }
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
            let request = SessionTypeRequest { session_type: self.spec.session_type.clone(), properties: self.spec.properties.clone() };
            let handshake = AgentHandshake::new(now, &self.spec.agent_version, &request, None);
            if let Err(error) = self.channel.send(now, PayloadType::HandshakeRequest, &handshake.request().to_bytes()) {
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
        let started = match self.spec.session_type.as_str() {
            "Standard_Stream" => shell::start_shell(&self.spec.shell, in_rx, out_tx),
            "InteractiveCommands" => match command_of(&self.spec.properties) {
                Some(command) => shell::start_shell(&["/bin/sh".into(), "-c".into(), command], in_rx, out_tx),
                None => Err("the document gives no command to run".into()),
            },
            "NonInteractiveCommands" => match command_of(&self.spec.properties) {
                Some(command) => {
                    let separate = self.spec.properties.get("separateOutputStream").and_then(|v| v.as_str()) == Some("true");
                    shell::start_command(command, separate, in_rx, out_tx)
                }
                None => Err("the document gives no command to run".into()),
            },
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
        let sent = match output {
            WorkOutput::Data(bytes) => {
                self.last_activity = now;
                self.channel.send(now, PayloadType::Output, &bytes)
            }
            WorkOutput::Stderr(bytes) => {
                self.last_activity = now;
                self.channel.send(now, PayloadType::StdErr, &bytes)
            }
            WorkOutput::Flag(flag) => self.channel.send_flag(now, flag),
            WorkOutput::Exit(code) => self.channel.send(now, PayloadType::ExitCode, &ExitCode(code).to_bytes()),
            WorkOutput::Ended(ending) => return Some(ending),
        };
        if self.spec.paced {
            // The agent sleeps 1 ms after each message. The next slot counts from the previous
            // one, not from now: tokio's timer wakes up to a tick late, and counting from the
            // wake-up would halve the rate. After an idle spell the slot restarts from now.
            self.next_output_at = self.next_output_at.max(now.checked_sub(AGENT_SEND_PAUSE).unwrap_or(now)) + AGENT_SEND_PAUSE;
        }
        // The window had room (checked before receiving), so a failure means closed.
        sent.err().map(|e| Ending::Failed(format!("the channel refused output: {e}")))
    }

    /// Moves channel events to the workload (or the handshake), as far as its queue allows.
    fn dispatch_events(&mut self) -> Option<Ending> {
        while self.backlog.is_empty() {
            let Some(event) = self.channel.poll_event() else { break };
            let now = Instant::now();
            match event {
                Event::Message(message) => {
                    self.last_activity = now;
                    if let Stage::Handshake(handshake) = &self.stage {
                        if message.payload_type != PayloadType::HandshakeResponse {
                            continue; // Input before the handshake ends is not for anyone yet.
                        }
                        let outcome = HandshakeResponse::from_bytes(&message.payload)
                            .map_err(|e| e.to_string())
                            .and_then(|r| handshake.handle_response(now, &r, "").map_err(|e| e.to_string()));
                        match outcome {
                            Ok((negotiated, complete)) => {
                                if let Err(e) = self.channel.send(now, PayloadType::HandshakeComplete, &complete.to_bytes()) {
                                    return Some(Ending::Failed(format!("could not complete the handshake: {e}")));
                                }
                                if let Some(ending) = self.start_workload(Some(negotiated)) {
                                    return Some(ending);
                                }
                            }
                            Err(reason) => return Some(Ending::Failed(format!("handshake failed: {reason}"))),
                        }
                        continue;
                    }
                    let item = match message.payload_type {
                        PayloadType::Output => WorkInput::Data(message.payload),
                        PayloadType::Size => match TerminalSize::from_bytes(&message.payload) {
                            Ok(size) => WorkInput::Resize(size),
                            Err(_) => continue,
                        },
                        PayloadType::Flag => match PortFlag::from_bytes(&message.payload) {
                            Ok(PortFlag::TerminateSession) => return Some(Ending::Terminated),
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
                    return Some(Ending::Failed("output stayed unacknowledged for 5 minutes".into()))
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
            Ending::IdleTimeout => "Session terminated due to idle timeout.".into(),
            Ending::Finished | Ending::Terminated => String::new(),
        };
        let _ = self.channel.send_channel_closed(now, &self.spec.session_id, &output);
        self.flush();
        if let Some((_, outgoing)) = &self.link {
            let _ = outgoing.send(Outgoing::Close);
        }
    }
}

/// The command of an InteractiveCommands/NonInteractiveCommands document, from its properties
/// (`{"linux": {"commands": ...}}` as the documents have it, or a flat `commands`/`command`).
fn command_of(properties: &serde_json::Value) -> Option<String> {
    let platform = properties.get("linux").unwrap_or(properties);
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

async fn recv_paced(receiver: &mut Option<mpsc::Receiver<WorkOutput>>, at: Instant) -> Option<WorkOutput> {
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
