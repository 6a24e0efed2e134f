//! One end of an smux session: stream ids, per-stream buffers and windows, closing,
//! round-robin framing of outgoing data and keep-alive timers.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::frame::*;

/// Which end of the session this is; it decides stream id parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Opens odd ids from 3 (Airlock, the plugin).
    Client,
    /// Opens even ids from 2 (the agent, which in practice only accepts).
    Server,
}

/// smux keep-alive: a `NOP` every `interval`; the session dies when nothing arrives for
/// `timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// How often a NOP is sent (smux default 10 s).
    pub interval: Duration,
    /// How long silence is tolerated (smux default 30 s).
    pub timeout: Duration,
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive { interval: Duration::from_secs(10), timeout: Duration::from_secs(30) }
    }
}

/// Session settings. The defaults are smux's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// Protocol version: 1 (what the agent and plugin speak) or 2 (adds windows).
    pub version: u8,
    /// Keep-alive, or `None` when disabled (as both ends do with current versions, protocol.md 7.4).
    pub keep_alive: Option<KeepAlive>,
    /// A `NOP` every this often with no silence timeout: Airlock's opt-in that keeps the
    /// service's idle timeout from closing a tunnel nobody uses at the moment (the NOPs are
    /// stream data to the service, which is why both ends turned smux keep-alive off).
    pub heartbeat: Option<Duration>,
    /// Largest `PSH` payload this end sends (smux default 32768).
    pub max_frame_size: usize,
    /// Most bytes held for the application across all streams before `handle_bytes` stops
    /// consuming (smux default 4 MiB).
    pub max_receive_buffer: usize,
    /// Most unsent bytes a stream accepts from `write` (and, in v2, the window this end grants).
    pub max_stream_buffer: usize,
    /// Most streams open at once; streams beyond it are refused (smux has no limit).
    pub max_streams: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            version: 1,
            keep_alive: None,
            heartbeat: None,
            max_frame_size: 32_768,
            max_receive_buffer: 4 * 1024 * 1024,
            max_stream_buffer: 65_536,
            max_streams: 1024,
        }
    }
}

/// What the session tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer opened a stream (a `SYN`); the server dials its destination now.
    Opened(StreamId),
    /// A stream has data to [`Session::read`].
    Readable(StreamId),
    /// The peer closed a stream and all its data has been read: end of file.
    Finished(StreamId),
    /// A stream that refused a `write` has room again.
    Writable(StreamId),
    /// The peer opened a stream this end does not take (a client takes none; a server none
    /// beyond `max_streams`); it was closed at once.
    Refused(StreamId),
    /// The session ended; no more events follow.
    Closed(CloseReason),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloseReason {
    /// [`Session::close`] was called.
    #[error("the smux session was closed")]
    Local,
    /// The peer broke the framing.
    #[error("the peer sent a malformed smux stream: {0}")]
    Protocol(FrameError),
    /// Keep-alive was on and nothing arrived for its timeout.
    #[error("no smux frame arrived for {0:?}; the connection is presumed dead")]
    KeepAliveTimeout(Duration),
    /// Every stream id of this side has been used.
    #[error("the smux session ran out of stream ids")]
    IdsExhausted,
}

/// Errors of stream operations. None of them loses data that was accepted before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// No such stream: never opened, or closed and gone.
    #[error("{0} is not open")]
    UnknownStream(StreamId),
    /// The stream was closed for writing by this side.
    #[error("{0} was closed for writing")]
    WriteClosed(StreamId),
    /// `max_streams` streams are open; one must close before another opens.
    #[error("{0} streams are open, the most this session carries at once")]
    TooManyStreams(usize),
    /// The session is over.
    #[error("the smux session is closed: {0}")]
    SessionClosed(CloseReason),
}

#[derive(Debug, Default)]
struct Stream {
    /// Bytes the application wrote that are not framed yet.
    outgoing: VecDeque<u8>,
    /// The application closed its side; a FIN goes out after `outgoing`.
    fin_queued: bool,
    fin_sent: bool,
    /// Bytes received for the application.
    incoming: VecDeque<u8>,
    remote_fin: bool,
    /// The application closed it: nothing more is buffered or reported for it.
    closed: bool,
    finished_signalled: bool,
    readable_signalled: bool,
    write_refused: bool,
    // Version 2 windows.
    bytes_sent: u32,
    peer_consumed: u32,
    peer_window: u32,
    bytes_read: u32,
    read_since_update: u32,
}

impl Stream {
    fn new(version: u8) -> Self {
        Stream {
            peer_window: if version >= 2 { INITIAL_PEER_WINDOW } else { u32::MAX },
            ..Stream::default()
        }
    }
}

/// One end of an smux session.
#[derive(Debug)]
pub struct Session {
    side: Side,
    config: SessionConfig,
    next_id: u32,
    streams: BTreeMap<StreamId, Stream>,
    /// Streams with outgoing data or a FIN to frame, served round robin.
    send_order: VecDeque<StreamId>,
    /// Frames that go before stream data (SYN, UPD, NOP, bare FIN).
    control: VecDeque<Frame>,
    /// Encoded bytes not yet handed to the driver.
    out: VecDeque<u8>,
    decoder: FrameDecoder,
    buffered_in: usize,
    events: VecDeque<Event>,
    last_received: Instant,
    next_ping: Option<Instant>,
    next_heartbeat: Option<Instant>,
    closed: Option<CloseReason>,
}

impl Session {
    /// A new session at time `now`.
    pub fn new(side: Side, config: SessionConfig, now: Instant) -> Self {
        let next_ping = config.keep_alive.map(|k| now + k.interval);
        let next_heartbeat = config.heartbeat.map(|interval| now + interval);
        Session {
            side,
            next_id: match side {
                Side::Client => 1,
                Side::Server => 0,
            },
            decoder: FrameDecoder::new(config.version),
            config,
            streams: BTreeMap::new(),
            send_order: VecDeque::new(),
            control: VecDeque::new(),
            out: VecDeque::new(),
            buffered_in: 0,
            events: VecDeque::new(),
            last_received: now,
            next_ping,
            next_heartbeat,
            closed: None,
        }
    }

    /// This end's side.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Opens a stream; its `SYN` goes out with the next transmit.
    pub fn open_stream(&mut self) -> Result<StreamId, StreamError> {
        self.check_open()?;
        if self.streams.len() >= self.config.max_streams {
            return Err(StreamError::TooManyStreams(self.config.max_streams));
        }
        let Some(next) = self.next_id.checked_add(2) else {
            self.close_with(CloseReason::IdsExhausted);
            return Err(StreamError::SessionClosed(CloseReason::IdsExhausted));
        };
        self.next_id = next;
        let id = StreamId(next);
        self.streams.insert(id, Stream::new(self.config.version));
        self.control.push_back(self.frame(Command::Syn, id, Vec::new()));
        Ok(id)
    }

    /// Queues data on a stream. Returns how many bytes were accepted, which may be fewer than
    /// offered (even zero) when the stream's buffer is full; an [`Event::Writable`] follows when
    /// there is room again.
    pub fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, StreamError> {
        self.check_open()?;
        let limit = self.config.max_stream_buffer;
        let stream = self.streams.get_mut(&id).ok_or(StreamError::UnknownStream(id))?;
        if stream.fin_queued {
            return Err(StreamError::WriteClosed(id));
        }
        let room = limit.saturating_sub(stream.outgoing.len());
        let accepted = room.min(data.len());
        if accepted < data.len() {
            stream.write_refused = true;
        }
        if accepted > 0 {
            let was_idle = stream.outgoing.is_empty();
            stream.outgoing.extend(&data[..accepted]);
            if was_idle && !self.send_order.contains(&id) {
                self.send_order.push_back(id);
            }
        }
        Ok(accepted)
    }

    /// Reads received data from a stream into `buf`. Returns 0 when nothing is buffered (check
    /// for [`Event::Finished`] to tell end of file from "not yet").
    pub fn read(&mut self, id: StreamId, buf: &mut [u8]) -> Result<usize, StreamError> {
        let version = self.config.version;
        let window = self.window_grant();
        let stream = self.streams.get_mut(&id).ok_or(StreamError::UnknownStream(id))?;
        let n = buf.len().min(stream.incoming.len());
        for (slot, byte) in buf.iter_mut().zip(stream.incoming.drain(..n)) {
            *slot = byte;
        }
        self.buffered_in -= n;
        if stream.incoming.is_empty() {
            stream.readable_signalled = false;
        }
        let mut update = None;
        if version >= 2 && n > 0 {
            // Invariant-free arithmetic: smux counts consumed bytes modulo 2^32.
            let first_read = stream.bytes_read == 0;
            stream.bytes_read = stream.bytes_read.wrapping_add(n as u32);
            stream.read_since_update = stream.read_since_update.saturating_add(n as u32);
            if stream.read_since_update >= window / 2 || first_read {
                stream.read_since_update = 0;
                update = Some(stream.bytes_read);
            }
        }
        let finished =
            stream.remote_fin && stream.incoming.is_empty() && !stream.finished_signalled;
        if finished {
            stream.finished_signalled = true;
        }
        if let Some(consumed) = update {
            if self.closed.is_none() {
                self.control.push_back(Frame::upd(version, id, consumed, window));
            }
        }
        if finished {
            self.events.push_back(Event::Finished(id));
            self.forget_if_done(id);
        }
        Ok(n)
    }

    /// How many received bytes wait to be read on a stream.
    pub fn readable_len(&self, id: StreamId) -> usize {
        self.streams.get(&id).map_or(0, |s| s.incoming.len())
    }

    /// Closes a stream, as smux's `Close`: the data already accepted from `write` is sent, then
    /// a `FIN`, and the stream leaves the session. Data received for it and not read is dropped
    /// now, and data that arrives for it later is read and dropped, so an unread stream never
    /// holds on to the session's receive buffer.
    pub fn close_stream(&mut self, id: StreamId) -> Result<(), StreamError> {
        self.check_open()?;
        let stream = self.streams.get_mut(&id).ok_or(StreamError::UnknownStream(id))?;
        self.buffered_in -= stream.incoming.len();
        stream.incoming = VecDeque::new();
        stream.closed = true;
        if stream.fin_queued {
            return Ok(());
        }
        stream.fin_queued = true;
        if !self.send_order.contains(&id) {
            self.send_order.push_back(id);
        }
        Ok(())
    }

    /// Ends the session. Pending output is discarded; the driver ends the data channel too.
    pub fn close(&mut self) {
        self.close_with(CloseReason::Local);
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.closed.is_some()
    }

    /// The ids of the streams that are open.
    pub fn stream_ids(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.streams.keys().copied()
    }

    /// How many streams are open.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Bytes received and not yet read, across streams.
    pub fn buffered_incoming(&self) -> usize {
        self.buffered_in
    }

    /// Feeds bytes that arrived from the peer. Returns how many were consumed: fewer than given
    /// when the application's receive buffer is full, in which case the caller keeps the rest
    /// and offers it again after reading.
    pub fn handle_bytes(&mut self, now: Instant, mut input: &[u8]) -> usize {
        let mut consumed = 0;
        while !input.is_empty() && self.closed.is_none() {
            if self.buffered_in >= self.config.max_receive_buffer && !self.decoder.is_mid_frame() {
                break;
            }
            match self.decoder.decode(input) {
                Ok((taken, frame)) => {
                    consumed += taken;
                    input = &input[taken..];
                    self.last_received = now;
                    if let Some(frame) = frame {
                        self.handle_frame(frame);
                    }
                }
                Err(error) => {
                    consumed += input.len();
                    self.close_with(CloseReason::Protocol(error));
                }
            }
        }
        consumed
    }

    fn handle_frame(&mut self, frame: Frame) {
        let id = frame.stream_id;
        match frame.command {
            Command::Nop => {}
            Command::Syn => {
                if self.streams.contains_key(&id) {
                    return;
                }
                if self.side == Side::Client || self.streams.len() >= self.config.max_streams {
                    // Unknown to this end from here on: its data is dropped as it arrives.
                    self.control.push_back(self.frame(Command::Fin, id, Vec::new()));
                    self.events.push_back(Event::Refused(id));
                    return;
                }
                self.streams.insert(id, Stream::new(self.config.version));
                self.events.push_back(Event::Opened(id));
            }
            Command::Psh => {
                let Some(stream) = self.streams.get_mut(&id) else { return };
                if stream.remote_fin || stream.closed || frame.data.is_empty() {
                    return;
                }
                stream.incoming.extend(&frame.data);
                self.buffered_in += frame.data.len();
                if !stream.readable_signalled {
                    stream.readable_signalled = true;
                    self.events.push_back(Event::Readable(id));
                }
            }
            Command::Fin => {
                let Some(stream) = self.streams.get_mut(&id) else { return };
                stream.remote_fin = true;
                if stream.incoming.is_empty() && !stream.finished_signalled && !stream.closed {
                    stream.finished_signalled = true;
                    self.events.push_back(Event::Finished(id));
                }
                self.forget_if_done(id);
            }
            Command::Upd => {
                let Some((consumed, window)) = frame.window_update() else { return };
                let Some(stream) = self.streams.get_mut(&id) else { return };
                stream.peer_consumed = consumed;
                stream.peer_window = window;
                if !stream.outgoing.is_empty() && !self.send_order.contains(&id) {
                    self.send_order.push_back(id);
                }
            }
        }
    }

    /// Up to `max` bytes to send to the peer (inside `Output` payloads of the data channel), or
    /// `None` when there is nothing to send.
    pub fn poll_transmit(&mut self, max: usize) -> Option<Vec<u8>> {
        if self.closed.is_some() || max == 0 {
            return None;
        }
        while self.out.len() < max {
            let Some(frame) = self.next_frame() else { break };
            let mut bytes = Vec::with_capacity(HEADER_LEN + frame.data.len());
            frame.encode_into(&mut bytes);
            self.out.extend(bytes);
        }
        if self.out.is_empty() {
            return None;
        }
        let n = max.min(self.out.len());
        Some(self.out.drain(..n).collect())
    }

    fn next_frame(&mut self) -> Option<Frame> {
        if let Some(frame) = self.control.pop_front() {
            return Some(frame);
        }
        let version = self.config.version;
        let limit = self.config.max_stream_buffer;
        let frame_size = self.config.max_frame_size.clamp(1, MAX_FRAME_PAYLOAD);
        for _ in 0..self.send_order.len() {
            let id = self.send_order.pop_front()?;
            let Some(stream) = self.streams.get_mut(&id) else { continue };
            let in_flight = stream.bytes_sent.wrapping_sub(stream.peer_consumed);
            let window = stream.peer_window.saturating_sub(in_flight) as usize;
            let n = stream.outgoing.len().min(frame_size).min(window);
            if n > 0 {
                let data: Vec<u8> = stream.outgoing.drain(..n).collect();
                stream.bytes_sent = stream.bytes_sent.wrapping_add(n as u32);
                if stream.write_refused && stream.outgoing.len() < limit && !stream.fin_queued {
                    stream.write_refused = false;
                    self.events.push_back(Event::Writable(id));
                }
                if !stream.outgoing.is_empty() || (stream.fin_queued && !stream.fin_sent) {
                    self.send_order.push_back(id);
                }
                return Some(Frame { version, command: Command::Psh, stream_id: id, data });
            }
            if stream.outgoing.is_empty() && stream.fin_queued && !stream.fin_sent {
                stream.fin_sent = true;
                self.forget_if_done(id);
                return Some(self.frame(Command::Fin, id, Vec::new()));
            }
            // Blocked on the peer's window: an UPD puts it back in line.
        }
        None
    }

    /// Handles timers at `now`: keep-alive pings and the silence timeout, and the heartbeat.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closed.is_some() {
            return;
        }
        if let (Some(interval), Some(beat)) = (self.config.heartbeat, self.next_heartbeat) {
            if now >= beat {
                self.control.push_back(self.frame(Command::Nop, StreamId(0), Vec::new()));
                self.next_heartbeat = Some(now + interval);
            }
        }
        let Some(keep_alive) = self.config.keep_alive else { return };
        if now.saturating_duration_since(self.last_received) >= keep_alive.timeout {
            self.close_with(CloseReason::KeepAliveTimeout(keep_alive.timeout));
            return;
        }
        if let Some(ping) = self.next_ping {
            if now >= ping {
                self.control.push_back(self.frame(Command::Nop, StreamId(0), Vec::new()));
                self.next_ping = Some(now + keep_alive.interval);
            }
        }
    }

    /// When [`Session::handle_timeout`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed.is_some() {
            return None;
        }
        let keep_alive = self.config.keep_alive.map(|keep_alive| {
            let dead = self.last_received + keep_alive.timeout;
            self.next_ping.map_or(dead, |ping| ping.min(dead))
        });
        match (keep_alive, self.next_heartbeat) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn window_grant(&self) -> u32 {
        u32::try_from(self.config.max_stream_buffer).unwrap_or(u32::MAX)
    }

    fn frame(&self, command: Command, id: StreamId, data: Vec<u8>) -> Frame {
        Frame { version: self.config.version, command, stream_id: id, data }
    }

    fn check_open(&self) -> Result<(), StreamError> {
        match &self.closed {
            Some(reason) => Err(StreamError::SessionClosed(reason.clone())),
            None => Ok(()),
        }
    }

    /// A stream leaves the session once the application closed it and its FIN went out.
    fn forget_if_done(&mut self, id: StreamId) {
        let done = self.streams.get(&id).is_some_and(|s| s.fin_sent);
        if done {
            self.streams.remove(&id);
            self.send_order.retain(|s| *s != id);
        }
    }

    fn close_with(&mut self, reason: CloseReason) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason.clone());
        self.streams.clear();
        self.send_order.clear();
        self.control.clear();
        self.out.clear();
        self.buffered_in = 0;
        self.events.push_back(Event::Closed(reason));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn client_ids_are_odd_from_three_server_ids_even_from_two() {
        let t = now();
        let mut client = Session::new(Side::Client, SessionConfig::default(), t);
        let mut server = Session::new(Side::Server, SessionConfig::default(), t);
        assert_eq!(client.open_stream().unwrap(), StreamId(3));
        assert_eq!(client.open_stream().unwrap(), StreamId(5));
        assert_eq!(server.open_stream().unwrap(), StreamId(2));
    }

    #[test]
    fn open_write_close_reaches_the_peer_in_order() {
        let t = now();
        let mut client = Session::new(Side::Client, SessionConfig::default(), t);
        let mut server = Session::new(Side::Server, SessionConfig::default(), t);
        let id = client.open_stream().unwrap();
        assert_eq!(client.write(id, b"hello").unwrap(), 5);
        client.close_stream(id).unwrap();
        let bytes = client.poll_transmit(1024).unwrap();
        assert_eq!(server.handle_bytes(t, &bytes), bytes.len());
        assert_eq!(server.poll_event(), Some(Event::Opened(id)));
        assert_eq!(server.poll_event(), Some(Event::Readable(id)));
        assert_eq!(server.poll_event(), None, "end of file only after the data is read");
        let mut buf = [0u8; 16];
        assert_eq!(server.read(id, &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(server.poll_event(), Some(Event::Finished(id)));
        assert_eq!(client.stream_count(), 0, "closed and its FIN sent: the client forgets it");
        // smux has no half-close: what the server still sends is read and dropped.
        server.write(id, b"bye").unwrap();
        server.close_stream(id).unwrap();
        let back = server.poll_transmit(1024).unwrap();
        assert_eq!(server.stream_count(), 0);
        assert_eq!(client.handle_bytes(t, &back), back.len());
        assert_eq!(client.buffered_incoming(), 0);
        assert!(matches!(client.read(id, &mut buf), Err(StreamError::UnknownStream(_))));
        assert_eq!(client.poll_event(), None);
    }

    #[test]
    fn a_closed_streams_late_data_is_dropped_and_never_stalls_its_neighbours() {
        let t = now();
        let receiver = SessionConfig { max_receive_buffer: 1000, ..SessionConfig::default() };
        let mut client = Session::new(Side::Client, receiver, t);
        let mut server = Session::new(Side::Server, SessionConfig::default(), t);
        let (quiet, busy) = (client.open_stream().unwrap(), client.open_stream().unwrap());
        let syns = client.poll_transmit(1024).unwrap();
        server.handle_bytes(t, &syns);
        // The server answers on both; the client reads neither yet, then closes `quiet`.
        server.write(quiet, &[1; 600]).unwrap();
        let first = server.poll_transmit(4096).unwrap();
        assert_eq!(client.handle_bytes(t, &first), first.len());
        assert_eq!(client.buffered_incoming(), 600);
        client.close_stream(quiet).unwrap();
        assert_eq!(client.buffered_incoming(), 0, "what it held is dropped at once");
        // Far more than the receive buffer still arrives for it, then data for its neighbour.
        let mut wire = Vec::new();
        for _ in 0..20 {
            assert_eq!(server.write(quiet, &[2; 500]).unwrap(), 500);
            while let Some(bytes) = server.poll_transmit(4096) {
                wire.extend(bytes);
            }
        }
        server.write(busy, b"still here").unwrap();
        while let Some(bytes) = server.poll_transmit(4096) {
            wire.extend(bytes);
        }
        assert_eq!(
            client.handle_bytes(t, &wire),
            wire.len(),
            "nothing waits for a reader that is gone"
        );
        let mut buf = [0u8; 64];
        assert_eq!(client.read(busy, &mut buf).unwrap(), 10);
        assert_eq!(&buf[..10], b"still here");
        assert_eq!(client.buffered_incoming(), 0);
    }

    #[test]
    fn a_client_refuses_streams_its_peer_opens() {
        let t = now();
        let mut client = Session::new(Side::Client, SessionConfig::default(), t);
        let mut server = Session::new(Side::Server, SessionConfig::default(), t);
        let id = server.open_stream().unwrap();
        server.write(id, &[7; 5000]).unwrap();
        let mut wire = Vec::new();
        while let Some(bytes) = server.poll_transmit(4096) {
            wire.extend(bytes);
        }
        assert_eq!(client.handle_bytes(t, &wire), wire.len());
        assert_eq!(client.poll_event(), Some(Event::Refused(id)));
        assert_eq!(client.poll_event(), None, "no Opened, no Readable");
        assert_eq!((client.stream_count(), client.buffered_incoming()), (0, 0));
        let fin = client.poll_transmit(1024).unwrap();
        assert_eq!(
            fin,
            Frame { version: 1, command: Command::Fin, stream_id: id, data: vec![] }.encode()
        );
        server.handle_bytes(t, &fin);
        assert_eq!(
            server.poll_event(),
            Some(Event::Finished(id)),
            "the opener learns it is closed"
        );
    }

    #[test]
    fn streams_beyond_the_cap_are_refused_on_both_sides() {
        let t = now();
        let config = SessionConfig { max_streams: 2, ..SessionConfig::default() };
        let mut client = Session::new(Side::Client, config.clone(), t);
        let a = client.open_stream().unwrap();
        client.open_stream().unwrap();
        assert_eq!(client.open_stream(), Err(StreamError::TooManyStreams(2)));
        client.close_stream(a).unwrap();
        client.poll_transmit(1024).unwrap();
        assert!(client.open_stream().is_ok(), "a closed stream makes room");

        let mut server = Session::new(Side::Server, config, t);
        let mut opener = Session::new(Side::Client, SessionConfig::default(), t);
        let ids: Vec<_> = (0..3).map(|_| opener.open_stream().unwrap()).collect();
        let syns = opener.poll_transmit(1024).unwrap();
        server.handle_bytes(t, &syns);
        assert_eq!(server.poll_event(), Some(Event::Opened(ids[0])));
        assert_eq!(server.poll_event(), Some(Event::Opened(ids[1])));
        assert_eq!(server.poll_event(), Some(Event::Refused(ids[2])));
    }

    #[test]
    fn write_pushes_back_when_the_stream_buffer_is_full_and_signals_room() {
        let t = now();
        let config =
            SessionConfig { max_stream_buffer: 10, max_frame_size: 4, ..SessionConfig::default() };
        let mut client = Session::new(Side::Client, config, t);
        let id = client.open_stream().unwrap();
        assert_eq!(client.write(id, &[7; 25]).unwrap(), 10);
        assert_eq!(client.write(id, &[7; 5]).unwrap(), 0);
        let _syn_and_first = client.poll_transmit(HEADER_LEN * 2 + 4).unwrap();
        assert_eq!(client.poll_event(), Some(Event::Writable(id)));
        assert_eq!(client.write(id, &[7; 5]).unwrap(), 4);
    }

    #[test]
    fn receiving_stops_at_the_receive_buffer_and_resumes_after_read() {
        let t = now();
        let sender = SessionConfig { max_frame_size: 50, ..SessionConfig::default() };
        let receiver = SessionConfig { max_receive_buffer: 100, ..SessionConfig::default() };
        let mut client = Session::new(Side::Client, sender, t);
        let mut server = Session::new(Side::Server, receiver, t);
        let id = client.open_stream().unwrap();
        client.write(id, &[1; 300]).unwrap();
        let mut wire = Vec::new();
        while let Some(bytes) = client.poll_transmit(64) {
            wire.extend(bytes);
        }
        let first = server.handle_bytes(t, &wire);
        assert!(first < wire.len(), "the server must stop consuming at its buffer limit");
        assert_eq!(server.buffered_incoming(), 100);
        assert_eq!(
            server.handle_bytes(t, &wire[first..]),
            0,
            "nothing more until the application reads"
        );
        let mut offset = first;
        let mut sink = vec![0u8; 1000];
        let mut total = 0;
        loop {
            total += server.read(id, &mut sink).unwrap();
            if offset == wire.len() {
                break;
            }
            let n = server.handle_bytes(t, &wire[offset..]);
            assert!(n > 0, "room after a read means progress");
            offset += n;
        }
        assert_eq!(total, 300);
    }

    #[test]
    fn data_for_an_unknown_stream_is_discarded_not_buffered() {
        let t = now();
        let mut client = Session::new(Side::Client, SessionConfig::default(), t);
        let mut server = Session::new(Side::Server, SessionConfig::default(), t);
        let id = server.open_stream().unwrap();
        server.write(id, b"never opened on the client's side").unwrap();
        let mut bytes = server.poll_transmit(1024).unwrap();
        bytes.drain(..HEADER_LEN); // lose the SYN
        client.handle_bytes(t, &bytes);
        assert_eq!(client.buffered_incoming(), 0);
        assert_eq!(client.poll_event(), None);
    }

    #[test]
    fn keep_alive_pings_and_times_out_on_silence() {
        let t = now();
        let keep_alive =
            KeepAlive { interval: Duration::from_secs(10), timeout: Duration::from_secs(30) };
        let config = SessionConfig { keep_alive: Some(keep_alive), ..SessionConfig::default() };
        let mut session = Session::new(Side::Client, config, t);
        assert_eq!(session.poll_timeout(), Some(t + Duration::from_secs(10)));
        session.handle_timeout(t + Duration::from_secs(10));
        let ping = session.poll_transmit(1024).unwrap();
        assert_eq!(ping, [1, 3, 0, 0, 0, 0, 0, 0]);
        session.handle_bytes(t + Duration::from_secs(25), &ping);
        session.handle_timeout(t + Duration::from_secs(40));
        assert!(!session.is_closed(), "a frame at 25 s keeps it alive at 40 s");
        session.handle_timeout(t + Duration::from_secs(55));
        assert_eq!(
            session.poll_event(),
            Some(Event::Closed(CloseReason::KeepAliveTimeout(keep_alive.timeout)))
        );
    }

    #[test]
    fn a_heartbeat_sends_nops_and_never_times_out_on_silence() {
        let t = now();
        let config =
            SessionConfig { heartbeat: Some(Duration::from_secs(30)), ..SessionConfig::default() };
        let mut session = Session::new(Side::Client, config, t);
        assert_eq!(session.poll_timeout(), Some(t + Duration::from_secs(30)));
        session.handle_timeout(t + Duration::from_secs(29));
        assert_eq!(session.poll_transmit(1024), None, "nothing before it is due");
        for beat in 1..=3u64 {
            let at = t + Duration::from_secs(30 * beat);
            session.handle_timeout(at);
            assert_eq!(session.poll_transmit(1024).unwrap(), [1, 3, 0, 0, 0, 0, 0, 0]);
            assert_eq!(session.poll_timeout(), Some(at + Duration::from_secs(30)));
        }
        assert!(!session.is_closed(), "90 s without a frame from the peer is not an end");
        assert_eq!(session.poll_event(), None);
    }

    #[test]
    fn disabled_keep_alive_has_no_timer() {
        let session = Session::new(Side::Client, SessionConfig::default(), now());
        assert_eq!(session.poll_timeout(), None);
    }

    #[test]
    fn a_protocol_error_closes_the_session() {
        let t = now();
        let mut session = Session::new(Side::Server, SessionConfig::default(), t);
        session.handle_bytes(t, &[1, 42, 0, 0, 0, 0, 0, 0]);
        assert!(session.is_closed());
        assert_eq!(
            session.poll_event(),
            Some(Event::Closed(CloseReason::Protocol(FrameError::BadCommand(42))))
        );
        assert!(matches!(session.open_stream(), Err(StreamError::SessionClosed(_))));
    }

    #[test]
    fn v2_sender_waits_for_the_window_then_continues_after_upd() {
        let t = now();
        let config = SessionConfig {
            version: 2,
            max_stream_buffer: INITIAL_PEER_WINDOW as usize * 2,
            ..SessionConfig::default()
        };
        let mut client = Session::new(Side::Client, config.clone(), t);
        let mut server = Session::new(Side::Server, config, t);
        let id = client.open_stream().unwrap();
        let total = INITIAL_PEER_WINDOW as usize + 5000;
        assert_eq!(client.write(id, &vec![9; total]).unwrap(), total);
        let mut sent = Vec::new();
        while let Some(bytes) = client.poll_transmit(4096) {
            sent.extend(bytes);
        }
        assert_eq!(server.handle_bytes(t, &sent), sent.len());
        assert_eq!(
            server.readable_len(id),
            INITIAL_PEER_WINDOW as usize,
            "the window caps what is sent"
        );
        let mut sink = vec![0u8; total];
        server.read(id, &mut sink).unwrap();
        let upd = server.poll_transmit(1024).unwrap();
        client.handle_bytes(t, &upd);
        let mut rest = Vec::new();
        while let Some(bytes) = client.poll_transmit(4096) {
            rest.extend(bytes);
        }
        server.handle_bytes(t, &rest);
        assert_eq!(server.readable_len(id), 5000);
    }
}
