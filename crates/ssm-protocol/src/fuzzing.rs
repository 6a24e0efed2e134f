//! Bodies of the fuzz targets in `fuzz/`, kept here so that the property tests run the very
//! same checks on every `cargo test` and the fuzz crate stays a thin shell.
//!
//! Not part of the API: hidden from the docs and free to change.

use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::channel::{Channel, Config, Event, Role};
use crate::codec::{ClientMessage, Flags, MessageId, MessageType, PayloadType, SeqNum};
use crate::payload::{
    Acknowledge, ChannelClosed, EncryptionChallenge, ExitCode, HandshakeComplete, HandshakeRequest,
    HandshakeResponse, OpenDataChannel, PortFlag, TerminalSize,
};
use crate::smux::{self, Session, SessionConfig, Side};

/// Decoding arbitrary bytes never panics; whatever decodes re-encodes to bytes that decode to
/// the same message (decode ∘ encode is the identity on decoded messages).
pub fn decode_message(data: &[u8]) {
    if let Ok(message) = ClientMessage::decode(data) {
        // Invariant: a decoded payload is at most the frame's length, so it fits in 32 bits
        // whenever the frame came from a u32 length field.
        let encoded = message.encode().expect("a decoded payload always fits");
        let again = ClientMessage::decode(&encoded).expect("what we encode always decodes");
        assert_eq!(again, message, "re-encoding changed the message");
    }
}

/// The JSON parsers of handshake and acknowledgement payloads never panic, and what parses
/// serialises and parses back to the same value.
pub fn parse_json_payloads(data: &[u8]) {
    if let Ok(ack) = Acknowledge::from_bytes(data) {
        assert_eq!(Acknowledge::from_bytes(&ack.to_bytes()).ok(), Some(ack));
    }
    if let Ok(request) = HandshakeRequest::from_bytes(data) {
        for action in &request.requested_client_actions {
            let _ = action.kind();
        }
        let _ =
            crate::handshake::answer_request(&request, crate::handshake::CLIENT_VERSION, |_| {
                crate::handshake::KmsAnswer::Failed("fuzzing".into())
            });
        assert_eq!(HandshakeRequest::from_bytes(&request.to_bytes()).ok(), Some(request));
    }
    if let Ok(response) = HandshakeResponse::from_bytes(data) {
        assert_eq!(HandshakeResponse::from_bytes(&response.to_bytes()).ok(), Some(response));
    }
    if let Ok(complete) = HandshakeComplete::from_bytes(data) {
        assert_eq!(HandshakeComplete::from_bytes(&complete.to_bytes()).ok(), Some(complete));
    }
    if let Ok(closed) = ChannelClosed::from_bytes(data) {
        assert_eq!(ChannelClosed::from_bytes(&closed.to_bytes()).ok(), Some(closed));
    }
    if let Ok(challenge) = EncryptionChallenge::from_bytes(data) {
        assert_eq!(EncryptionChallenge::from_bytes(&challenge.to_bytes()).ok(), Some(challenge));
    }
    // The binary payloads: a terminal size, a port flag, an exit code.
    if let Ok(size) = TerminalSize::from_bytes(data) {
        assert_eq!(TerminalSize::from_bytes(&size.to_bytes()).ok(), Some(size));
    }
    if let Ok(flag) = PortFlag::from_bytes(data) {
        assert_eq!(PortFlag::from_bytes(&flag.to_bytes()).ok(), Some(flag));
    }
    let _ = ExitCode::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(open) = OpenDataChannel::from_json(text) {
            assert_eq!(OpenDataChannel::from_json(&open.to_json()).ok(), Some(open));
        }
    }
}

/// An smux session of either side and version fed arbitrary bytes in pieces, its streams read
/// (some closed) as it goes: no panic, the receive buffer and the stream count stay within
/// their limits, and everything it transmits decodes.
pub fn smux_session(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else { return };
    let side = if head & 1 == 0 { Side::Client } else { Side::Server };
    let config = SessionConfig {
        version: if head & 2 == 0 { 1 } else { 2 },
        max_receive_buffer: 16 * 1024,
        max_streams: 8,
        ..SessionConfig::default()
    };
    let (max_buffer, max_streams, version) =
        (config.max_receive_buffer, config.max_streams, config.version);
    let piece = usize::from(head >> 2) + 1;
    let now = Instant::now();
    let mut session = Session::new(side, config, now);
    if side == Side::Client {
        let _ = session.open_stream();
    }
    let mut inbox = rest;
    let mut buf = vec![0u8; 4096];
    let mut wire = Vec::new();
    for round in 0.. {
        let take = inbox.len().min(piece);
        let consumed = session.handle_bytes(now, &inbox[..take]);
        inbox = &inbox[consumed..];
        assert!(
            session.buffered_incoming() <= max_buffer + usize::from(u16::MAX),
            "the receive buffer outgrew its bound"
        );
        assert!(session.stream_count() <= max_streams + 1, "more streams than the cap");
        while let Some(event) = session.poll_event() {
            if let smux::Event::Opened(id) = event {
                let _ = session.write(id, b"hello");
            }
        }
        let ids: Vec<_> = session.stream_ids().collect();
        for (i, id) in ids.into_iter().enumerate() {
            while session.read(id, &mut buf).unwrap_or(0) > 0 {}
            if (i + round) % 3 == 0 {
                let _ = session.close_stream(id);
            }
        }
        while let Some(bytes) = session.poll_transmit(1024) {
            wire.extend(bytes);
        }
        if consumed == 0 && session.buffered_incoming() == 0
            || inbox.is_empty()
            || session.is_closed()
        {
            break;
        }
    }
    session.handle_timeout(now + Duration::from_secs(60));
    // What this end sends is well-formed smux.
    let mut decoder = smux::FrameDecoder::new(version);
    let mut rest = &wire[..];
    while !rest.is_empty() {
        let (taken, frame) = decoder.decode(rest).expect("what the session sends decodes");
        if taken == 0 || frame.is_none() {
            break;
        }
        rest = &rest[taken..];
    }
}

/// A client channel fed a hostile program of agent messages: sequence numbers near and far,
/// duplicates, gaps, oversized payloads, acknowledgements of nothing, channel_closed, garbage,
/// time passing, and an application that takes events or not. However it is fed, what it
/// delivers is each sequence number once, in order from 0.
pub fn channel_frames(data: &[u8]) {
    let t0 = Instant::now();
    // Limits scaled down (a 4 KiB payload cap, not 64 KiB) so that each run is cheap and the
    // limits are reached often.
    let config = Config {
        reorder_capacity: 16,
        reorder_bytes: 16 * 1024,
        receive_buffer: 32 * 1024,
        max_incoming_payload: 4096,
        ..Config::default()
    };
    let mut channel = Channel::new(Role::Client, config, t0, UNIX_EPOCH);
    let mut now = t0;
    let mut next_expected = 0i64;
    let mut highest_sent = -1i64;
    let mut last_frame: Option<Vec<u8>> = None;
    // 64 operations at most (each encodes and digests a message): with the limits below,
    // that is enough to overflow every one of them.
    for op in data.chunks_exact(4).take(64) {
        let (kind, a, b, c) = (op[0] % 8, op[1], op[2], op[3]);
        match kind {
            0 | 1 => {
                // A stream message: seq near the frontier (or far ahead), payload of c*8 bytes,
                // or (kind 1 with c odd) larger than the channel accepts.
                let delta = i64::from(i16::from_be_bytes([a, b]));
                let seq = (highest_sent + 1 + delta % 24).max(0);
                highest_sent = highest_sent.max(seq);
                let len = if kind == 1 && c % 2 == 1 {
                    4097 + usize::from(b)
                } else {
                    usize::from(c) * 8
                };
                let message = ClientMessage {
                    message_type: MessageType::OutputStreamData,
                    schema_version: 1,
                    created_date: 1,
                    sequence_number: SeqNum(seq),
                    flags: if seq == 0 { Flags::SYN } else { Flags::NONE },
                    message_id: MessageId::from_random(u128::from(u32::from_be_bytes([
                        op[0], a, b, c,
                    ]))),
                    payload_type: PayloadType::Output,
                    payload: vec![a; len],
                };
                let frame = message.encode().expect("small payloads encode");
                let _ = channel.handle_frame(now, &frame);
                last_frame = Some(frame);
            }
            2 => {
                if let Some(frame) = &last_frame {
                    let _ = channel.handle_frame(now, frame);
                }
            }
            3 => {
                let ack = Acknowledge {
                    message_type: "input_stream_data".into(),
                    message_id: String::new(),
                    sequence_number: i64::from(a),
                    is_sequential_message: true,
                };
                let message = ClientMessage {
                    message_type: MessageType::Acknowledge,
                    schema_version: 1,
                    created_date: 1,
                    sequence_number: SeqNum(0),
                    flags: Flags::SYN_FIN,
                    message_id: MessageId::from_random(u128::from(b)),
                    payload_type: PayloadType::None,
                    payload: ack.to_bytes(),
                };
                let _ = channel.handle_frame(now, &message.encode().expect("an ack encodes"));
                let _ = channel.send(now, PayloadType::Output, &[b; 16]);
            }
            4 => {
                let closed = ChannelClosed::default();
                let message = ClientMessage {
                    message_type: MessageType::ChannelClosed,
                    schema_version: 1,
                    created_date: 1,
                    sequence_number: SeqNum(0),
                    flags: Flags::SYN_FIN,
                    message_id: MessageId::from_random(u128::from(c)),
                    payload_type: PayloadType::None,
                    payload: closed.to_bytes(),
                };
                let _ =
                    channel.handle_frame(now, &message.encode().expect("channel_closed encodes"));
            }
            5 => {
                let _ = channel.handle_frame(now, &[a, b, c, a, b, c]);
            }
            6 => {
                now += Duration::from_millis(u64::from(a) * 10);
                channel.handle_timeout(now);
                if b % 16 == 0 {
                    channel.handle_link_down();
                    channel.handle_link_up(now);
                }
            }
            _ => {}
        }
        while channel.poll_transmit().is_some() {}
        // The application takes events on even bytes only: backpressure in between.
        if a % 2 == 0 {
            drain(&mut channel, &mut next_expected);
        }
    }
    drain(&mut channel, &mut next_expected);
}

fn drain(channel: &mut Channel, next_expected: &mut i64) {
    while let Some(event) = channel.poll_event() {
        if let Event::Message(message) = event {
            assert_eq!(
                message.sequence_number.0, *next_expected,
                "delivered out of order or twice"
            );
            *next_expected += 1;
        }
    }
}
