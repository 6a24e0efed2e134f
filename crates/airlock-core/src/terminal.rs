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
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::aws::{Aws, StartRequest};
use crate::datachannel::{Command, DriverConfig, Ending, Notice};
use crate::session::OpenSession;

/// The longest output waits before it is sent on (about one frame at 60 Hz).
pub const BATCH_WINDOW: Duration = Duration::from_millis(16);

/// The most output sent in one event.
pub const BATCH_BYTES: usize = 64 * 1024;

/// Unacknowledged output above which the task stops reading the session.
pub const HIGH_WATER: usize = 1024 * 1024;

/// Where a starting session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    },
}

/// What a terminal's task reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    /// The state changed.
    State(TerminalState),
    /// Output for the screen, batched.
    Output(Vec<u8>),
}

#[derive(Debug)]
enum TerminalCommand {
    Input(Vec<u8>),
    Resize(TerminalSize),
    Ack(usize),
    Close,
}

/// The front end's end of a terminal. Dropping it closes the session.
#[derive(Debug, Clone)]
pub struct TerminalHandle {
    commands: mpsc::UnboundedSender<TerminalCommand>,
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

/// Starts a terminal: a task that opens `request` and runs it until it ends. `size` is sent
/// first, so the shell starts at the screen's size.
pub fn open_terminal(aws: Aws, request: StartRequest, config: DriverConfig, size: TerminalSize) -> (TerminalHandle, mpsc::Receiver<TerminalEvent>) {
    let (commands, command_rx) = mpsc::unbounded_channel();
    let (events, event_rx) = mpsc::channel(64);
    tokio::spawn(run(aws, request, config, size, command_rx, events));
    (TerminalHandle { commands }, event_rx)
}

async fn run(aws: Aws, request: StartRequest, config: DriverConfig, size: TerminalSize, mut commands: mpsc::UnboundedReceiver<TerminalCommand>, events: mpsc::Sender<TerminalEvent>) {
    let state = |s: TerminalState| events.send(TerminalEvent::State(s));
    let _ = state(TerminalState::Connecting(Stage::StartingSession)).await;
    let opening = async {
        let endpoint = aws.start_session(&request).await?;
        let _ = state(TerminalState::Connecting(Stage::OpeningDataChannel)).await;
        aws.join(endpoint, config).await
    };
    // The user may close the tab while the session starts.
    let session = tokio::select! {
        opened = opening => opened,
        () = closed(&mut commands) => {
            let _ = state(ended("closed".into(), None, true)).await;
            return;
        }
    };
    let session = match session {
        Ok(session) => session,
        Err(error) => {
            let _ = state(ended(error.to_string(), None, false)).await;
            return;
        }
    };
    let _ = state(TerminalState::Connecting(Stage::WaitingForAgent)).await;
    let ending = Terminal::new(session, events.clone()).serve(size, &mut commands).await;
    let _ = events.send(TerminalEvent::State(ending)).await;
}

/// Waits for Close (or the handle's drop), ignoring everything else.
async fn closed(commands: &mut mpsc::UnboundedReceiver<TerminalCommand>) {
    while let Some(command) = commands.recv().await {
        if matches!(command, TerminalCommand::Close) {
            return;
        }
    }
}

fn ended(reason: String, exit_code: Option<i32>, by_user: bool) -> TerminalState {
    TerminalState::Ended { reason, exit_code, by_user }
}

struct Terminal {
    session: OpenSession,
    events: mpsc::Sender<TerminalEvent>,
    /// Output not yet sent on, and since when.
    pending: Vec<u8>,
    pending_since: Option<Instant>,
    /// Output sent on and not yet acknowledged by the screen.
    unacked: usize,
    exit_code: Option<i32>,
}

impl Terminal {
    fn new(session: OpenSession, events: mpsc::Sender<TerminalEvent>) -> Self {
        Terminal { session, events, pending: Vec::new(), pending_since: None, unacked: 0, exit_code: None }
    }

    async fn serve(mut self, size: TerminalSize, commands: &mut mpsc::UnboundedReceiver<TerminalCommand>) -> TerminalState {
        let driver = self.session.channel.commands.clone();
        let _ = driver.send(Command::Resize(size)).await;
        let ending = loop {
            let flush_at = self.pending_since.map(|since| since + BATCH_WINDOW);
            let can_read = self.unacked < HIGH_WATER && self.pending.len() < BATCH_BYTES;
            tokio::select! {
                command = commands.recv() => match command {
                    Some(TerminalCommand::Input(bytes)) => {
                        if driver.send(Command::Data(bytes)).await.is_err() {
                            break self.finish_with(Ending::LinkLost("the session's task stopped".into())).await;
                        }
                    }
                    Some(TerminalCommand::Resize(size)) => {
                        let _ = driver.send(Command::Resize(size)).await;
                    }
                    Some(TerminalCommand::Ack(bytes)) => self.unacked = self.unacked.saturating_sub(bytes),
                    Some(TerminalCommand::Close) | None => {
                        self.flush().await;
                        let session_id = self.session.session_id.clone();
                        let _ = self.session.terminate().await;
                        break ended(format!("closed (session {session_id} terminated)"), self.exit_code, true);
                    }
                },
                notice = self.session.channel.notices.recv(), if can_read => match notice {
                    Some(Notice::Data(bytes) | Notice::Stderr(bytes)) => self.add_output(bytes),
                    Some(Notice::Ready(_)) => {
                        let connected = TerminalState::Connected { session_id: self.session.session_id.clone() };
                        let _ = self.events.send(TerminalEvent::State(connected)).await;
                    }
                    Some(Notice::Exit(code)) => self.exit_code = Some(code),
                    Some(Notice::Reconnecting { attempt, delay, reason }) => {
                        self.flush().await;
                        let _ = self.events.send(TerminalEvent::State(TerminalState::Reconnecting { attempt, delay, reason })).await;
                    }
                    Some(Notice::Reconnected) => {
                        let connected = TerminalState::Connected { session_id: self.session.session_id.clone() };
                        let _ = self.events.send(TerminalEvent::State(connected)).await;
                    }
                    Some(Notice::Flag(_)) => {}
                    Some(Notice::Ended(ending)) => break self.finish_with(ending).await,
                    None => break self.finish_with(Ending::LinkLost("the session's task stopped".into())).await,
                },
                () = sleep_until(flush_at) => self.flush().await,
            }
            if self.pending.len() >= BATCH_BYTES {
                self.flush().await;
            }
        };
        ending
    }

    fn add_output(&mut self, bytes: Vec<u8>) {
        if self.pending.is_empty() {
            self.pending_since = Some(Instant::now());
            self.pending = bytes;
        } else {
            self.pending.extend_from_slice(&bytes);
        }
    }

    async fn flush(&mut self) {
        self.pending_since = None;
        if self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        self.unacked += batch.len();
        let _ = self.events.send(TerminalEvent::Output(batch)).await;
    }

    async fn finish_with(&mut self, ending: Ending) -> TerminalState {
        self.flush().await;
        match ending {
            Ending::Closed { output } => {
                let reason = if output.is_empty() { "the session ended".to_owned() } else { output };
                ended(reason, self.exit_code, false)
            }
            Ending::ClosedByUser => ended("closed".into(), self.exit_code, true),
            other => {
                // The service may still hold the session: end it there too.
                let _ = self.session.aws().terminate_session(&self.session.session_id).await;
                ended(other.to_string(), self.exit_code, false)
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::datachannel::SessionChannel;

    /// A terminal over a hand-driven session channel: the test plays the driver.
    struct Rig {
        handle: TerminalHandle,
        events: mpsc::Receiver<TerminalEvent>,
        notices: mpsc::Sender<Notice>,
        driver: mpsc::Receiver<Command>,
    }

    fn rig() -> Rig {
        // Nothing listens on port 9: TerminateSession fails quickly and is ignored, as a
        // terminal does when the service cannot be reached.
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let aws = Aws::from_config(&config, None).unwrap();
        let (commands, driver) = mpsc::channel(64);
        let (notices, notice_rx) = mpsc::channel(256);
        let channel = SessionChannel { commands, notices: notice_rx, figures: Arc::default() };
        let session = OpenSession { session_id: "demo-0123".into(), channel, aws };
        let (command_tx, mut command_rx) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::channel(64);
        tokio::spawn(async move {
            let ending = Terminal::new(session, events_tx.clone()).serve(TerminalSize { cols: 80, rows: 24 }, &mut command_rx).await;
            let _ = events_tx.send(TerminalEvent::State(ending)).await;
        });
        Rig { handle: TerminalHandle { commands: command_tx }, events, notices, driver }
    }

    /// Lets every task run until all wait (virtual time moves on only then).
    async fn settle() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    fn drain_output(events: &mut mpsc::Receiver<TerminalEvent>) -> Vec<Vec<u8>> {
        let mut batches = Vec::new();
        while let Ok(event) = events.try_recv() {
            if let TerminalEvent::Output(bytes) = event {
                batches.push(bytes);
            }
        }
        batches
    }

    #[tokio::test(start_paused = true)]
    async fn output_arriving_together_leaves_as_one_batch() {
        let mut rig = rig();
        for i in 0..100u8 {
            rig.notices.send(Notice::Data(vec![i; 100])).await.unwrap();
        }
        settle().await;
        let batches = drain_output(&mut rig.events);
        assert_eq!(batches.len(), 1, "a hundred small messages make one screen update");
        let expected: Vec<u8> = (0..100u8).flat_map(|i| vec![i; 100]).collect();
        assert_eq!(batches[0], expected, "in order, nothing lost");
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_waits_for_the_screen_and_keystrokes_do_not() {
        let mut rig = rig();
        let chunk = 64 * 1024;
        let chunks = 40; // 2.5 MiB, more than twice the high-water mark
        let feeder = {
            let notices = rig.notices.clone();
            tokio::spawn(async move {
                for i in 0..chunks {
                    notices.send(Notice::Data(vec![i as u8; chunk])).await.unwrap();
                }
            })
        };
        settle().await;
        let held: usize = drain_output(&mut rig.events).iter().map(Vec::len).sum();
        assert!(held >= HIGH_WATER, "output flows up to the high-water mark ({held} bytes)");
        assert!(held < HIGH_WATER + BATCH_BYTES, "and stops there while nothing is acknowledged ({held} bytes)");

        rig.handle.input(b"ls\r".to_vec());
        settle().await;
        let resize = rig.driver.try_recv().unwrap();
        assert!(matches!(resize, Command::Resize(_)), "the screen size goes first: {resize:?}");
        assert_eq!(rig.driver.try_recv().unwrap(), Command::Data(b"ls\r".to_vec()), "keystrokes pass while output is held");

        let mut received = held;
        while received < chunk * chunks {
            rig.handle.ack(received);
            settle().await;
            let more: usize = drain_output(&mut rig.events).iter().map(Vec::len).sum();
            assert!(more > 0, "acknowledging lets output flow again");
            assert!(more < HIGH_WATER + BATCH_BYTES);
            received += more;
        }
        assert_eq!(received, chunk * chunks, "every byte arrives exactly once");
        feeder.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_says_why_and_keeps_the_exit_code() {
        let mut rig = rig();
        rig.notices.send(Notice::Data(b"bye\n".to_vec())).await.unwrap();
        rig.notices.send(Notice::Exit(3)).await.unwrap();
        rig.notices.send(Notice::Ended(Ending::Closed { output: String::new() })).await.unwrap();
        settle().await;
        let mut events = Vec::new();
        while let Ok(event) = rig.events.try_recv() {
            events.push(event);
        }
        assert_eq!(
            events,
            vec![
                TerminalEvent::Output(b"bye\n".to_vec()),
                TerminalEvent::State(TerminalState::Ended { reason: "the session ended".into(), exit_code: Some(3), by_user: false }),
            ],
            "the last output is flushed before the end"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn closing_terminates_and_reports_a_user_close() {
        let mut rig = rig();
        rig.handle.close();
        settle().await;
        let Some(TerminalEvent::State(TerminalState::Ended { by_user, .. })) = rig.events.recv().await else { panic!("no end") };
        assert!(by_user);
        assert_eq!(rig.driver.recv().await.map(|c| matches!(c, Command::Resize(_))), Some(true));
        assert_eq!(rig.driver.recv().await, Some(Command::Close), "the data channel is closed after TerminateSession");
    }
}
