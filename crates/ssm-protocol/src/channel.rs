//! The data channel as one state machine, for either end: frames in, frames out, ordered
//! payloads and control events up.
//!
//! [`Channel`] owns the reliable-delivery state of one session (sequence numbers both ways, the
//! send window, resend timers, the reorder buffer, RTT) and the unsequenced control messages
//! (`acknowledge`, `channel_closed`, `start_publication`, `pause_publication`). It does not read
//! payloads beyond acknowledgements and `channel_closed`: the handshake (`handshake`), the smux
//! byte stream (`smux`) and terminal bytes are the caller's.
//!
//! # Driving it
//! Methods fall in four groups, as in quinn-proto:
//! - inputs: [`Channel::handle_frame`] for each binary WebSocket frame, [`Channel::handle_timeout`]
//!   when the deadline from `poll_timeout` passes, [`Channel::handle_link_down`] /
//!   [`Channel::handle_link_up`] around a reconnect;
//! - mutators: [`Channel::send`], [`Channel::send_stream`] and the control messages an agent or
//!   service sends;
//! - outputs, to call after any input or mutator, in this order: [`Channel::poll_transmit`] until
//!   `None` (send each as a binary frame), [`Channel::poll_timeout`] (arm one timer),
//!   [`Channel::poll_event`] until `None`;
//! - queries: `stats`, `send_room`, `is_closed`.
//!
//! `now` must never go backwards between calls. Spurious `handle_timeout` calls are harmless.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::codec::{
    ClientMessage, DecodeError, EncodeError, Flags, MessageId, MessageType, PayloadType, SeqNum,
};
use crate::payload::{Acknowledge, ChannelClosed, PayloadError, PortFlag, TerminalSize};
use crate::reliability::{Acked, Delivered, Receipt, ReorderBuffer, SendWindow};
use crate::rtt::{RttConfig, RttEstimator};

/// Which end of the data channel this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The user's side: sends `input_stream_data`, receives `output_stream_data`.
    Client,
    /// The node's side (and, in the emulator, the service in front of it): sends
    /// `output_stream_data`, receives `input_stream_data`.
    Agent,
}

impl Role {
    fn outgoing(self) -> MessageType {
        match self {
            Role::Client => MessageType::InputStreamData,
            Role::Agent => MessageType::OutputStreamData,
        }
    }

    fn incoming(self) -> MessageType {
        match self {
            Role::Client => MessageType::OutputStreamData,
            Role::Agent => MessageType::InputStreamData,
        }
    }
}

/// Tunables of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest payload [`Channel::send_stream`] puts in one message: 1024, as both official
    /// ends read and write (`StreamDataPayloadSize`).
    pub max_payload: usize,
    /// Messages that may be unacknowledged at once. When it is full, `send` refuses and the
    /// caller stops reading its source.
    pub send_window: usize,
    /// Messages kept that arrived ahead of a gap.
    pub reorder_capacity: usize,
    /// Payload bytes kept ahead of a gap; a far side flooding out-of-order messages costs at
    /// most this much (beyond it they are refused, unacknowledged, and come again later).
    pub reorder_bytes: usize,
    /// The largest payload accepted in a message from the peer. Both official ends send at
    /// most 1024 bytes of stream data and handshakes of a few kilobytes; a larger message is
    /// refused ([`ChannelError::TooLarge`]).
    pub max_incoming_payload: usize,
    /// How long after `channel_closed` the channel still waits for stream messages missing
    /// below ones it already has (resent after a loss), so that nothing the agent sent before
    /// closing is lost; without a gap the close is reported at once.
    pub close_grace: Duration,
    /// Payload bytes delivered but not yet taken with `poll_event`. Past it, new in-order
    /// messages are left unacknowledged so the peer keeps them and sends them again.
    pub receive_buffer: usize,
    /// RTT estimation constants.
    pub rtt: RttConfig,
    /// How long a message may stay unacknowledged while the link is up before the channel
    /// gives up (the plugin's 3000 resends of 100 ms, 5 minutes).
    pub delivery_timeout: Duration,
    /// Seed for message ids (any random value; ids need only be unique).
    pub id_seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_payload: 1024,
            send_window: 2048,
            reorder_capacity: 4096,
            reorder_bytes: 4 << 20,
            max_incoming_payload: 64 * 1024,
            close_grace: Duration::from_secs(1),
            receive_buffer: 4 << 20,
            rtt: RttConfig::default(),
            delivery_timeout: Duration::from_secs(300),
            id_seed: 0x5eed,
        }
    }
}

/// Something the application must learn about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The next stream message, in order and exactly once.
    Message(Delivered),
    /// The service closed the channel; the session is over.
    Closed(ChannelClosed),
    /// The service says the peer is away: no new data is sent until it returns.
    PublicationPaused,
    /// The service says the peer is back.
    PublicationStarted,
    /// The send window had been full and now has room: resume reading sources.
    Writable,
    /// A message stayed unacknowledged past the delivery timeout; the session is unusable.
    DeliveryTimedOut {
        /// The oldest message that was never acknowledged.
        sequence_number: SeqNum,
    },
}

/// Why an input or mutator failed. Inputs fail only for the frame at hand: the channel stays
/// usable and the frame is dropped (its sender will resend it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The frame's bytes are not a valid message.
    #[error("dropped a malformed frame: {0}")]
    Malformed(#[from] DecodeError),
    /// A control payload could not be read.
    #[error("dropped a message with a malformed payload: {0}")]
    BadPayload(#[from] PayloadError),
    /// A message whose payload is larger than `max_incoming_payload`.
    #[error("refused a message of {len} bytes from the peer; at most {max} are accepted")]
    TooLarge {
        /// Its payload's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A well-formed message that this end must never receive.
    #[error("protocol violation: {what}")]
    ProtocolViolation {
        /// What arrived.
        what: &'static str,
    },
    /// The window is full; try again after [`Event::Writable`].
    #[error("send window full")]
    WindowFull,
    /// The channel is closed; nothing more can be sent.
    #[error("the channel is closed")]
    Closed,
    /// The message cannot be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The call does not fit this role or state; a bug in the caller.
    #[error("API misuse: {what}")]
    ApiMisuse {
        /// What was wrong.
        what: &'static str,
    },
}

/// Counters for the live figures a user sees and the metrics the emulator reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Stream messages sent for the first time.
    pub messages_sent: u64,
    /// Stream messages sent again after a timeout or reconnect.
    pub messages_resent: u64,
    /// Payload bytes of stream messages sent for the first time.
    pub payload_bytes_sent: u64,
    /// Stream messages received and delivered.
    pub messages_delivered: u64,
    /// Payload bytes delivered.
    pub payload_bytes_delivered: u64,
    /// Stream messages received again after delivery or buffering.
    pub duplicates_received: u64,
    /// Stream messages refused for lack of room.
    pub messages_refused: u64,
    /// Acknowledgements sent.
    pub acks_sent: u64,
    /// Frames dropped because they did not decode or broke the protocol.
    pub frames_rejected: u64,
}

/// The data-channel state machine of one session. See the module documentation for the call
/// order.
#[derive(Debug)]
pub struct Channel {
    role: Role,
    config: Config,
    clock: WallClock,
    ids: IdSource,
    window: SendWindow,
    reorder: ReorderBuffer,
    rtt: RttEstimator,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    /// Payload bytes sitting in `events`, bounded by `config.receive_buffer`.
    undelivered: usize,
    /// False between `handle_link_down` and `handle_link_up`: nothing is transmitted and no
    /// resend timer runs, but sends still fill the window.
    link_up: bool,
    /// True after `pause_publication` until the peer shows signs of life.
    paused: bool,
    /// Set when a send found the window closed, so `Writable` is reported once it opens.
    blocked: bool,
    /// Set by [`Channel::hold_input`]: in-order stream messages are left unacknowledged.
    holding: bool,
    closed: bool,
    /// `channel_closed` arrived while messages were missing below ones kept: reported once the
    /// gap fills or at the deadline.
    closing: Option<(ChannelClosed, Instant)>,
    delivery_failed: bool,
    /// The highest sequence number of a stream message received and kept (delivered or
    /// buffered ahead of a gap).
    highest_received: Option<SeqNum>,
    stats: Stats,
}

impl Channel {
    /// A new channel at the start of a session. `wall` is the wall-clock time at `now` (the
    /// caller's `SystemTime::now()`), used only for the CreatedDate header field.
    pub fn new(role: Role, config: Config, now: Instant, wall: SystemTime) -> Self {
        Channel {
            role,
            clock: WallClock::new(now, wall),
            ids: IdSource(config.id_seed),
            window: SendWindow::new(config.send_window),
            reorder: ReorderBuffer::new(config.reorder_capacity, config.reorder_bytes),
            rtt: RttEstimator::new(config.rtt),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            undelivered: 0,
            link_up: true,
            paused: false,
            blocked: false,
            holding: false,
            closed: false,
            closing: None,
            delivery_failed: false,
            highest_received: None,
            stats: Stats::default(),
            config,
        }
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Takes one binary frame from the peer.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) -> Result<(), ChannelError> {
        let result = self.handle_frame_inner(now, frame);
        if result.is_err() {
            self.stats.frames_rejected += 1;
        }
        result
    }

    fn handle_frame_inner(&mut self, now: Instant, frame: &[u8]) -> Result<(), ChannelError> {
        let message = ClientMessage::decode(frame)?;
        if message.payload.len() > self.config.max_incoming_payload {
            return Err(ChannelError::TooLarge {
                len: message.payload.len(),
                max: self.config.max_incoming_payload,
            });
        }
        match &message.message_type {
            t if *t == self.role.incoming() => {
                self.resume_publication();
                self.handle_stream_message(now, message)
            }
            MessageType::Acknowledge => {
                let ack = Acknowledge::from_bytes(&message.payload)?;
                self.resume_publication();
                self.handle_ack(now, SeqNum(ack.sequence_number));
                Ok(())
            }
            MessageType::ChannelClosed => {
                let closed = ChannelClosed::from_bytes(&message.payload).unwrap_or_default();
                if !self.closed {
                    self.closed = true;
                    if self.reorder.has_gap() {
                        self.closing = Some((closed, now + self.config.close_grace));
                    } else {
                        self.events.push_back(Event::Closed(closed));
                    }
                }
                Ok(())
            }
            MessageType::PausePublication => {
                if !self.paused {
                    self.paused = true;
                    self.events.push_back(Event::PublicationPaused);
                }
                Ok(())
            }
            MessageType::StartPublication => {
                self.resume_publication();
                Ok(())
            }
            t if *t == self.role.outgoing() => Err(ChannelError::ProtocolViolation {
                what: "a stream message in this end's own direction",
            }),
            // Agent ⇄ service messages and future types: ignored, as both official ends do.
            _ => Ok(()),
        }
    }

    fn handle_stream_message(
        &mut self,
        now: Instant,
        message: ClientMessage,
    ) -> Result<(), ChannelError> {
        let (message_type, message_id) = (message.message_type, message.message_id);
        let seq = message.sequence_number;
        let room = !self.holding && self.undelivered < self.config.receive_buffer;
        let receipt = self.reorder.receive(
            Delivered {
                sequence_number: seq,
                flags: message.flags,
                payload_type: message.payload_type,
                payload: message.payload,
            },
            room,
        );
        if matches!(receipt, Receipt::Deliver(_) | Receipt::Buffered) {
            // A delivered run ends at most at the highest buffered number, which was counted
            // when it was buffered.
            self.highest_received = Some(self.highest_received.map_or(seq, |h| h.max(seq)));
        }
        match receipt {
            Receipt::Deliver(run) => {
                self.queue_ack(now, &message_type, message_id, seq)?;
                for delivered in run {
                    self.undelivered += delivered.payload.len();
                    self.stats.messages_delivered += 1;
                    self.stats.payload_bytes_delivered += delivered.payload.len() as u64;
                    self.events.push_back(Event::Message(delivered));
                }
            }
            Receipt::Buffered => self.queue_ack(now, &message_type, message_id, seq)?,
            Receipt::Duplicate => {
                self.stats.duplicates_received += 1;
                self.queue_ack(now, &message_type, message_id, seq)?;
            }
            Receipt::Refused => self.stats.messages_refused += 1,
        }
        if self.closing.is_some() && !self.reorder.has_gap() {
            self.finish_closing();
        }
        Ok(())
    }

    fn handle_ack(&mut self, now: Instant, seq: SeqNum) {
        if let Acked::Removed { sample } = self.window.ack(now, seq) {
            if let Some(sample) = sample {
                self.rtt.on_sample(sample);
            }
            self.report_writable();
        }
    }

    /// Whether the peer has acknowledged the stream message sent as `seq`.
    pub fn is_acknowledged(&self, seq: SeqNum) -> bool {
        self.window.is_acknowledged(seq)
    }

    /// The highest sequence number among the peer's stream messages received so far (delivered
    /// or kept ahead of a gap); `None` before the first.
    pub fn highest_received(&self) -> Option<SeqNum> {
        self.highest_received
    }

    /// While `hold` is true, stream messages that arrive in order are neither acknowledged nor
    /// delivered, so the peer keeps them and sends them again; messages ahead of a gap are
    /// still kept (and acknowledged). This is how the agent treats input that arrives before
    /// its session handler is ready ("handler not ready": no pty or TCP connection yet).
    pub fn hold_input(&mut self, hold: bool) {
        self.holding = hold;
    }

    /// Fires every timer whose deadline is at or before `now`: resends every message whose
    /// timeout has passed, and gives up on one unacknowledged past the delivery timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closing.as_ref().is_some_and(|(_, deadline)| *deadline <= now) {
            self.finish_closing();
        }
        if !self.link_up || self.closed {
            return;
        }
        if let Some((seq, first_sent)) = self.window.oldest_first_sent() {
            if !self.delivery_failed && first_sent + self.config.delivery_timeout <= now {
                self.delivery_failed = true;
                self.events.push_back(Event::DeliveryTimedOut { sequence_number: seq });
            }
        }
        if self.paused {
            // As the agent does: no resends into a channel whose peer is away.
            return;
        }
        let due = self.window.take_due(now, &self.rtt);
        if !due.is_empty() {
            self.rtt.back_off();
        }
        self.stats.messages_resent += due.len() as u64;
        self.transmit.extend(due);
    }

    /// The WebSocket is gone. Frames not yet taken are discarded (the unacknowledged ones stay
    /// in the window); nothing is transmitted and no resend timer runs until `handle_link_up`.
    pub fn handle_link_down(&mut self) {
        self.link_up = false;
        self.transmit.clear();
        // A close held for missing messages: they cannot come any more.
        self.finish_closing();
    }

    /// A new WebSocket is open (after ResumeSession and the open-data-channel frame): every
    /// unacknowledged message is sent again at once, in order.
    pub fn handle_link_up(&mut self, now: Instant) {
        if self.link_up {
            return;
        }
        self.link_up = true;
        let all = self.window.take_all(now);
        self.stats.messages_resent += all.len() as u64;
        self.transmit.extend(all);
    }

    /// Sends one stream message with the given payload type. The payload is kept until the
    /// peer acknowledges it.
    pub fn send(
        &mut self,
        now: Instant,
        payload_type: PayloadType,
        payload: &[u8],
    ) -> Result<SeqNum, ChannelError> {
        if self.closed {
            return Err(ChannelError::Closed);
        }
        if self.send_room() == 0 {
            self.blocked = true;
            return Err(ChannelError::WindowFull);
        }
        let seq = self.window.next_seq();
        // The agent marks the first message of its stream with SYN (protocol.md §3.4); the
        // plugin never sets flags on input.
        let flags = match (self.role, seq) {
            (Role::Agent, SeqNum(0)) => Flags::SYN,
            _ => Flags::NONE,
        };
        let frame = self.encode(now, self.role.outgoing(), seq, flags, payload_type, payload)?;
        if self.link_up {
            self.transmit.push_back(frame.clone());
        }
        self.window.push(now, frame);
        self.stats.messages_sent += 1;
        self.stats.payload_bytes_sent += payload.len() as u64;
        Ok(seq)
    }

    /// Sends as much of `data` as the window takes, as Output messages of at most
    /// `max_payload` bytes. Returns the number of bytes taken; 0 means the window is full and
    /// the caller should stop reading its source until [`Event::Writable`].
    pub fn send_stream(&mut self, now: Instant, data: &[u8]) -> Result<usize, ChannelError> {
        let mut taken = 0;
        for chunk in data.chunks(self.config.max_payload.max(1)) {
            match self.send(now, PayloadType::Output, chunk) {
                Ok(_) => taken += chunk.len(),
                Err(ChannelError::WindowFull) => break,
                Err(other) => return Err(other),
            }
        }
        Ok(taken)
    }

    /// Sends a terminal size (client only).
    pub fn send_size(&mut self, now: Instant, size: TerminalSize) -> Result<SeqNum, ChannelError> {
        self.require(Role::Client, "terminal size is sent by the client")?;
        self.send(now, PayloadType::Size, &size.to_bytes())
    }

    /// Sends a port-forwarding flag.
    pub fn send_flag(&mut self, now: Instant, flag: PortFlag) -> Result<SeqNum, ChannelError> {
        self.send(now, PayloadType::Flag, &flag.to_bytes())
    }

    /// Sends `channel_closed`, as the service does to the client when a session ends (agent
    /// role only: in the emulator the agent end also plays the service). Marks this end closed.
    pub fn send_channel_closed(
        &mut self,
        now: Instant,
        session_id: &str,
        output: &str,
    ) -> Result<(), ChannelError> {
        self.require(Role::Agent, "channel_closed comes from the service side")?;
        let message_id = self.ids.next_id();
        let payload = ChannelClosed {
            message_id: message_id.to_string(),
            created_date: self.clock.unix_millis(now).to_string(),
            destination_id: String::new(),
            session_id: session_id.to_owned(),
            message_type: MessageType::ChannelClosed.as_str().to_owned(),
            schema_version: 1,
            output: output.to_owned(),
        };
        let frame = self.encode(
            now,
            MessageType::ChannelClosed,
            SeqNum(0),
            Flags::SYN_FIN,
            PayloadType::None,
            &payload.to_bytes(),
        )?;
        self.closed = true;
        if self.link_up {
            self.transmit.push_back(frame);
        }
        Ok(())
    }

    /// Sends `start_publication` or `pause_publication`, as the service does to tell one end
    /// about the other (agent role only, for the emulator).
    pub fn send_publication(&mut self, now: Instant, active: bool) -> Result<(), ChannelError> {
        self.require(Role::Agent, "publication notices come from the service side")?;
        let message_type =
            if active { MessageType::StartPublication } else { MessageType::PausePublication };
        let frame =
            self.encode(now, message_type, SeqNum(0), Flags::SYN_FIN, PayloadType::None, &[])?;
        if self.link_up {
            self.transmit.push_back(frame);
        }
        Ok(())
    }

    /// Marks the channel closed by this end's own decision (user closed the session), so
    /// further sends fail and no timers run.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// The next frame to send as a binary WebSocket message.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if !self.link_up {
            return None;
        }
        self.transmit.pop_front()
    }

    /// When `handle_timeout` must next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if let Some((_, deadline)) = &self.closing {
            return Some(*deadline);
        }
        if !self.link_up || self.closed {
            return None;
        }
        let delivery = if self.delivery_failed {
            None
        } else {
            self.window.oldest_first_sent().map(|(_, first)| first + self.config.delivery_timeout)
        };
        let resend = if self.paused { None } else { self.window.next_resend(&self.rtt) };
        match (resend, delivery) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next thing the application must learn about.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        let event = self.events.pop_front()?;
        if let Event::Message(delivered) = &event {
            self.undelivered -= delivered.payload.len();
        }
        Some(event)
    }

    /// How many more messages may be sent before the window is full (0 while the peer is
    /// paused or the channel closed).
    pub fn send_room(&self) -> usize {
        if self.paused || self.closed {
            0
        } else {
            self.window.room()
        }
    }

    /// Messages sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.window.in_flight()
    }

    /// Reports the `channel_closed` held for a gap: what arrived meanwhile is delivered first.
    fn finish_closing(&mut self) {
        if let Some((closed, _)) = self.closing.take() {
            self.events.push_back(Event::Closed(closed));
        }
    }

    /// Whether the channel was closed by `channel_closed` or `close`.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The current smoothed round-trip time.
    pub fn rtt(&self) -> Duration {
        self.rtt.srtt()
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// Counters since the channel was created.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn resume_publication(&mut self) {
        if self.paused {
            self.paused = false;
            self.events.push_back(Event::PublicationStarted);
            self.report_writable();
        }
    }

    fn report_writable(&mut self) {
        if self.blocked && self.send_room() > 0 {
            self.blocked = false;
            self.events.push_back(Event::Writable);
        }
    }

    fn queue_ack(
        &mut self,
        now: Instant,
        acked_type: &MessageType,
        acked_id: MessageId,
        seq: SeqNum,
    ) -> Result<(), ChannelError> {
        let payload = Acknowledge::of(acked_type, acked_id, seq).to_bytes();
        let frame = self.encode(
            now,
            MessageType::Acknowledge,
            SeqNum(0),
            Flags::SYN_FIN,
            PayloadType::None,
            &payload,
        )?;
        self.stats.acks_sent += 1;
        if self.link_up {
            self.transmit.push_back(frame);
        }
        Ok(())
    }

    fn encode(
        &mut self,
        now: Instant,
        message_type: MessageType,
        sequence_number: SeqNum,
        flags: Flags,
        payload_type: PayloadType,
        payload: &[u8],
    ) -> Result<Vec<u8>, ChannelError> {
        let message = ClientMessage {
            message_type,
            schema_version: 1,
            created_date: self.clock.unix_millis(now),
            sequence_number,
            flags,
            message_id: self.ids.next_id(),
            payload_type,
            payload: payload.to_vec(),
        };
        Ok(message.encode()?)
    }

    fn require(&self, role: Role, what: &'static str) -> Result<(), ChannelError> {
        if self.role == role {
            Ok(())
        } else {
            Err(ChannelError::ApiMisuse { what })
        }
    }
}

/// Turns the caller's monotonic `now` into CreatedDate milliseconds without reading a clock.
#[derive(Debug, Clone, Copy)]
struct WallClock {
    anchor: Instant,
    unix_millis: u64,
}

impl WallClock {
    fn new(anchor: Instant, wall: SystemTime) -> Self {
        // A clock before 1970 is reported as 1 ms after it: CreatedDate is never zero.
        let millis = wall.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        WallClock { anchor, unix_millis: u64::try_from(millis).unwrap_or(u64::MAX).max(1) }
    }

    fn unix_millis(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.anchor).as_millis();
        self.unix_millis.saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }
}

/// Message ids from a SplitMix64 sequence: unique and well spread, with no randomness read
/// inside the crate.
#[derive(Debug, Clone)]
struct IdSource(u64);

impl IdSource {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next_id(&mut self) -> MessageId {
        let bits = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
        MessageId::from_random(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(now: Instant) -> (Channel, Channel) {
        (
            Channel::new(Role::Client, Config::default(), now, UNIX_EPOCH),
            Channel::new(Role::Agent, Config { id_seed: 7, ..Config::default() }, now, UNIX_EPOCH),
        )
    }

    fn carry(from: &mut Channel, to: &mut Channel, now: Instant) -> usize {
        let mut n = 0;
        while let Some(frame) = from.poll_transmit() {
            to.handle_frame(now, &frame).expect("a valid frame");
            n += 1;
        }
        n
    }

    fn messages(channel: &mut Channel) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| channel.poll_event())
            .filter_map(|e| match e {
                Event::Message(m) => Some(m.payload),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn held_input_is_left_unacknowledged_until_its_resend_finds_the_handler_ready() {
        let t0 = Instant::now();
        let (mut client, mut agent) = pair(t0);
        agent.hold_input(true);
        client.send_size(t0, TerminalSize { cols: 120, rows: 40 }).unwrap();
        client.send(t0, PayloadType::Output, b"ls\r").unwrap();
        assert_eq!(carry(&mut client, &mut agent, t0), 2);
        assert!(
            messages(&mut agent).is_empty(),
            "nothing is delivered while the handler is not ready"
        );
        // The size (in order) is refused; the keystrokes, ahead of it, are kept and
        // acknowledged, as the agent does with out-of-order input.
        assert_eq!(carry(&mut agent, &mut client, t0), 1, "one acknowledgement: the keystrokes'");
        assert_eq!(
            client.send_room(),
            client.config.send_window - 1,
            "the size waits in the client's window"
        );

        // The handler becomes ready; the client's resend timer brings both again.
        agent.hold_input(false);
        let due = client.poll_timeout().expect("a resend is due");
        client.handle_timeout(due);
        carry(&mut client, &mut agent, due);
        let delivered = messages(&mut agent);
        assert_eq!(delivered.len(), 2, "the size and the keystrokes, in order");
        assert_eq!(delivered[1], b"ls\r");
        carry(&mut agent, &mut client, due);
        assert_eq!(client.send_room(), client.config.send_window, "both are acknowledged now");
    }

    fn frames(from: &mut Channel) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| from.poll_transmit()).collect()
    }

    fn closed(channel: &mut Channel) -> bool {
        std::iter::from_fn(|| channel.poll_event()).any(|e| matches!(e, Event::Closed(_)))
    }

    /// The agent's output 0, 1, 2 and then channel_closed, as frames.
    fn three_outputs_then_closed(agent: &mut Channel, t0: Instant) -> (Vec<Vec<u8>>, Vec<u8>) {
        for chunk in [b"zero".as_slice(), b"one", b"two"] {
            agent.send(t0, PayloadType::Output, chunk).unwrap();
        }
        let outputs = frames(agent);
        agent.send_channel_closed(t0, "s-1", "").unwrap();
        let close = frames(agent).pop().unwrap();
        (outputs, close)
    }

    #[test]
    fn output_resent_after_channel_closed_is_delivered_before_the_close() {
        let t0 = Instant::now();
        let (mut client, mut agent) = pair(t0);
        let (outputs, close) = three_outputs_then_closed(&mut agent, t0);
        client.handle_frame(t0, &outputs[0]).unwrap();
        client.handle_frame(t0, &outputs[2]).unwrap(); // 1 was lost on the way
        client.handle_frame(t0, &close).unwrap();
        assert_eq!(messages(&mut client), [b"zero".to_vec()]);
        assert!(!closed(&mut client), "the close waits for the missing output");
        assert_eq!(client.poll_timeout(), Some(t0 + client.config.close_grace));
        let later = t0 + Duration::from_millis(300);
        client.handle_frame(later, &outputs[1]).unwrap(); // the agent's resend
        let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
        assert!(
            matches!(&events[..], [Event::Message(a), Event::Message(b), Event::Closed(_)] if a.payload == b"one" && b.payload == b"two"),
            "{events:?}"
        );
    }

    #[test]
    fn a_gap_that_never_fills_ends_the_grace_and_a_close_without_a_gap_is_at_once() {
        let t0 = Instant::now();
        let (mut client, mut agent) = pair(t0);
        let (outputs, close) = three_outputs_then_closed(&mut agent, t0);
        client.handle_frame(t0, &outputs[0]).unwrap();
        client.handle_frame(t0, &outputs[2]).unwrap();
        client.handle_frame(t0, &close).unwrap();
        let deadline = client.poll_timeout().unwrap();
        client.handle_timeout(deadline - Duration::from_millis(1));
        assert_eq!(messages(&mut client).len(), 1);
        client.handle_timeout(deadline);
        assert!(closed(&mut client), "the grace is short and bounded");

        let (mut client, mut agent) = pair(t0);
        let (outputs, close) = three_outputs_then_closed(&mut agent, t0);
        for frame in outputs.iter().chain([&close]) {
            client.handle_frame(t0, frame).unwrap();
        }
        let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
        assert_eq!(events.len(), 4);
        assert!(
            matches!(events[3], Event::Closed(_)),
            "nothing missing: closed at once, after the output"
        );
    }

    #[test]
    fn a_payload_beyond_the_limit_is_refused_and_the_channel_goes_on() {
        let t0 = Instant::now();
        let (mut client, mut agent) = pair(t0);
        let limit = client.config.max_incoming_payload;
        agent.send(t0, PayloadType::Output, &vec![b'x'; limit + 1]).unwrap();
        agent.send(t0, PayloadType::Output, b"fine").unwrap();
        let sent = frames(&mut agent);
        let refused = client.handle_frame(t0, &sent[0]).unwrap_err();
        assert!(
            matches!(refused, ChannelError::TooLarge { len, max } if len == limit + 1 && max == limit),
            "{refused}"
        );
        assert_eq!(client.stats().frames_rejected, 1);
        client.handle_frame(t0, &sent[1]).unwrap();
        assert!(
            messages(&mut client).is_empty(),
            "the next one waits behind the refused one, unacknowledged"
        );
        assert_eq!(client.reorder.ahead_bytes(), 4);
    }
}
