//! Airlock's engine, on tokio, over `ssm-protocol`: everything a user can do, for the CLI and
//! the desktop app to call.
//!
//! # Layout
//! - [`place`]: where a front end looks (a profile and region, or the demo fleet) and the
//!   rules that choose it, for the CLI and the app alike.
//! - [`aws`]: profiles, regions, endpoints; StartSession, ResumeSession, TerminateSession;
//!   who am I. [`aws_profiles`]: the profiles in `~/.aws/config` and what kind each is.
//! - [`network`]: how a place reaches AWS: trusted roots, proxies, TLS, the dial of every
//!   connection; [`doctor`]: the line-by-line check of that way.
//! - [`inventory`]: the node list and its filter (and what it lacks when permissions do).
//! - [`documents`]: Session documents and their typed parameters.
//! - [`datachannel`]: one task per session owning the WebSocket and the sans-IO
//!   `ssm_protocol::ClientSession`; where a byte from the WebSocket becomes session output.
//! - [`kms`]: the GenerateDataKey call of KMS-encrypted sessions.
//! - [`session`]: opening shells, commands, SSH bridges and pooled tunnels end to end.
//! - [`group`]: a saved profile's forwards, started and stopped together; [`rdp`]: the RDP
//!   client at a tunnel's end, and a Windows node's password (EC2 GetPasswordData).
//! - [`socks`]: a SOCKS5 proxy whose connections go through a node, a session per destination.
//! - [`transfer`]: file copy to and from a node through command sessions, digests compared.
//! - [`tunnel`]: local listeners whose connections travel as smux streams (or one at a time).
//! - [`terminal`]: a shell session as a terminal on screen sees it (stages, batched output,
//!   flow control); [`monitor`]: a running tunnel as a front end watches it.
//! - [`profiles`]: saved tunnel profiles; [`settings`]: the app's remembered choices;
//!   [`config_file`]: where both live and how they are written; [`instance`]: one desktop app
//!   per configuration.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod aws;
pub mod aws_profiles;
pub mod config_file;
pub mod credentials;
pub mod datachannel;
pub mod doctor;
pub mod documents;
pub mod group;
pub mod instance;
pub mod inventory;
pub mod kms;
pub mod logging;
pub mod monitor;
pub mod network;
pub mod place;
pub mod profiles;
pub mod rdp;
pub mod sentence;
pub mod session;
pub mod settings;
pub mod socks;
pub mod terminal;
pub mod transfer;
pub mod tunnel;
