//! Eight smux streams between a client and a server session in memory, in both protocol
//! versions: every byte arrives on its own stream, in order, with small receive buffers forcing
//! backpressure, and the wire carved into SSM-sized (1024-byte) pieces. Each end closes a
//! stream once it has written its part and read the peer's (smux has no half-close).

use std::collections::BTreeMap;
use std::time::Instant;

use sha2::{Digest, Sha256};
use ssm_protocol::smux::{Event, Session, SessionConfig, Side, StreamId};

/// Deterministic per-stream content.
fn content(stream: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + stream * 7) % 251) as u8).collect()
}

struct End {
    session: Session,
    /// Bytes from the peer not yet consumed by `handle_bytes` (backpressure keeps them here).
    inbox: Vec<u8>,
    /// Per stream: what remains to write, and what was read.
    to_write: BTreeMap<StreamId, Vec<u8>>,
    received: BTreeMap<StreamId, Vec<u8>>,
    /// Bytes each stream brings from the peer.
    expected: usize,
    closed: Vec<StreamId>,
}

impl End {
    fn new(side: Side, config: SessionConfig, now: Instant, expected: usize) -> Self {
        End {
            session: Session::new(side, config, now),
            inbox: Vec::new(),
            to_write: BTreeMap::new(),
            received: BTreeMap::new(),
            expected,
            closed: Vec::new(),
        }
    }

    /// Writes what the stream buffers accept; closes streams whose data is all written and
    /// whose peer's data is all read.
    fn write_some(&mut self) {
        for (id, data) in self.to_write.iter_mut() {
            if !data.is_empty() {
                let n = self.session.write(*id, data).expect("stream open");
                data.drain(..n);
            }
            let all_read = self.received.get(id).is_some_and(|r| r.len() >= self.expected);
            if data.is_empty() && all_read && !self.closed.contains(id) {
                self.session.close_stream(*id).expect("stream open");
                self.closed.push(*id);
            }
        }
    }

    fn read_all(&mut self, now: Instant) {
        let consumed = self.session.handle_bytes(now, &self.inbox);
        self.inbox.drain(..consumed);
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Opened(id) => {
                    self.received.entry(id).or_default();
                }
                Event::Readable(_) | Event::Writable(_) | Event::Finished(_) => {}
                Event::Refused(id) => panic!("{id} refused"),
                Event::Closed(reason) => panic!("session closed: {reason}"),
            }
        }
        let ids: Vec<StreamId> = self.received.keys().copied().collect();
        let mut buf = vec![0u8; 4096];
        for id in ids {
            loop {
                // An error means the stream is already gone: closed by this end.
                let n = self.session.read(id, &mut buf).unwrap_or_default();
                if n == 0 {
                    break;
                }
                self.received.get_mut(&id).expect("listed").extend_from_slice(&buf[..n]);
            }
        }
    }
}

fn run(config: SessionConfig, streams: usize, up: usize, down: usize) {
    let now = Instant::now();
    let mut client = End::new(Side::Client, config.clone(), now, down);
    let mut server = End::new(Side::Server, config, now, up);
    let mut ids = Vec::new();
    for s in 0..streams {
        let id = client.session.open_stream().expect("open");
        client.to_write.insert(id, content(s, up));
        client.received.insert(id, Vec::new());
        ids.push(id);
    }
    let mut server_replied = false;
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 1_000_000, "no progress");
        client.write_some();
        server.write_some();
        let mut moved = false;
        // The wire between them, in pieces the size of SSM payloads.
        while let Some(bytes) = client.session.poll_transmit(1024) {
            server.inbox.extend(bytes);
            moved = true;
        }
        while let Some(bytes) = server.session.poll_transmit(1024) {
            client.inbox.extend(bytes);
            moved = true;
        }
        let (before_s, before_c) = (server.inbox.len(), client.inbox.len());
        server.read_all(now);
        client.read_all(now);
        moved |= server.inbox.len() != before_s || client.inbox.len() != before_c;
        if !server_replied && ids.iter().all(|id| server.received.contains_key(id)) {
            for (s, id) in ids.iter().enumerate() {
                server.to_write.insert(*id, content(s + 100, down));
            }
            server_replied = true;
            moved = true;
        }
        let all_done = server_replied
            && ids.iter().all(|id| server.closed.contains(id) && client.closed.contains(id));
        if all_done && !moved {
            break;
        }
        assert!(
            all_done
                || moved
                || server.to_write.values().any(|d| !d.is_empty())
                || client.to_write.values().any(|d| !d.is_empty()),
            "stalled"
        );
    }
    for (s, id) in ids.iter().enumerate() {
        assert_eq!(
            Sha256::digest(&server.received[id]),
            Sha256::digest(content(s, up)),
            "{id} upload"
        );
        assert_eq!(
            Sha256::digest(&client.received[id]),
            Sha256::digest(content(s + 100, down)),
            "{id} download"
        );
    }
}

#[test]
fn eight_streams_v1_with_backpressure() {
    let config = SessionConfig {
        max_receive_buffer: 16 * 1024,
        max_stream_buffer: 8 * 1024,
        ..SessionConfig::default()
    };
    run(config, 8, 300_000, 200_000);
}

#[test]
fn eight_streams_v2_with_windows() {
    let config = SessionConfig {
        version: 2,
        max_receive_buffer: 64 * 1024,
        max_stream_buffer: 16 * 1024,
        ..SessionConfig::default()
    };
    run(config, 8, 300_000, 200_000);
}

#[test]
fn streams_share_the_wire_round_robin() {
    let now = Instant::now();
    let mut client = Session::new(
        Side::Client,
        SessionConfig { max_frame_size: 100, ..SessionConfig::default() },
        now,
    );
    let a = client.open_stream().unwrap();
    let b = client.open_stream().unwrap();
    client.write(a, &[1; 1000]).unwrap();
    client.write(b, &[2; 1000]).unwrap();
    let mut wire = Vec::new();
    while let Some(bytes) = client.poll_transmit(4096) {
        wire.extend(bytes);
    }
    // Walk the frames and record the order of PSH stream ids.
    let mut order = Vec::new();
    let mut decoder = ssm_protocol::smux::FrameDecoder::new(1);
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let (taken, frame) = decoder.decode(rest).unwrap();
        rest = &rest[taken..];
        if let Some(f) = frame.filter(|f| f.command == ssm_protocol::smux::Command::Psh) {
            order.push(f.stream_id);
        }
    }
    assert_eq!(order.len(), 20);
    for pair in order.chunks(2) {
        assert_ne!(pair[0], pair[1], "frames alternate between streams: {order:?}");
    }
}
