//! The session's task: a select loop over the socket, the owner's commands, the session's
//! timer and the KMS call, feeding each into `ssm_protocol::ClientSession` and carrying out
//! what it asks (frames to send, notices to hand on, a data key to fetch). It decides nothing
//! about the protocol; it owns the I/O: the heartbeat, the dead-link deadline, reconnecting.
//!
//! The loop never waits on anything but its select: frames and pings go to the socket's
//! writer task through a short queue ([`Link`]), so a far side that stops reading is noticed
//! by the dead-link deadline even while this end has data to send, and notices go to a bounded
//! backlog, so a busy owner (a window behind, a stalled tunnel) never holds up a reconnect.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use ssm_protocol::kms::DataKey;
use ssm_protocol::{ClientConfig, ClientSession, SessionEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::{dial, Command, DriverConfig, Ending, Endpoint, LinkFigures, Notice, Resume};
use crate::network::Socket;

/// Messages queued for the socket's writer before the loop stops taking frames from the session.
const WRITE_QUEUE: usize = 32;
/// How long the end of a session waits for its last frames and the close to be written.
const CLOSING_WRITES: Duration = Duration::from_secs(5);

/// One socket: its reading half, read by the loop, and its writing half, owned by a task that
/// takes messages from a queue. A write that blocks (the far side stopped reading) blocks only
/// that task.
struct Link {
    reader: SplitStream<Socket>,
    queue: mpsc::Sender<Message>,
    /// A message the queue had no room for; it goes first once there is.
    waiting: Option<Message>,
    /// The writer ends with the reason writing failed.
    writer: JoinHandle<String>,
    /// Set once writing failed; the socket is then only read, to its end.
    write_error: Option<String>,
}

impl Link {
    fn new(socket: Socket) -> Link {
        let (sink, reader) = socket.split();
        let (queue, messages) = mpsc::channel(WRITE_QUEUE);
        Link {
            reader,
            queue,
            waiting: None,
            writer: tokio::spawn(write(sink, messages)),
            write_error: None,
        }
    }

    /// Moves the session's frames into the queue as far as it has room.
    fn offer(&mut self, session: &mut ClientSession) {
        loop {
            let Some(message) =
                self.waiting.take().or_else(|| session.poll_transmit().map(Message::binary))
            else {
                return;
            };
            if self.write_error.is_some() {
                // Lost with the socket; the unacknowledged ones are resent on the next.
                continue;
            }
            match self.queue.try_send(message) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(message)) => {
                    self.waiting = Some(message);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }

    /// Writes what is left and closes the socket, for at most [`CLOSING_WRITES`].
    async fn finish(mut self, session: &mut ClientSession) {
        // The link's own sender goes with `queue`, so the writer sees the queue close.
        let queue = std::mem::replace(&mut self.queue, mpsc::channel(1).0);
        let last: Vec<Message> = self
            .waiting
            .take()
            .into_iter()
            .chain(std::iter::from_fn(|| session.poll_transmit().map(Message::binary)))
            .collect();
        let closing = async move {
            for message in last {
                if queue.send(message).await.is_err() {
                    break;
                }
            }
            drop(queue);
            let _ = (&mut self.writer).await;
        };
        if tokio::time::timeout(CLOSING_WRITES, closing).await.is_err() {
            tracing::debug!("the far side did not take the session's last frames in time");
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.writer.abort();
    }
}

/// The writer task: feeds what comes, flushes when nothing more is waiting; closes the socket
/// when the queue closes.
async fn write(
    mut sink: SplitSink<Socket, Message>,
    mut messages: mpsc::Receiver<Message>,
) -> String {
    while let Some(message) = messages.recv().await {
        let mut next = Some(message);
        while let Some(message) = next {
            if let Err(e) = sink.feed(message).await {
                return e.to_string();
            }
            next = messages.try_recv().ok();
        }
        if let Err(e) = sink.flush().await {
            return e.to_string();
        }
    }
    let _ = sink.close().await;
    "the socket was closed".to_owned()
}

/// Notices held for an owner that is behind; past it the session stops taking the agent's
/// messages (they stay unacknowledged in the channel), which is the backpressure on the agent.
const NOTICE_BACKLOG: usize = 64;

pub(super) struct Driver {
    session: ClientSession,
    endpoint: Endpoint,
    resume: Box<dyn Resume>,
    config: DriverConfig,
    notices: mpsc::Sender<Notice>,
    backlog: VecDeque<Notice>,
    /// The KMS call under way, for an encrypted session's handshake.
    data_key: Option<JoinHandle<Result<DataKey, String>>>,
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
    pub(super) fn new(
        endpoint: Endpoint,
        resume: Box<dyn Resume>,
        config: DriverConfig,
        notices: mpsc::Sender<Notice>,
        figures: Arc<LinkFigures>,
    ) -> Self {
        let now = Instant::now();
        let mut session_config = ClientConfig::new(
            endpoint.session_id.clone(),
            endpoint.target.clone(),
            config.channel.id_seed,
            rand::random(),
        );
        session_config.channel = config.channel.clone();
        session_config.client_version = config.client_version.clone();
        session_config.message_rate = config.message_rate;
        Driver {
            session: ClientSession::new(session_config, now, SystemTime::now()),
            endpoint,
            resume,
            config,
            notices,
            backlog: VecDeque::new(),
            data_key: None,
            last_heard: now,
            unproven_reconnects: 0,
            figures,
        }
    }

    pub(super) async fn run(mut self, socket: Socket, mut commands: mpsc::Receiver<Command>) {
        let mut link = Link::new(socket);
        let ending = loop {
            match self.serve(&mut link, &mut commands).await {
                Step::End(ending) => {
                    // What the session still has to say (a failed handshake answer, say) goes
                    // before the socket closes.
                    link.finish(&mut self.session).await;
                    break ending;
                }
                Step::LinkLost(reason) => {
                    drop(link);
                    self.session.handle_link_down();
                    // A close held for missing output ends here: nothing more can arrive.
                    if let Some(ending) = self.take_events(Instant::now()) {
                        break ending;
                    }
                    match self.reconnect(reason).await {
                        Ok(new_socket) => {
                            link = Link::new(new_socket);
                            self.last_heard = Instant::now();
                            self.session.handle_link_up(Instant::now());
                            self.figures.reconnects.fetch_add(1, Ordering::Relaxed);
                            self.push(Notice::Reconnected);
                        }
                        Err(ending) => break ending,
                    }
                }
            }
        };
        if let Some(call) = self.data_key.take() {
            call.abort();
        }
        self.push(Notice::Ended(ending));
        while let Some(notice) = self.backlog.pop_front() {
            if self.notices.send(notice).await.is_err() {
                break;
            }
        }
    }

    /// Runs the session on one socket until it ends or the link is lost.
    async fn serve(&mut self, link: &mut Link, commands: &mut mpsc::Receiver<Command>) -> Step {
        let mut ping = tokio::time::interval(self.config.heartbeat);
        let mut warned_rejected = false;
        loop {
            let now = Instant::now();
            if let Some(ending) = self.take_events(now) {
                return Step::End(ending);
            }
            let channel = self.session.channel();
            self.figures.rtt_micros.store(channel.rtt().as_micros() as u64, Ordering::Relaxed);
            self.figures.messages_resent.store(channel.stats().messages_resent, Ordering::Relaxed);
            // Frames out, as far as the writer's queue has room. Those lost to a failed write
            // stay in the window and are resent on the next socket.
            link.offer(&mut self.session);
            let now = Instant::now();
            let dead_at = self.last_heard + self.config.dead_after;
            let wake = self.session.poll_timeout(now).map_or(dead_at, |t| t.min(dead_at));
            let can_take_command = self.session.wants_input();
            let has_backlog = !self.backlog.is_empty();
            let notices = self.notices.clone();
            let queue = link.queue.clone();
            let writing = link.write_error.is_none();
            tokio::select! {
                message = link.reader.next() => match message {
                    Some(Ok(Message::Binary(bytes))) => {
                        self.last_heard = Instant::now();
                        self.unproven_reconnects = 0;
                        // A malformed or oversized frame is dropped; an agent resends it.
                        if let Err(error) = self.session.handle_frame(self.last_heard, &bytes) {
                            if !warned_rejected {
                                warned_rejected = true;
                                tracing::warn!(%error, "dropped a frame from the service (further ones are counted, not logged)");
                            }
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let reason = frame.map_or_else(|| "the service closed the socket".to_owned(), |f| format!("the service closed the socket ({}: {})", u16::from(f.code), f.reason));
                        return Step::LinkLost(reason);
                    }
                    Some(Ok(_)) => self.last_heard = Instant::now(),
                    Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(error))) => {
                        // Refused before it was buffered; another socket would bring the same.
                        self.session.close();
                        return Step::End(Ending::Protocol(format!("it sent a WebSocket message beyond Airlock's limit of {} bytes: {error}", crate::network::dial::MAX_WEBSOCKET_MESSAGE)));
                    }
                    Some(Err(e)) => return Step::LinkLost(link.write_error.clone().unwrap_or_else(|| e.to_string())),
                    None => return Step::LinkLost(link.write_error.clone().unwrap_or_else(|| "the socket closed".into())),
                },
                permit = queue.reserve(), if writing && link.waiting.is_some() => {
                    if let (Ok(permit), Some(message)) = (permit, link.waiting.take()) {
                        permit.send(message);
                    }
                }
                reason = &mut link.writer, if writing => {
                    // The socket is now only read to its end: the service may have closed it
                    // right after a channel_closed that is still waiting to be read.
                    link.write_error = Some(reason.unwrap_or_else(|e| format!("the socket's writer stopped: {e}")));
                }
                command = commands.recv(), if can_take_command => {
                    let now = Instant::now();
                    match command {
                        Some(Command::Data(bytes)) => self.session.send_input(now, &bytes),
                        Some(Command::Resize(size)) => self.session.send_size(now, size),
                        Some(Command::Flag(flag)) => self.session.send_flag(now, flag),
                        Some(Command::Close) | None => {
                            self.session.close();
                            return Step::End(Ending::ClosedByUser);
                        }
                    }
                }
                _ = ping.tick(), if writing => {
                    // A full queue means writes are stuck already; the deadline will tell.
                    let _ = link.queue.try_send(Message::Ping(b"keepalive".to_vec().into()));
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= dead_at {
                        return Step::LinkLost(format!("nothing heard from the service for {} s", self.config.dead_after.as_secs()));
                    }
                    self.session.handle_timeout(now);
                }
                key = wait_for(&mut self.data_key), if self.data_key.is_some() => {
                    self.data_key = None;
                    let now = Instant::now();
                    match key {
                        Ok(key) => self.session.handle_data_key(now, key),
                        Err(reason) => self.session.handle_data_key_failure(now, reason),
                    }
                }
                permit = notices.reserve(), if has_backlog => {
                    if let (Ok(permit), Some(notice)) = (permit, self.backlog.pop_front()) {
                        permit.send(notice);
                    } else {
                        // The owner dropped its receiver: nobody is listening any more.
                        self.session.close();
                        return Step::End(Ending::ClosedByUser);
                    }
                }
            }
        }
    }

    /// Hands the session's events on, as far as the notice queue has room.
    fn take_events(&mut self, now: Instant) -> Option<Ending> {
        while self.backlog.len() < NOTICE_BACKLOG {
            let notice = match self.session.poll_event(now)? {
                SessionEvent::DataKeyNeeded(request) => {
                    let keys = self.config.data_keys.clone();
                    self.data_key = Some(tokio::spawn(async move {
                        match keys {
                            Some(keys) => keys.generate(request).await.map_err(|e| e.to_string()),
                            None => Err("this client has no KMS access configured".to_owned()),
                        }
                    }));
                    continue;
                }
                SessionEvent::Ready(ready) => Notice::Ready(ready),
                SessionEvent::Output(bytes) => Notice::Data(bytes),
                SessionEvent::Stderr(bytes) => Notice::Stderr(bytes),
                SessionEvent::ExitCode(code) => Notice::Exit(code),
                SessionEvent::Flag(flag) => Notice::Flag(flag),
                SessionEvent::PortDisconnected => Notice::PortDisconnected,
                SessionEvent::Ended(end) => return Some(end.into()),
                _ => continue,
            };
            self.push(notice);
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
        delay = (delay * 2u32.pow(self.unproven_reconnects.min(6)))
            .min(self.config.reconnect_max_delay);
        let mut last_error = reason.clone();
        let first = self.unproven_reconnects + 1;
        for attempt in first..=self.config.reconnect_attempts {
            self.unproven_reconnects = attempt;
            self.push(Notice::Reconnecting { attempt, delay, reason: reason.clone() });
            // The owner takes notices meanwhile if it can; a busy one delays nothing.
            forwarding(&mut self.backlog, &self.notices, tokio::time::sleep(delay)).await;
            delay = (delay * 2).min(self.config.reconnect_max_delay);
            match forwarding(
                &mut self.backlog,
                &self.notices,
                self.resume.resume(&self.endpoint.session_id),
            )
            .await
            {
                Ok(Some(token)) => self.endpoint.token = token,
                Ok(None) => return Err(Ending::TimedOut),
                Err(e) => {
                    last_error = e;
                    continue;
                }
            }
            match forwarding(
                &mut self.backlog,
                &self.notices,
                dial::dial(&self.endpoint, &self.config),
            )
            .await
            {
                Ok(socket) => return Ok(socket),
                Err(e) => last_error = e.to_string(),
            }
        }
        Err(Ending::LinkLost(last_error))
    }
}

/// Runs `work` while handing the backlog's notices on as the owner takes them, without ever
/// waiting for the owner.
async fn forwarding<T>(
    backlog: &mut VecDeque<Notice>,
    notices: &mpsc::Sender<Notice>,
    work: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(work);
    loop {
        let has_backlog = !backlog.is_empty();
        tokio::select! {
            out = &mut work => return out,
            permit = notices.reserve(), if has_backlog => match (permit, backlog.pop_front()) {
                (Ok(permit), Some(notice)) => permit.send(notice),
                _ => backlog.clear(),
            },
        }
    }
}

/// The KMS call's result; a call that panicked or was cancelled counts as failed.
async fn wait_for(
    call: &mut Option<JoinHandle<Result<DataKey, String>>>,
) -> Result<DataKey, String> {
    match call {
        Some(handle) => handle.await.unwrap_or_else(|e| Err(format!("the KMS call stopped: {e}"))),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_link_is_noticed_within_a_minute_by_default() {
        let authority = ssm_emulator::tls::Authority::generate([127, 0, 0, 1].into(), &[]).unwrap();
        let trust = crate::network::TrustSettings::only(
            authority.ca_pem().as_bytes().to_vec(),
            "a test authority",
        );
        let network = crate::network::Network::new(&crate::network::NetworkSettings {
            trust,
            ..Default::default()
        })
        .unwrap();
        let config = DriverConfig::new(network);
        assert!(
            config.heartbeat < config.dead_after,
            "pings go out before silence counts as death"
        );
        assert!(
            config.dead_after <= Duration::from_secs(60),
            "the issue asks for detection within a minute"
        );
    }
}
