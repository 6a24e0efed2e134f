//! The AWS Session Manager data-channel protocol, sans-IO, for both ends.
//!
//! This crate makes every protocol decision (what to send, when to resend, what to deliver)
//! and does no I/O: no sockets, no tasks, no clock reads. Time comes in as `now: Instant`
//! arguments, randomness as seeds. Airlock's engine (`airlock-core`) drives it in the
//! [`Role::Client`] role over a real WebSocket; the emulator (`ssm-emulator`) drives it in the
//! [`Role::Agent`] role. Tests drive both with virtual time and a simulated link.
//!
//! ```text
//!                 +----------------------------------------------+
//!  WebSocket      |                  Channel                     |     session
//!  binary frame ->| handle_frame   codec::decode -> reorder/ack  |-> poll_event: Message(payload) in order,
//!                 |                                              |   Closed, Writable, ...
//!  binary frame <-| poll_transmit  codec::encode <- send window  |<- send / send_stream (bytes, size, flags)
//!  timer        ->| handle_timeout resend every due message      |
//!                 | poll_timeout   next resend / delivery budget |
//!                 +----------------------------------------------+
//!  payload bytes of PayloadType::Output  <->  smux::Session (port sessions)  <->  TCP streams
//!  HandshakeRequest / Response / Complete <->  handshake::answer_request / AgentHandshake
//! ```
//!
//! A driving loop, with the socket and timer left abstract:
//!
//! ```no_run
//! # use std::time::{Instant, SystemTime};
//! # use ssm_protocol::{Channel, Config, Event, Role};
//! # fn recv_frame() -> Option<Vec<u8>> { None }
//! # fn send_frame(_: Vec<u8>) {}
//! # fn arm_timer(_: Instant) {}
//! # fn timer_fired() -> bool { false }
//! # fn to_screen(_: &[u8]) {}
//! let mut channel = Channel::new(Role::Client, Config::default(), Instant::now(), SystemTime::now());
//! loop {
//!     let now = Instant::now();
//!     if let Some(frame) = recv_frame() {
//!         // A bad frame is dropped; its sender resends it.
//!         let _ = channel.handle_frame(now, &frame);
//!     }
//!     if timer_fired() {
//!         channel.handle_timeout(now);
//!     }
//!     while let Some(frame) = channel.poll_transmit() {
//!         send_frame(frame);
//!     }
//!     if let Some(deadline) = channel.poll_timeout() {
//!         arm_timer(deadline);
//!     }
//!     while let Some(event) = channel.poll_event() {
//!         match event {
//!             Event::Message(m) => to_screen(&m.payload),
//!             Event::Closed(_) => return,
//!             _ => {}
//!         }
//!     }
//! }
//! ```
//!
//! # Layout
//! - [`codec`]: the binary message, its header table, wire names and numbers.
//! - [`payload`]: JSON and binary payload shapes (acks, handshake, size, flags, exit code).
//! - [`channel`]: the state machine of one data channel (either role).
//! - `reliability` (private): send window, resend deadlines, reorder buffer.
//! - [`rtt`]: RTT/RTO estimation.
//! - [`handshake`]: answering and checking the handshake; version gates; session kinds.
//! - [`smux`]: smux frames and multiplexed streams for port forwarding.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod channel;
pub mod client;
pub mod codec;
pub mod handshake;
pub mod kms;
pub mod pacing;
pub mod payload;
mod reliability;
pub mod rtt;
pub mod smux;

#[doc(hidden)]
pub mod fuzzing;

pub use channel::{Channel, ChannelError, Config, Event, Role, Stats};
pub use client::{ClientConfig, ClientSession, SessionEnd, SessionEvent};
pub use codec::{ClientMessage, DecodeError, Flags, MessageId, MessageType, PayloadType, SeqNum};
pub use reliability::Delivered;
