//! The binary `ClientMessage` (called `AgentMessage` in the agent): one WebSocket binary frame
//! holds exactly one. This module owns the header layout, the wire names and numbers, and the
//! checks a received frame must pass; it knows nothing of sequencing or payload contents
//! (`reliability` and `payload` own those).
//!
//! # Layout
//! All integers are big-endian. Offsets are fixed except that the payload starts at
//! `HeaderLength + 4`; writers always put 116.
//!
//! | offset | size | field           | notes                                                       |
//! |-------:|-----:|-----------------|-------------------------------------------------------------|
//! |      0 |    4 | HeaderLength    | u32, 116 (= offset of PayloadLength)                        |
//! |      4 |   32 | MessageType     | ASCII, right-padded with spaces (0x20)                      |
//! |     36 |    4 | SchemaVersion   | u32, 1                                                      |
//! |     40 |    8 | CreatedDate     | u64, Unix epoch milliseconds, non-zero                      |
//! |     48 |    8 | SequenceNumber  | i64                                                         |
//! |     56 |    8 | Flags           | u64, bit 0 SYN, bit 1 FIN                                   |
//! |     64 |   16 | MessageId       | UUID with its two 8-byte halves swapped                     |
//! |     80 |   32 | PayloadDigest   | SHA-256 of the payload                                      |
//! |    112 |    4 | PayloadType     | u32, absent when HeaderLength is 112 (seen from the service)|
//! |    116 |    4 | PayloadLength   | u32                                                         |
//! |    120 |    n | Payload         |                                                             |
//!
//! Sources: plugin `src/message/clientmessage.go` (the offsets table) and
//! `src/message/messageparser.go` (`getUuid`/`putUuid` for the swapped halves); agent
//! `agent/session/contracts/agentmessage.go`. See also `shared/protocol.md` §3.
//!
//! # What the decoder accepts
//! It parses fully before returning (no separate `validate`): the header length must be 112 or
//! more and leave room for the payload-length field, the payload length must equal the bytes
//! that follow, the digest must match a non-empty payload, the type must be ASCII, the created
//! date non-zero. Two quirks of the live service are tolerated, because a client that rejected
//! them would drop real sessions: `start_publication`/`pause_publication` may carry a wrong
//! length and digest (both ignored for those two types), and a message type may be padded with
//! NUL bytes on either side.

use std::fmt;

use sha2::{Digest as _, Sha256};

/// Length of the fixed header up to and including PayloadType; the value writers put in
/// HeaderLength (it counts the field itself but not PayloadLength).
pub const HEADER_LENGTH: u32 = 0x74;
/// Header length of service-originated messages that leave out PayloadType.
pub const SHORT_HEADER_LENGTH: u32 = 0x70;
/// Bytes before the payload of a message written by Airlock.
pub const ENCODED_OVERHEAD: usize = HEADER_LENGTH as usize + 4;
/// Largest payload the protocol's length field can describe.
pub const MAX_PAYLOAD_LENGTH: usize = u32::MAX as usize;

const TYPE_FIELD_LENGTH: usize = 32;
const OFFSET_MESSAGE_TYPE: usize = 0x04;
const OFFSET_SCHEMA_VERSION: usize = 0x24;
const OFFSET_CREATED_DATE: usize = 0x28;
const OFFSET_SEQUENCE_NUMBER: usize = 0x30;
const OFFSET_FLAGS: usize = 0x38;
const OFFSET_MESSAGE_ID: usize = 0x40;
const OFFSET_PAYLOAD_DIGEST: usize = 0x50;
const OFFSET_PAYLOAD_TYPE: usize = 0x70;

/// One decoded binary message of the data channel.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientMessage {
    /// What kind of message this is; decides how the rest is read.
    pub message_type: MessageType,
    /// Always 1 on the wire today.
    pub schema_version: u32,
    /// Unix epoch milliseconds at the sender.
    pub created_date: u64,
    /// The sender's stream sequence number; 0 for unsequenced messages (acks, control).
    pub sequence_number: SeqNum,
    /// SYN/FIN bits.
    pub flags: Flags,
    /// Opaque id, echoed in acknowledgements.
    pub message_id: MessageId,
    /// How to read the payload.
    pub payload_type: PayloadType,
    /// The payload bytes (may be empty).
    pub payload: Vec<u8>,
}

impl ClientMessage {
    /// Appends the wire form of this message to `out`.
    ///
    /// Fails only when the payload is longer than the length field can say (4 GiB).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let payload_length = u32::try_from(self.payload.len())
            .map_err(|_| EncodeError::PayloadTooLarge { length: self.payload.len() })?;
        out.reserve(ENCODED_OVERHEAD + self.payload.len());
        out.extend_from_slice(&HEADER_LENGTH.to_be_bytes());
        let name = self.message_type.as_str().as_bytes();
        out.extend_from_slice(name);
        out.extend(std::iter::repeat_n(b' ', TYPE_FIELD_LENGTH - name.len()));
        out.extend_from_slice(&self.schema_version.to_be_bytes());
        out.extend_from_slice(&self.created_date.to_be_bytes());
        out.extend_from_slice(&self.sequence_number.0.to_be_bytes());
        out.extend_from_slice(&self.flags.0.to_be_bytes());
        out.extend_from_slice(&self.message_id.to_wire());
        out.extend_from_slice(&Sha256::digest(&self.payload));
        out.extend_from_slice(&self.payload_type.to_u32().to_be_bytes());
        out.extend_from_slice(&payload_length.to_be_bytes());
        out.extend_from_slice(&self.payload);
        Ok(())
    }

    /// The wire form of this message.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Parses one whole frame. Never panics, whatever the input.
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        let header_length =
            read_u32(frame, 0).ok_or(DecodeError::TooShort { length: frame.len() })?;
        // The payload length field sits at `header_length` and the payload after it; both
        // must lie inside the frame, and the fixed fields before 112 must be present.
        let payload_start = (header_length as usize).checked_add(4);
        let header_fits = header_length >= SHORT_HEADER_LENGTH
            && payload_start.is_some_and(|start| start <= frame.len());
        if !header_fits {
            if frame.len() < ENCODED_OVERHEAD {
                return Err(DecodeError::TooShort { length: frame.len() });
            }
            return Err(DecodeError::HeaderLengthOutOfRange { header_length });
        }
        let payload_start = header_length as usize + 4;

        let message_type =
            MessageType::from_field(&frame[OFFSET_MESSAGE_TYPE..OFFSET_SCHEMA_VERSION])?;
        // Fixed offsets below 112 are inside the frame: header_length >= 112 was checked above.
        let schema_version = read_u32(frame, OFFSET_SCHEMA_VERSION).unwrap_or_default();
        let created_date = read_u64(frame, OFFSET_CREATED_DATE).unwrap_or_default();
        let sequence_number =
            SeqNum(read_u64(frame, OFFSET_SEQUENCE_NUMBER).unwrap_or_default() as i64);
        let flags = Flags(read_u64(frame, OFFSET_FLAGS).unwrap_or_default());
        let mut id = [0u8; 16];
        id.copy_from_slice(&frame[OFFSET_MESSAGE_ID..OFFSET_PAYLOAD_DIGEST]);
        let message_id = MessageId::from_wire(id);
        let digest = &frame[OFFSET_PAYLOAD_DIGEST..OFFSET_PAYLOAD_TYPE];
        let payload_type = if header_length >= HEADER_LENGTH {
            PayloadType::from_u32(read_u32(frame, OFFSET_PAYLOAD_TYPE).unwrap_or_default())
        } else {
            PayloadType::None
        };
        let declared_length = read_u32(frame, header_length as usize).unwrap_or_default();
        let payload = &frame[payload_start..];

        if created_date == 0 {
            return Err(DecodeError::Malformed { what: "CreatedDate is zero" });
        }
        // The service is seen to send publication messages with a wrong length and digest
        // (protocol.md §3.1); they carry no payload anyone reads, so those checks are skipped.
        if !message_type.is_publication() {
            if declared_length as usize != payload.len() {
                return Err(DecodeError::LengthMismatch {
                    declared: declared_length,
                    actual: payload.len(),
                });
            }
            // As the plugin does, an empty payload's digest is not checked.
            if !payload.is_empty() && Sha256::digest(payload).as_slice() != digest {
                return Err(DecodeError::DigestMismatch);
            }
        }

        Ok(ClientMessage {
            message_type,
            schema_version,
            created_date,
            sequence_number,
            flags,
            message_id,
            payload_type,
            payload: payload.to_vec(),
        })
    }
}

impl fmt::Debug for ClientMessage {
    // Payloads may hold keystrokes (passwords); show their size, not their bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientMessage")
            .field("message_type", &self.message_type)
            .field("sequence_number", &self.sequence_number)
            .field("flags", &self.flags)
            .field("message_id", &self.message_id)
            .field("payload_type", &self.payload_type)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let field = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(field.try_into().ok()?))
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let field = bytes.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(field.try_into().ok()?))
}

/// Why a frame could not be decoded. Every variant is the peer's (or the network's) fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the smallest header.
    #[error("message too short: {length} bytes, a header alone is 120")]
    TooShort {
        /// Bytes received.
        length: usize,
    },
    /// HeaderLength points outside the frame or inside the fixed fields.
    #[error("header length {header_length} is out of range")]
    HeaderLengthOutOfRange {
        /// The value read from the wire.
        header_length: u32,
    },
    /// PayloadLength disagrees with the bytes that follow the header.
    #[error("payload length field says {declared} bytes but {actual} follow")]
    LengthMismatch {
        /// PayloadLength from the header.
        declared: u32,
        /// Bytes actually present.
        actual: usize,
    },
    /// SHA-256 of the payload differs from PayloadDigest.
    #[error("payload digest does not match its SHA-256")]
    DigestMismatch,
    /// The message type field is not ASCII text.
    #[error("message type is not valid ASCII text")]
    BadMessageType,
    /// Any other violation of the layout.
    #[error("malformed message: {what}")]
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload does not fit the 32-bit length field.
    #[error("payload of {length} bytes exceeds the 4 GiB the length field can hold")]
    PayloadTooLarge {
        /// Payload length asked for.
        length: usize,
    },
}

/// The message type names of the data channel (32-byte field on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// Client → agent stream data.
    InputStreamData,
    /// Agent → client stream data.
    OutputStreamData,
    /// Acknowledgement of one stream message, either direction.
    Acknowledge,
    /// The service closed the channel (sent to both ends).
    ChannelClosed,
    /// The service says the peer's channel became active.
    StartPublication,
    /// The service says the peer's channel became inactive.
    PausePublication,
    /// Any other name (agent ⇄ service messages such as `agent_session_state`). At most 32 ASCII
    /// bytes, without padding.
    Other(WireName),
}

impl MessageType {
    /// The name as written on the wire (before padding).
    pub fn as_str(&self) -> &str {
        match self {
            MessageType::InputStreamData => "input_stream_data",
            MessageType::OutputStreamData => "output_stream_data",
            MessageType::Acknowledge => "acknowledge",
            MessageType::ChannelClosed => "channel_closed",
            MessageType::StartPublication => "start_publication",
            MessageType::PausePublication => "pause_publication",
            MessageType::Other(name) => name.as_str(),
        }
    }

    /// Whether this is one of the two publication notices, whose length and digest the
    /// service does not keep right.
    pub fn is_publication(&self) -> bool {
        matches!(self, MessageType::StartPublication | MessageType::PausePublication)
    }

    /// Parses a bare name (no padding).
    pub fn from_name(name: &str) -> Result<Self, DecodeError> {
        Ok(match name {
            "input_stream_data" => MessageType::InputStreamData,
            "output_stream_data" => MessageType::OutputStreamData,
            "acknowledge" => MessageType::Acknowledge,
            "channel_closed" => MessageType::ChannelClosed,
            "start_publication" => MessageType::StartPublication,
            "pause_publication" => MessageType::PausePublication,
            other => MessageType::Other(WireName::new(other)?),
        })
    }

    fn from_field(field: &[u8]) -> Result<Self, DecodeError> {
        if !field.is_ascii() {
            return Err(DecodeError::BadMessageType);
        }
        // Writers pad with spaces; the service has been seen padding with NULs, and one
        // third-party client pads on the left. Trimming both covers all three.
        let text = std::str::from_utf8(field)
            .map_err(|_| DecodeError::BadMessageType)?
            .trim_matches(|c: char| c == '\0' || c.is_ascii_whitespace());
        if text.is_empty() {
            return Err(DecodeError::Malformed { what: "MessageType is empty" });
        }
        Self::from_name(text)
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message type name outside the known set: 1 to 32 printable ASCII bytes, no padding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WireName(String);

impl WireName {
    /// Checks that `name` fits the 32-byte type field.
    pub fn new(name: &str) -> Result<Self, DecodeError> {
        let printable = name.bytes().all(|b| b.is_ascii_graphic());
        if name.is_empty() || name.len() > TYPE_FIELD_LENGTH || !printable {
            return Err(DecodeError::BadMessageType);
        }
        Ok(WireName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a payload holds (u32 on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadType {
    /// 0: acknowledgements and control messages.
    None,
    /// 1: stream bytes, both ways (keystrokes, shell output, tunnel bytes).
    Output,
    /// 2: defined by the protocol, unused.
    Error,
    /// 3: terminal size JSON, client → agent.
    Size,
    /// 4: defined by the protocol, unused.
    Parameter,
    /// 5: handshake request JSON, agent → client.
    HandshakeRequest,
    /// 6: handshake response JSON, client → agent.
    HandshakeResponse,
    /// 7: handshake complete JSON, agent → client.
    HandshakeComplete,
    /// 8: KMS challenge request JSON, agent → client.
    EncChallengeRequest,
    /// 9: KMS challenge response JSON, client → agent.
    EncChallengeResponse,
    /// 10: a 4-byte big-endian flag, both ways.
    Flag,
    /// 11: standard error of a non-interactive command, agent → client.
    StdErr,
    /// 12: `EXIT_CODE: <n>` text, agent → client.
    ExitCode,
    /// A number this crate does not know; kept so the message can be passed on or ignored.
    Unknown(u32),
}

impl PayloadType {
    /// The wire number.
    pub fn to_u32(self) -> u32 {
        match self {
            PayloadType::None => 0x00,
            PayloadType::Output => 0x01,
            PayloadType::Error => 0x02,
            PayloadType::Size => 0x03,
            PayloadType::Parameter => 0x04,
            PayloadType::HandshakeRequest => 0x05,
            PayloadType::HandshakeResponse => 0x06,
            PayloadType::HandshakeComplete => 0x07,
            PayloadType::EncChallengeRequest => 0x08,
            PayloadType::EncChallengeResponse => 0x09,
            PayloadType::Flag => 0x0a,
            PayloadType::StdErr => 0x0b,
            PayloadType::ExitCode => 0x0c,
            PayloadType::Unknown(n) => n,
        }
    }

    /// Reads a wire number; unknown numbers are kept as [`PayloadType::Unknown`].
    pub fn from_u32(n: u32) -> Self {
        match n {
            0x00 => PayloadType::None,
            0x01 => PayloadType::Output,
            0x02 => PayloadType::Error,
            0x03 => PayloadType::Size,
            0x04 => PayloadType::Parameter,
            0x05 => PayloadType::HandshakeRequest,
            0x06 => PayloadType::HandshakeResponse,
            0x07 => PayloadType::HandshakeComplete,
            0x08 => PayloadType::EncChallengeRequest,
            0x09 => PayloadType::EncChallengeResponse,
            0x0a => PayloadType::Flag,
            0x0b => PayloadType::StdErr,
            0x0c => PayloadType::ExitCode,
            other => PayloadType::Unknown(other),
        }
    }
}

/// The header's flag bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(pub u64);

impl Flags {
    /// No bits set: every stream message but the first.
    pub const NONE: Flags = Flags(0x0);
    /// First message of a stream (the agent sets it on sequence 0).
    pub const SYN: Flags = Flags(0x1);
    /// Last message of a stream.
    pub const FIN: Flags = Flags(0x2);
    /// SYN|FIN: what acknowledgements and `channel_closed` carry.
    pub const SYN_FIN: Flags = Flags(0x3);

    /// Whether every bit of `other` is set here.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// A stream sequence number. Each direction counts its own from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SeqNum(pub i64);

impl SeqNum {
    /// The number after this one.
    pub fn next(self) -> SeqNum {
        SeqNum(self.0.wrapping_add(1))
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A message id: a UUID, kept in RFC 4122 byte order.
///
/// On the wire the two 8-byte halves are swapped (least significant half first), as the
/// plugin's `putUuid`/`getUuid` do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MessageId(pub [u8; 16]);

impl MessageId {
    /// The 16 wire bytes.
    pub fn to_wire(self) -> [u8; 16] {
        let mut wire = [0u8; 16];
        wire[..8].copy_from_slice(&self.0[8..]);
        wire[8..].copy_from_slice(&self.0[..8]);
        wire
    }

    /// Reads the 16 wire bytes.
    pub fn from_wire(wire: [u8; 16]) -> Self {
        let mut uuid = [0u8; 16];
        uuid[..8].copy_from_slice(&wire[8..]);
        uuid[8..].copy_from_slice(&wire[..8]);
        MessageId(uuid)
    }

    /// Builds a version-4 (random) UUID from 128 bits the caller drew.
    pub fn from_random(bits: u128) -> Self {
        let mut bytes = bits.to_be_bytes();
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        MessageId(bytes)
    }

    /// Parses the hyphenated form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        let mut nibbles = 0;
        for (i, &c) in bytes.iter().enumerate() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if c != b'-' {
                    return None;
                }
                continue;
            }
            let value = (c as char).to_digit(16)? as u8;
            out[nibbles / 2] |= value << if nibbles % 2 == 0 { 4 } else { 0 };
            nibbles += 1;
        }
        Some(MessageId(out))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(payload: &[u8]) -> ClientMessage {
        ClientMessage {
            message_type: MessageType::InputStreamData,
            schema_version: 1,
            created_date: 1_763_812_345_678,
            sequence_number: SeqNum(7),
            flags: Flags::NONE,
            message_id: MessageId::from_random(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
            payload_type: PayloadType::Output,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn message_id_halves_are_swapped_on_the_wire() {
        let id = MessageId::parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0").expect("valid uuid");
        assert_eq!(
            id.to_wire(),
            [
                0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a,
                0x69, 0x78
            ],
            "protocol.md §3.1 gives this exact byte order for this UUID"
        );
        assert_eq!(MessageId::from_wire(id.to_wire()), id, "from_wire undoes to_wire");
        assert_eq!(
            id.to_string(),
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
            "Display gives back the parsed text"
        );
    }

    #[test]
    fn every_prefix_of_a_message_is_rejected_without_panic() {
        let frame = sample(b"hello").encode().expect("small payload");
        for len in 0..frame.len() {
            assert!(
                ClientMessage::decode(&frame[..len]).is_err(),
                "a frame cut to {len} bytes must not decode"
            );
        }
        assert!(ClientMessage::decode(&frame).is_ok(), "the whole frame decodes");
    }

    #[test]
    fn trailing_bytes_are_a_length_mismatch() {
        let mut frame = sample(b"abc").encode().expect("small payload");
        frame.push(0);
        assert_eq!(
            ClientMessage::decode(&frame),
            Err(DecodeError::LengthMismatch { declared: 3, actual: 4 }),
            "bytes after the declared payload are not silently ignored"
        );
    }

    #[test]
    fn a_flipped_payload_bit_fails_the_digest() {
        let mut frame = sample(b"abc").encode().expect("small payload");
        let last = frame.len() - 1;
        frame[last] ^= 0x01;
        assert_eq!(ClientMessage::decode(&frame), Err(DecodeError::DigestMismatch));
    }

    #[test]
    fn header_length_pointing_past_the_frame_is_out_of_range() {
        let mut frame = sample(b"abc").encode().expect("small payload");
        frame[..4].copy_from_slice(&1000u32.to_be_bytes());
        assert_eq!(
            ClientMessage::decode(&frame),
            Err(DecodeError::HeaderLengthOutOfRange { header_length: 1000 })
        );
        frame[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            ClientMessage::decode(&frame),
            Err(DecodeError::HeaderLengthOutOfRange { header_length: u32::MAX }),
            "HL + 4 overflowing 32 bits must not wrap around"
        );
    }

    #[test]
    fn non_ascii_type_is_rejected() {
        let mut frame = sample(b"").encode().expect("empty payload");
        frame[4] = 0xc3;
        frame[5] = 0xa9;
        assert_eq!(ClientMessage::decode(&frame), Err(DecodeError::BadMessageType));
    }

    #[test]
    fn empty_payload_is_legal() {
        let message = sample(b"");
        let frame = message.encode().expect("empty payload");
        assert_eq!(frame.len(), ENCODED_OVERHEAD, "no payload bytes follow the header");
        assert_eq!(ClientMessage::decode(&frame).as_ref(), Ok(&message));
    }

    #[test]
    fn short_header_channel_closed_from_the_service_is_read() {
        // HL 112: no PayloadType field; PayloadLength sits at 112 (protocol.md §3.1, gimlet).
        let payload = br#"{"Output":"bye"}"#;
        let full = ClientMessage {
            message_type: MessageType::ChannelClosed,
            flags: Flags::SYN_FIN,
            sequence_number: SeqNum(0),
            payload_type: PayloadType::None,
            ..sample(payload)
        }
        .encode()
        .expect("small payload");
        let mut short = full[..OFFSET_PAYLOAD_TYPE].to_vec();
        short[..4].copy_from_slice(&SHORT_HEADER_LENGTH.to_be_bytes());
        short.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        short.extend_from_slice(payload);
        let decoded = ClientMessage::decode(&short).expect("service quirk is tolerated");
        assert_eq!(decoded.message_type, MessageType::ChannelClosed);
        assert_eq!(decoded.payload_type, PayloadType::None);
        assert_eq!(decoded.payload, payload, "payload is found after the short header");
    }

    #[test]
    fn publication_messages_skip_length_and_digest() {
        let mut frame =
            ClientMessage { message_type: MessageType::StartPublication, ..sample(b"x") }
                .encode()
                .expect("small payload");
        // Little-endian length and a zeroed digest, as observed from the service.
        frame[116..120].copy_from_slice(&1u32.to_le_bytes());
        frame[OFFSET_PAYLOAD_DIGEST..OFFSET_PAYLOAD_TYPE].fill(0);
        let decoded = ClientMessage::decode(&frame).expect("publication quirks are tolerated");
        assert_eq!(decoded.message_type, MessageType::StartPublication);
    }

    #[test]
    fn nul_padded_type_is_trimmed() {
        let mut frame = ClientMessage { message_type: MessageType::ChannelClosed, ..sample(b"{}") }
            .encode()
            .expect("small payload");
        for b in &mut frame[OFFSET_MESSAGE_TYPE..OFFSET_SCHEMA_VERSION] {
            if *b == b' ' {
                *b = 0;
            }
        }
        assert_eq!(
            ClientMessage::decode(&frame).map(|m| m.message_type),
            Ok(MessageType::ChannelClosed)
        );
    }

    #[test]
    fn zero_created_date_is_malformed() {
        let frame =
            ClientMessage { created_date: 0, ..sample(b"a") }.encode().expect("small payload");
        assert!(matches!(ClientMessage::decode(&frame), Err(DecodeError::Malformed { .. })));
    }

    #[test]
    fn unknown_types_round_trip() {
        let message = ClientMessage {
            message_type: MessageType::from_name("agent_session_state").expect("valid name"),
            payload_type: PayloadType::Unknown(0x99),
            ..sample(b"{}")
        };
        let frame = message.encode().expect("small payload");
        assert_eq!(ClientMessage::decode(&frame), Ok(message));
    }
}
