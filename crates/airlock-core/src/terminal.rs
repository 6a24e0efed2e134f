//! A shell session as a terminal on screen sees it: one task per terminal that starts the
//! session, reports its stage, batches output for the screen, holds back when the screen falls
//! behind, and says plainly why the session ended.
//!
//! Output is batched: one [`TerminalEvent::Output`] per [`BATCH_WINDOW`] or [`BATCH_BYTES`],
//! whichever comes first, so a flood becomes a few dozen messages a second instead of
//! thousands. The screen acknowledges what it has drawn ([`TerminalHandle::ack`]); once
//! [`HIGH_WATER`] bytes are unacknowledged the task stops taking output from the session, and
//! the data channel pushes back on the agent in turn. Keystrokes are never held back by this.
//!
//! This module owns no UI: a front end reads the events and sends the commands.

use std::time::Duration;

use ssm_protocol::payload::TerminalSize;
use std::time::Instant;
use tokio::sync::mpsc;

use crate::aws::{Aws, StartRequest};
use crate::datachannel::{Command, DriverConfig, Ending, Notice, Ready};
use crate::session::OpenSession;

/// The longest output waits before it is sent on (about one frame at 60 Hz).
pub const BATCH_WINDOW: Duration = Duration::from_millis(16);

/// The most output sent in one event.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Unacknowledged output above which the task stops reading the session.
pub const HIGH_WATER: usize = 1024 * 1024;

/// Where a starting session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
#[ts(rename = "SessionStage")]
pub enum Stage {
    /// StartSession is in flight.
    StartingSession,
    /// The WebSocket to the data channel is opening.
    OpeningDataChannel,
    /// The channel is open; waiting for the agent's first output (or its handshake).
    WaitingForAgent,
}

/// The state of a terminal's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalState {
    /// Starting, at this stage.
    Connecting(Stage),
    /// Connected; `session_id` is the service's id.
    Connected {
        /// The session id, for the audit trail.
        session_id: String,
        /// The KMS key the session's stream is encrypted under, if it is.
        encrypted_with: Option<String>,
        /// The agent's message for the user (for example that the session is encrypted).
        message: Option<String>,
    },
    /// The link dropped; attempt `attempt` follows after `delay`.
    Reconnecting {
        /// 1 for the first attempt.
        attempt: u32,
        /// The wait before it.
        delay: Duration,
        /// Why the link was lost.
        reason: String,
    },
    /// The session is over.
    Ended {
        /// Why, in words for the user.
        reason: String,
        /// The command's exit code, when the agent reported one.
        exit_code: Option<i32>,
        /// The user closed it.
        by_user: bool,
        /// It did not end as a session ends by itself (the shell exiting) or by the user: it
        /// could not start, or its link or its far side failed.
        failed: bool,
    },
}

/// What a terminal's task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    /// The state changed.
    State(TerminalState),
    /// Output for the screen, batched.
    Output(Vec<u8>),
    /// The standard error of a non-interactive command, passed on at once (after the output
    /// before it); acknowledged like output. A shell's errors arrive as output.
    Stderr(Vec<u8>),
}

#[derive(Debug)]
enum TerminalCommand {
    Input(Vec<u8>),
    Resize(TerminalSize),
    Ack(usize),
    Close,
}

/// The front end's end of a terminal. Dropping every clone closes the session.
#[derive(Debug, Clone)]
pub struct TerminalHandle {
    commands: mpsc::UnboundedSender<TerminalCommand>,
}

/// Resolves when a terminal's task has finished (its session terminated or ended).
#[derive(Debug)]
pub struct TerminalDone(tokio::sync::oneshot::Receiver<()>);

impl std::future::Future for TerminalDone {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl TerminalHandle {
    /// Keystrokes or pasted text. Never blocked by output.
    pub fn input(&self, bytes: Vec<u8>) {
        let _ = self.commands.send(TerminalCommand::Input(bytes));
    }

    /// The screen's new size.
    pub fn resize(&self, size: TerminalSize) {
        let _ = self.commands.send(TerminalCommand::Resize(size));
    }

    /// The screen has drawn `bytes` more bytes of output.
    pub fn ack(&self, bytes: usize) {
        let _ = self.commands.send(TerminalCommand::Ack(bytes));
    }

    /// Ends the session (TerminateSession) and the task.
    pub fn close(&self) {
        let _ = self.commands.send(TerminalCommand::Close);
    }
}

/// How a terminal's session begins.
#[derive(Debug)]
pub enum Opening {
    /// StartSession with this request, then the data channel.
    Start(StartRequest),
    /// A session already open and ready (the AWS CLI started it and Airlock, run as its
    /// plugin, joined it and found a shell).
    Opened {
        /// The session.
        session: OpenSession,
        /// What it said when it became ready.
        ready: Ready,
    },
}

impl From<StartRequest> for Opening {
    fn from(request: StartRequest) -> Self {
        Opening::Start(request)
    }
}

/// Starts a terminal: a task that opens the session (`opening`: a request to start, or a
/// started session to join) and runs it until it ends. `size` is sent first, so the shell
/// starts at the screen's size (`None`: no screen, as for a script's pipe). [`TerminalDone`]
/// resolves when the task has finished, TerminateSession included.
pub fn open_terminal(
    aws: Aws,
    opening: impl Into<Opening>,
    config: DriverConfig,
    size: Option<TerminalSize>,
) -> (TerminalHandle, mpsc::Receiver<TerminalEvent>, TerminalDone) {
    let opening = opening.into();
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (events, event_rx) = mpsc::channel(64);
    let (done, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        run(aws, opening, config, size, command_rx, events).await;
        let _ = done.send(());
    });
    (TerminalHandle { commands }, event_rx, TerminalDone(done_rx))
}

async fn run(
    aws: Aws,
    opening: Opening,
    config: DriverConfig,
    size: Option<TerminalSize>,
    mut commands: mpsc::UnboundedReceiver<TerminalCommand>,
    events: mpsc::Sender<TerminalEvent>,
) {
    let state = |s: TerminalState| events.send(TerminalEvent::State(s));
    let request = match opening {
        Opening::Start(request) => request,
        Opening::Opened { session, ready } => {
            let mut terminal = Terminal::new(session, events.clone());
            terminal.ready = Some(ready);
            let _ = state(terminal.connected()).await;
            let ending = terminal.serve(size, Vec::new(), &mut commands).await;
            let _ = state(ending).await;
            return;
        }
    };
    let _ = state(TerminalState::Connecting(Stage::StartingSession)).await;
    let opening = async {
        let endpoint = aws.start_session(&request).await?;
        let _ = state(TerminalState::Connecting(Stage::OpeningDataChannel)).await;
        aws.join(endpoint, config).await
    };
    // The user may close the tab while the session starts; what they type meanwhile (a
    // script's input, piped in at once) is kept for the session.
    let mut early = Vec::new();
    let session = tokio::select! {
        opened = opening => opened,
        () = closed(&mut commands, &mut early) => {
            let _ = state(ended("closed".into(), None, true, false)).await;
            return;
        }
    };
    let session = match session {
        Ok(session) => session,
        Err(error) => {
            let _ = state(ended(error.to_string(), None, false, true)).await;
            return;
        }
    };
    let _ = state(TerminalState::Connecting(Stage::WaitingForAgent)).await;
    let ending = Terminal::new(session, events.clone()).serve(size, early, &mut commands).await;
    let _ = events.send(TerminalEvent::State(ending)).await;
}

/// Waits for Close (or the handle's drop); keeps input and resizes in `early`, in order.
async fn closed(
    commands: &mut mpsc::UnboundedReceiver<TerminalCommand>,
    early: &mut Vec<TerminalCommand>,
) {
    while let Some(command) = commands.recv().await {
        match command {
            TerminalCommand::Close => return,
            TerminalCommand::Ack(_) => {}
            input_or_resize => early.push(input_or_resize),
        }
    }
}

fn ended(reason: String, exit_code: Option<i32>, by_user: bool, failed: bool) -> TerminalState {
    TerminalState::Ended { reason, exit_code, by_user, failed }
}

/// What goes from the session to the screen, and when: output is held for at most
/// [`BATCH_WINDOW`] or until [`BATCH_BYTES`] have gathered, and no more is taken from the
/// session while [`HIGH_WATER`] bytes are on their way to the screen unacknowledged. Pure:
/// time is an argument.
#[derive(Debug, Default)]
struct OutputBatch {
    /// Output not yet sent on, and since when.
    pending: Vec<u8>,
    since: Option<Instant>,
    /// Output sent on and not yet acknowledged by the screen.
    unacked: usize,
}

impl OutputBatch {
    fn push(&mut self, now: Instant, bytes: Vec<u8>) {
        if self.pending.is_empty() {
            self.since = Some(now);
            self.pending = bytes;
        } else {
            self.pending.extend_from_slice(&bytes);
        }
    }

    /// Whether more output may be taken from the session.
    fn can_take(&self) -> bool {
        self.unacked < HIGH_WATER && self.pending.len() < BATCH_BYTES
    }

    /// When the pending output must go.
    fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| since + BATCH_WINDOW)
    }

    /// The batch to send now, if one is due.
    fn poll_batch(&mut self, now: Instant) -> Option<Vec<u8>> {
        let due = self.pending.len() >= BATCH_BYTES || self.deadline().is_some_and(|d| now >= d);
        if due {
            self.take()
        } else {
            None
        }
    }

    /// Everything pending, due or not (before a state change, so the order holds).
    fn take(&mut self) -> Option<Vec<u8>> {
        self.since = None;
        if self.pending.is_empty() {
            return None;
        }
        let batch = std::mem::take(&mut self.pending);
        self.unacked += batch.len();
        Some(batch)
    }

    /// `bytes` went to the screen outside a batch (standard error).
    fn sent(&mut self, bytes: usize) {
        self.unacked += bytes;
    }

    fn ack(&mut self, bytes: usize) {
        self.unacked = self.unacked.saturating_sub(bytes);
    }
}

struct Terminal {
    session: OpenSession,
    events: mpsc::Sender<TerminalEvent>,
    output: OutputBatch,
    exit_code: Option<i32>,
    /// What the session said of itself when it became ready, repeated after reconnects.
    ready: Option<crate::datachannel::Ready>,
}

impl Terminal {
    fn new(session: OpenSession, events: mpsc::Sender<TerminalEvent>) -> Self {
        Terminal { session, events, output: OutputBatch::default(), exit_code: None, ready: None }
    }

    fn connected(&self) -> TerminalState {
        TerminalState::Connected {
            session_id: self.session.session_id.clone(),
            encrypted_with: self.ready.as_ref().and_then(|r| r.encrypted_with.clone()),
            message: self
                .ready
                .as_ref()
                .map(|r| r.customer_message.trim().to_owned())
                .filter(|m| !m.is_empty()),
        }
    }

    async fn serve(
        mut self,
        size: Option<TerminalSize>,
        early: Vec<TerminalCommand>,
        commands: &mut mpsc::UnboundedReceiver<TerminalCommand>,
    ) -> TerminalState {
        let driver = self.session.channel.commands.clone();
        if let Some(size) = size {
            let _ = driver.send(Command::Resize(size)).await;
        }
        // The session holds input until it is ready, so nothing typed early is lost.
        for command in early {
            let command = match command {
                TerminalCommand::Input(bytes) => Command::Data(bytes),
                TerminalCommand::Resize(size) => Command::Resize(size),
                TerminalCommand::Ack(_) | TerminalCommand::Close => continue,
            };
            let _ = driver.send(command).await;
        }
        loop {
            let flush_at = self.output.deadline();
            let can_take = self.output.can_take();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(TerminalCommand::Input(bytes)) => {
                        if driver.send(Command::Data(bytes)).await.is_err() {
                            return self.finish_with(Ending::LinkLost("the session's task stopped".into())).await;
                        }
                    }
                    Some(TerminalCommand::Resize(size)) => {
                        let _ = driver.send(Command::Resize(size)).await;
                    }
                    Some(TerminalCommand::Ack(bytes)) => self.output.ack(bytes),
                    Some(TerminalCommand::Close) | None => {
                        self.flush().await;
                        let session_id = self.session.session_id.clone();
                        let _ = self.session.terminate().await;
                        return ended(format!("closed (session {session_id} terminated)"), self.exit_code, true, false);
                    }
                },
                notice = self.session.channel.notices.recv(), if can_take => match notice {
                    Some(Notice::Data(bytes)) => self.output.push(Instant::now(), bytes),
                    Some(Notice::Stderr(bytes)) => {
                        self.flush().await;
                        self.output.sent(bytes.len());
                        let _ = self.events.send(TerminalEvent::Stderr(bytes)).await;
                    }
                    Some(Notice::Ready(ready)) => {
                        self.flush().await;
                        self.ready = Some(ready);
                        let _ = self.events.send(TerminalEvent::State(self.connected())).await;
                    }
                    Some(Notice::Reconnected) => {
                        self.flush().await;
                        let _ = self.events.send(TerminalEvent::State(self.connected())).await;
                    }
                    Some(Notice::Exit(code)) => self.exit_code = Some(code),
                    Some(Notice::Reconnecting { attempt, delay, reason }) => {
                        self.flush().await;
                        let _ = self.events.send(TerminalEvent::State(TerminalState::Reconnecting { attempt, delay, reason })).await;
                    }
                    Some(Notice::Flag(_) | Notice::PortDisconnected) => {}
                    Some(Notice::Ended(ending)) => return self.finish_with(ending).await,
                    None => return self.finish_with(Ending::LinkLost("the session's task stopped".into())).await,
                },
                // A branch whose guard is false is never polled: no batch, no timer.
                () = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now).into()), if flush_at.is_some() => {}
            }
            if let Some(batch) = self.output.poll_batch(Instant::now()) {
                let _ = self.events.send(TerminalEvent::Output(batch)).await;
            }
        }
    }

    /// Sends every pending byte on, so nothing is overtaken by what follows.
    async fn flush(&mut self) {
        if let Some(batch) = self.output.take() {
            let _ = self.events.send(TerminalEvent::Output(batch)).await;
        }
    }

    async fn finish_with(&mut self, ending: Ending) -> TerminalState {
        self.flush().await;
        match ending {
            Ending::Closed { output } => {
                let reason =
                    if output.is_empty() { "the session ended".to_owned() } else { output };
                ended(reason, self.exit_code, false, false)
            }
            Ending::ClosedByUser => ended("closed".into(), self.exit_code, true, false),
            other => {
                // The service may still hold the session: end it there too.
                let _ = self.session.aws().terminate_session(&self.session.session_id).await;
                ended(other.to_string(), self.exit_code, false, true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::datachannel::SessionChannel;

    #[test]
    fn output_waits_at_most_one_window_or_one_batch() {
        let t0 = Instant::now();
        let mut batch = OutputBatch::default();
        assert_eq!(batch.poll_batch(t0), None);
        for i in 0..100u8 {
            batch.push(t0 + Duration::from_millis(u64::from(i) / 10), vec![i; 100]);
        }
        assert_eq!(
            batch.poll_batch(t0 + BATCH_WINDOW - Duration::from_millis(1)),
            None,
            "held inside the window"
        );
        let sent = batch
            .poll_batch(t0 + BATCH_WINDOW)
            .expect("due at the window's end, counted from the first byte");
        assert_eq!(
            sent,
            (0..100u8).flat_map(|i| vec![i; 100]).collect::<Vec<_>>(),
            "one batch, in order"
        );
        batch.push(t0, vec![7; BATCH_BYTES]);
        assert!(!batch.can_take(), "a full batch takes no more");
        assert_eq!(
            batch.poll_batch(t0).map(|b| b.len()),
            Some(BATCH_BYTES),
            "a full batch goes at once"
        );
    }

    #[test]
    fn a_flood_stops_at_the_high_water_mark_until_the_screen_catches_up() {
        let t0 = Instant::now();
        let mut batch = OutputBatch::default();
        let mut sent = 0;
        while batch.can_take() {
            batch.push(t0, vec![0; 16 * 1024]);
            if let Some(b) = batch.poll_batch(t0) {
                sent += b.len();
            }
        }
        assert!((HIGH_WATER - BATCH_BYTES..=HIGH_WATER + BATCH_BYTES).contains(&sent), "{sent}");
        batch.ack(sent / 2);
        assert!(batch.can_take(), "acknowledging makes room");
        batch.ack(usize::MAX);
        assert_eq!(batch.unacked, 0, "over-acknowledging cannot go below zero");
    }

    /// A terminal over a hand-driven session channel: the test plays the driver.
    struct Rig {
        handle: TerminalHandle,
        events: mpsc::Receiver<TerminalEvent>,
        notices: mpsc::Sender<Notice>,
        driver: mpsc::Receiver<Command>,
    }

    fn rig() -> Rig {
        // Nothing listens on port 9: TerminateSession fails at once and is ignored, as a
        // terminal does when the service cannot be reached.
        let authority = ssm_emulator::tls::Authority::generate([127, 0, 0, 1].into(), &[]).unwrap();
        let far_side = crate::aws::DirectEndpoint::new(
            "https://127.0.0.1:9".into(),
            "us-east-1",
            ("AKIDTERMINALTEST", "secret"),
            Some(authority.ca_pem()),
        );
        let aws = Aws::direct(&far_side).unwrap();
        let (commands, driver) = mpsc::channel(64);
        let (notices, notice_rx) = mpsc::channel(256);
        let channel = SessionChannel { commands, notices: notice_rx, figures: Arc::default() };
        let session = OpenSession { session_id: "demo-0123".into(), channel, aws };
        let (command_tx, mut command_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::channel(64);
        tokio::spawn(async move {
            let ending = Terminal::new(session, events_tx.clone())
                .serve(Some(TerminalSize { cols: 80, rows: 24 }), Vec::new(), &mut command_rx)
                .await;
            let _ = events_tx.send(TerminalEvent::State(ending)).await;
        });
        Rig { handle: TerminalHandle { commands: command_tx }, events, notices, driver }
    }

    #[tokio::test]
    async fn keystrokes_pass_while_output_is_held() {
        let mut rig = rig();
        let feeder = {
            let notices = rig.notices.clone();
            tokio::spawn(async move {
                for _ in 0..40 {
                    if notices.send(Notice::Data(vec![1; 64 * 1024])).await.is_err() {
                        return;
                    }
                }
            })
        };
        let mut received = 0;
        while received < HIGH_WATER {
            if let Some(TerminalEvent::Output(bytes)) = rig.events.recv().await {
                received += bytes.len();
            }
        }
        assert!(
            matches!(rig.driver.recv().await, Some(Command::Resize(_))),
            "the screen size goes first"
        );
        rig.handle.input(b"ls\r".to_vec());
        assert_eq!(
            rig.driver.recv().await,
            Some(Command::Data(b"ls\r".to_vec())),
            "nothing acknowledged, yet keystrokes pass"
        );
        rig.handle.ack(usize::MAX);
        while received < 40 * 64 * 1024 {
            if let Some(TerminalEvent::Output(bytes)) = rig.events.recv().await {
                rig.handle.ack(bytes.len());
                received += bytes.len();
            }
        }
        assert_eq!(received, 40 * 64 * 1024, "every byte arrives exactly once");
        feeder.await.unwrap();
    }

    #[tokio::test]
    async fn the_end_says_why_and_keeps_the_exit_code() {
        let mut rig = rig();
        rig.notices.send(Notice::Data(b"bye\n".to_vec())).await.unwrap();
        rig.notices.send(Notice::Exit(3)).await.unwrap();
        rig.notices.send(Notice::Ended(Ending::Closed { output: String::new() })).await.unwrap();
        let mut events = Vec::new();
        while let Some(event) = rig.events.recv().await {
            let last = matches!(event, TerminalEvent::State(TerminalState::Ended { .. }));
            events.push(event);
            if last {
                break;
            }
        }
        assert_eq!(
            events,
            vec![
                TerminalEvent::Output(b"bye\n".to_vec()),
                TerminalEvent::State(TerminalState::Ended {
                    reason: "the session ended".into(),
                    exit_code: Some(3),
                    by_user: false,
                    failed: false
                }),
            ],
            "the last output is flushed before the end"
        );
    }

    #[tokio::test]
    async fn closing_terminates_and_reports_a_user_close() {
        let mut rig = rig();
        rig.handle.close();
        let Some(TerminalEvent::State(TerminalState::Ended { by_user, .. })) =
            rig.events.recv().await
        else {
            panic!("no end")
        };
        assert!(by_user);
        assert_eq!(rig.driver.recv().await.map(|c| matches!(c, Command::Resize(_))), Some(true));
        assert_eq!(
            rig.driver.recv().await,
            Some(Command::Close),
            "the data channel is closed after TerminateSession"
        );
    }
}
