//! Counters the emulator reports at `GET /_emulator/metrics`: data-channel frames and bytes each
//! way, resends by the agent end, and sessions running; and the addresses API calls and data
//! channels came from (a test learns from them whether a proxy carried them).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// Live counters, shared by every session and socket.
#[derive(Debug, Default)]
pub struct Metrics {
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    resends: AtomicU64,
    sessions_started: AtomicU64,
    sessions_active: AtomicU64,
    links_killed: AtomicU64,
    links_rate_limited: AtomicU64,
    peers: Mutex<Peers>,
}

/// The addresses connections came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Peers {
    /// Of API calls.
    pub api: BTreeSet<IpAddr>,
    /// Of data-channel sockets.
    pub data_channel: BTreeSet<IpAddr>,
}

/// A copy of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// Frames received from clients.
    pub frames_in: u64,
    /// Frames sent to clients.
    pub frames_out: u64,
    /// Bytes received from clients.
    pub bytes_in: u64,
    /// Bytes sent to clients.
    pub bytes_out: u64,
    /// Messages the agent end sent again.
    pub resends: u64,
    /// Session tasks started.
    pub sessions_started: u64,
    /// Session tasks running.
    pub sessions_active: u64,
    /// Sockets closed by the fault injector.
    pub links_killed: u64,
    /// Sockets closed because the client stayed above the message-rate limit.
    pub links_rate_limited: u64,
}

impl Metrics {
    pub(crate) fn frame_in(&self, bytes: usize) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn frame_out(&self, bytes: usize) {
        self.frames_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_resends(&self, n: u64) {
        self.resends.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn session_started(&self) {
        self.sessions_started.fetch_add(1, Ordering::Relaxed);
        self.sessions_active.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn session_ended(&self) {
        self.sessions_active.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn link_killed(&self) {
        self.links_killed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn link_rate_limited(&self) {
        self.links_rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn api_peer(&self, ip: IpAddr) {
        self.peers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).api.insert(ip);
    }

    pub(crate) fn data_channel_peer(&self, ip: IpAddr) {
        self.peers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .data_channel
            .insert(ip);
    }

    /// Where connections came from so far.
    pub fn peers(&self) -> Peers {
        self.peers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            frames_in: get(&self.frames_in),
            frames_out: get(&self.frames_out),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            resends: get(&self.resends),
            sessions_started: get(&self.sessions_started),
            sessions_active: get(&self.sessions_active),
            links_killed: get(&self.links_killed),
            links_rate_limited: get(&self.links_rate_limited),
        }
    }
}
