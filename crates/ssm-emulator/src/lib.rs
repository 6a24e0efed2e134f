//! The far side of Session Manager, for tests, benchmarks and the demo fleet.
//!
//! # Layout
//! - [`agent`]: the agent end of the data channel (pty shells, port forwarding, handshake).
//! - [`faults`]: fault injection on the data channel.
//! - [`metrics`]: counters served at `/_emulator/metrics`.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod agent;
pub mod faults;
pub mod metrics;
