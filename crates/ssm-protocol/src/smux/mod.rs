//! smux framing and multiplexed streams for port forwarding, sans-IO.
//!
//! In a multiplexed port session the `Output` payloads of the data channel form one continuous
//! byte stream in each direction, and that stream carries [xtaci/smux] frames (protocol.md 7.4).
//! This module owns the frame codec ([`Frame`], [`FrameDecoder`]) and one end of an smux
//! session ([`Session`]): stream ids, per-stream buffers, FIN handling, round-robin framing of
//! outgoing data, keep-alive timers and, for protocol version 2, per-stream windows (`UPD`).
//!
//! Like [`Channel`](crate::Channel) it does no I/O and reads no clock. The driver feeds it the
//! bytes delivered by the data channel ([`Session::handle_bytes`]), asks it for bytes to send
//! ([`Session::poll_transmit`]), and moves stream data with [`Session::write`] and
//! [`Session::read`]. Backpressure runs both ways: `write` accepts only what fits in the stream's
//! buffer (and, in v2, the peer's window), and `handle_bytes` stops consuming once the data
//! buffered for the application reaches `max_receive_buffer`; nothing the application can
//! still read is ever dropped.
//!
//! Closing is smux's: [`Session::close_stream`] closes a stream both ways, so what the peer
//! sends on it afterwards is read off the wire and dropped, and can never fill the receive
//! buffer and stall the other streams (smux has no half-close; the agent and the plugin both
//! close fully, see README "Tunnels"). A client session refuses the streams its peer opens, and
//! either side refuses streams beyond `max_streams`; a refused stream gets a `FIN` at once.
//!
//! Why not an existing crate: `async-smux` and `tokio-smux` each own their transport (an
//! `AsyncRead + AsyncWrite`) and spawn or poll tasks themselves. Here the transport is the payload
//! of a reliable SSM channel that this crate also drives deterministically in tests and in the
//! emulator, so they could only be wrapped with an in-memory duplex pipe and a runtime, and the
//! deterministic "nothing lost" tests would lose their grip on them. The frame format is eight
//! bytes and five commands, so the codec is small enough to own. (Not measured against them.)
//!
//! [xtaci/smux]: https://github.com/xtaci/smux

mod frame;
mod session;

pub use frame::*;
pub use session::*;
