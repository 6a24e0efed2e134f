//! smux frames: the eight-byte header and its commands, encoded and decoded across
//! arbitrary splits of the byte stream.

use std::fmt;

/// Length of a frame header: version, command, length (u16 LE), stream id (u32 LE).
pub const HEADER_LEN: usize = 8;

/// Largest payload a frame can describe (its length field is 16 bits).
pub const MAX_FRAME_PAYLOAD: usize = u16::MAX as usize;

/// The window a v2 stream assumes its peer grants before the first `UPD` (smux's
/// `initialPeerWindow`).
pub const INITIAL_PEER_WINDOW: u32 = 262_144;

/// A frame command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// Open a stream.
    Syn,
    /// Close a stream (the sender will write no more).
    Fin,
    /// Stream data.
    Psh,
    /// Keep-alive; stream id 0, no data.
    Nop,
    /// Version 2 window update: `consumed: u32 LE, window: u32 LE`.
    Upd,
}

impl Command {
    /// The command's wire byte.
    pub fn to_byte(self) -> u8 {
        match self {
            Command::Syn => 0,
            Command::Fin => 1,
            Command::Psh => 2,
            Command::Nop => 3,
            Command::Upd => 4,
        }
    }

    /// The command for a wire byte, if it is one.
    pub fn from_byte(byte: u8) -> Option<Command> {
        Some(match byte {
            0 => Command::Syn,
            1 => Command::Fin,
            2 => Command::Psh,
            3 => Command::Nop,
            4 => Command::Upd,
            _ => return None,
        })
    }
}

/// The id of one stream in a session. Clients open odd ids from 3, servers even ids from 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u32);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stream {}", self.0)
    }
}

/// One smux frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Protocol version, 1 or 2.
    pub version: u8,
    /// What the frame does.
    pub command: Command,
    /// The stream it belongs to (0 for `NOP`).
    pub stream_id: StreamId,
    /// Data (`PSH`), the window update (`UPD`), or empty.
    pub data: Vec<u8>,
}

impl Frame {
    /// Appends the frame's bytes to `out`.
    ///
    /// # Panics
    /// If `data` is longer than [`MAX_FRAME_PAYLOAD`]; the session never builds such a frame.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let length = u16::try_from(self.data.len()).expect("frame payload longer than 65535 bytes");
        out.push(self.version);
        out.push(self.command.to_byte());
        out.extend_from_slice(&length.to_le_bytes());
        out.extend_from_slice(&self.stream_id.0.to_le_bytes());
        out.extend_from_slice(&self.data);
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.data.len());
        self.encode_into(&mut out);
        out
    }

    /// A `UPD` frame's `(consumed, window)`, if this is a well-formed one.
    pub fn window_update(&self) -> Option<(u32, u32)> {
        if self.command != Command::Upd || self.data.len() != 8 {
            return None;
        }
        let consumed = u32::from_le_bytes([self.data[0], self.data[1], self.data[2], self.data[3]]);
        let window = u32::from_le_bytes([self.data[4], self.data[5], self.data[6], self.data[7]]);
        Some((consumed, window))
    }

    pub(super) fn upd(version: u8, id: StreamId, consumed: u32, window: u32) -> Frame {
        let mut data = Vec::with_capacity(8);
        data.extend_from_slice(&consumed.to_le_bytes());
        data.extend_from_slice(&window.to_le_bytes());
        Frame { version, command: Command::Upd, stream_id: id, data }
    }
}

/// Why a byte stream is not smux. Each one ends the session, as it does in smux.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The version byte is not the session's version.
    #[error("smux frame has version {found}, the session speaks version {expected}")]
    BadVersion {
        /// The session's version.
        expected: u8,
        /// The frame's version byte.
        found: u8,
    },
    /// The command byte is not one of SYN, FIN, PSH, NOP, UPD (or UPD in a v1 session).
    #[error("smux frame has unknown command {0}")]
    BadCommand(u8),
    /// A `UPD` frame whose data is not eight bytes.
    #[error("smux window update carries {0} bytes instead of 8")]
    BadWindowUpdate(usize),
}

/// Splits a byte stream into frames, across any chunking of the input.
#[derive(Debug)]
pub struct FrameDecoder {
    version: u8,
    partial: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder for a session of the given version.
    pub fn new(version: u8) -> Self {
        FrameDecoder { version, partial: Vec::new() }
    }

    /// Takes bytes from `input` until one frame is complete or `input` is used up. Returns how
    /// many bytes it took and the frame, if one completed.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Option<Frame>), FrameError> {
        let mut taken = 0;
        if self.partial.len() < HEADER_LEN {
            let need = HEADER_LEN - self.partial.len();
            let take = need.min(input.len());
            self.partial.extend_from_slice(&input[..take]);
            taken += take;
            if self.partial.len() < HEADER_LEN {
                return Ok((taken, None));
            }
            self.check_header()?;
        }
        let length = usize::from(u16::from_le_bytes([self.partial[2], self.partial[3]]));
        let have = self.partial.len() - HEADER_LEN;
        let take = (length - have).min(input.len() - taken);
        self.partial.extend_from_slice(&input[taken..taken + take]);
        taken += take;
        if self.partial.len() < HEADER_LEN + length {
            return Ok((taken, None));
        }
        let bytes = std::mem::take(&mut self.partial);
        // Invariant: check_header accepted the command byte.
        let command = Command::from_byte(bytes[1]).expect("command checked with the header");
        let stream_id = StreamId(u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]));
        let frame =
            Frame { version: bytes[0], command, stream_id, data: bytes[HEADER_LEN..].to_vec() };
        if command == Command::Upd && frame.data.len() != 8 {
            return Err(FrameError::BadWindowUpdate(frame.data.len()));
        }
        Ok((taken, Some(frame)))
    }

    fn check_header(&self) -> Result<(), FrameError> {
        if self.partial[0] != self.version {
            return Err(FrameError::BadVersion { expected: self.version, found: self.partial[0] });
        }
        match Command::from_byte(self.partial[1]) {
            None => Err(FrameError::BadCommand(self.partial[1])),
            Some(Command::Upd) if self.version < 2 => Err(FrameError::BadCommand(self.partial[1])),
            Some(_) => Ok(()),
        }
    }

    /// Whether a frame is half-read.
    pub fn is_mid_frame(&self) -> bool {
        !self.partial.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_little_endian_as_in_smux() {
        let frame = Frame {
            version: 1,
            command: Command::Psh,
            stream_id: StreamId(3),
            data: b"hi".to_vec(),
        };
        assert_eq!(frame.encode(), [1, 2, 2, 0, 3, 0, 0, 0, b'h', b'i']);
    }

    #[test]
    fn decoder_reassembles_frames_split_at_every_byte() {
        let frames = [
            Frame { version: 1, command: Command::Syn, stream_id: StreamId(3), data: vec![] },
            Frame {
                version: 1,
                command: Command::Psh,
                stream_id: StreamId(3),
                data: (0..=255).collect(),
            },
            Frame { version: 1, command: Command::Fin, stream_id: StreamId(3), data: vec![] },
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        let mut decoder = FrameDecoder::new(1);
        let mut got = Vec::new();
        for byte in &bytes {
            let (taken, frame) = decoder.decode(std::slice::from_ref(byte)).unwrap();
            assert_eq!(taken, 1);
            got.extend(frame);
        }
        assert_eq!(got, frames);
    }

    #[test]
    fn bad_version_and_command_are_errors() {
        let mut decoder = FrameDecoder::new(1);
        assert_eq!(
            decoder.decode(&[2, 2, 0, 0, 3, 0, 0, 0]),
            Err(FrameError::BadVersion { expected: 1, found: 2 })
        );
        let mut decoder = FrameDecoder::new(1);
        assert_eq!(decoder.decode(&[1, 9, 0, 0, 3, 0, 0, 0]), Err(FrameError::BadCommand(9)));
        let mut decoder = FrameDecoder::new(1);
        assert_eq!(decoder.decode(&[1, 4, 8, 0, 3, 0, 0, 0]), Err(FrameError::BadCommand(4)));
        let mut decoder = FrameDecoder::new(2);
        assert_eq!(
            decoder.decode(&[2, 4, 1, 0, 3, 0, 0, 0, 7]),
            Err(FrameError::BadWindowUpdate(1))
        );
    }

    #[test]
    fn window_update_round_trips() {
        let frame = Frame::upd(2, StreamId(5), 1000, 65536);
        let mut decoder = FrameDecoder::new(2);
        let (_, decoded) = decoder.decode(&frame.encode()).unwrap();
        assert_eq!(decoded.unwrap().window_update(), Some((1000, 65536)));
    }
}
