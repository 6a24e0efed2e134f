//! Airlock's engine, on tokio, over `ssm-protocol`: everything a user can do, for the CLI and
//! the desktop app to call.
//!
//! # Layout
//! - [`aws`]: profiles, regions, endpoints; StartSession, ResumeSession, TerminateSession.
//! - [`inventory`]: the node list and its filter.
//! - [`datachannel`]: one task per session owning the WebSocket and the protocol state; where a
//!   byte from the WebSocket becomes session output.
//! - [`tunnel`]: local listeners whose connections travel as smux streams (or one at a time).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod aws;
pub mod datachannel;
pub mod inventory;
pub mod tunnel;
