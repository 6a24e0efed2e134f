//! Port-forwarding workloads, as the agent's port plugin runs them (protocol.md 7.3 to 7.5):
//!
//! - **mux** (agent newer than 3.0.196.0, client at least 1.1.70, `type` LocalPortForwarding):
//!   the agent is the smux server on the stream bytes; each stream the client opens dials the
//!   destination; a refused dial sends the ConnectToPortError flag and closes the stream. When
//!   either side of a stream ends, both are closed, as the agent's copy loops do.
//! - **basic** (older agents or clients): one TCP connection carried as raw bytes; the
//!   DisconnectToPort flag closes it and the next data dials again.
//! - **stdio** (no `type`, e.g. AWS-StartSSHSession): one connection; when the destination
//!   closes, the session ends.
//!
//! The destination is the `host` property (remote-host document) or localhost, at `portNumber`.

use std::collections::VecDeque;
use std::sync::Arc;

use smux_tcp::{Pump, PumpEvent, Traffic};
use ssm_protocol::handshake::{gates, AgentNegotiated, Version};
use ssm_protocol::payload::PortFlag;
use ssm_protocol::smux::{KeepAlive, SessionConfig, Side, StreamId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{agent_supports_mux, AgentSpec, Ending, WorkInput, WorkOutput};

/// The agent's largest stream payload.
const CHUNK: usize = 1024;

struct Target {
    host: String,
    port: u16,
}

/// Picks the variant and starts it.
pub(crate) fn start(
    spec: &AgentSpec,
    negotiated: Option<&AgentNegotiated>,
    input: mpsc::Receiver<WorkInput>,
    output: mpsc::Sender<WorkOutput>,
) -> Result<(), String> {
    let property =
        |name: &str| spec.properties.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let port = property("portNumber")
        .ok_or("the document gives no portNumber")?
        .parse::<u16>()
        .map_err(|_| "portNumber is not a port number".to_string())?;
    let target = Target {
        host: property("host").filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into()),
        port,
    };
    if let Some(address) = denied_address(&target) {
        return Err(format!("Forwarding to IP address {address} is forbidden."));
    }
    let forwarding =
        property("type").as_deref() == Some(ssm_protocol::handshake::LOCAL_PORT_FORWARDING);
    let client_mux = negotiated.is_some_and(|n| n.mux);
    if forwarding && client_mux && agent_supports_mux(&spec.agent_version) {
        // Agents after 3.1.1511.0 turn smux keep-alive off for clients after 1.2.331.0; older
        // agents always had it on.
        let modern_agent = spec
            .agent_version
            .parse::<Version>()
            .is_ok_and(|v| v.is_newer_than(&gates::agent_no_keep_alive()));
        let keep_alive = !modern_agent || negotiated.is_some_and(|n| n.keep_alive);
        tokio::spawn(run_mux(target, keep_alive, input, output));
    } else {
        tokio::spawn(run_single(target, !forwarding, input, output));
    }
    Ok(())
}

/// The instance-metadata, time-sync and DNS addresses the agent refuses to forward to
/// (its `DeniedPortForwardingRemoteIPs` default), checked once at session start.
const DENIED_ADDRESSES: [&str; 9] = [
    "169.254.169.254",
    "fd00:ec2::254",
    "169.254.169.253",
    "fd00:ec2::253",
    "169.254.169.123",
    "fd00:ec2::123",
    "169.254.169.250",
    "169.254.169.251",
    "fd00:ec2::240",
];

fn denied_address(target: &Target) -> Option<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    let addresses = (target.host.as_str(), target.port).to_socket_addrs().ok()?;
    addresses
        .map(|a| a.ip())
        .find(|ip| DENIED_ADDRESSES.iter().any(|d| d.parse::<std::net::IpAddr>().ok() == Some(*ip)))
}

async fn dial(target: &Target) -> std::io::Result<TcpStream> {
    TcpStream::connect((target.host.as_str(), target.port)).await
}

/// What the current connection's reader reports, tagged with its generation.
enum Internal {
    Read(u32, Vec<u8>),
    ReadEnd(u32),
}

/// Basic and stdio: one connection at a time.
async fn run_single(
    target: Target,
    stdio: bool,
    mut input: mpsc::Receiver<WorkInput>,
    output: mpsc::Sender<WorkOutput>,
) {
    // The generation tells a stale reader's end from the current one's.
    let (events_tx, mut events) = mpsc::channel::<Internal>(16);
    let mut generation = 0u32;
    let mut conn: Option<(tokio::net::tcp::OwnedWriteHalf, JoinHandle<()>)> = None;
    let connect = |generation: u32, stream: TcpStream| {
        let (mut read, write) = stream.into_split();
        let events = events_tx.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; CHUNK];
            loop {
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if events.send(Internal::Read(generation, buf[..n].to_vec())).await.is_err()
                        {
                            return;
                        }
                    }
                }
            }
            let _ = events.send(Internal::ReadEnd(generation)).await;
        });
        (write, reader)
    };
    // The agent dials at session start.
    match dial(&target).await {
        Ok(stream) => conn = Some(connect(generation, stream)),
        Err(_) if stdio => {
            let reason = format!("could not connect to {}:{}", target.host, target.port);
            let _ = output.send(WorkOutput::Ended(Ending::Failed(reason))).await;
            return;
        }
        Err(_) => {
            let _ = output.send(WorkOutput::Flag(PortFlag::ConnectToPortError)).await;
        }
    }
    // Output waiting for room in the session's queue (see run_mux).
    let mut outbox: VecDeque<WorkOutput> = VecDeque::new();
    loop {
        tokio::select! {
            permit = output.reserve(), if !outbox.is_empty() => match (permit, outbox.pop_front()) {
                (Ok(permit), Some(item)) => permit.send(item),
                _ => return,
            },
            item = input.recv() => match item {
                None => return,
                Some(WorkInput::Data(bytes)) => {
                    if conn.is_none() {
                        generation += 1;
                        match dial(&target).await {
                            Ok(stream) => conn = Some(connect(generation, stream)),
                            Err(_) => {
                                outbox.push_back(WorkOutput::Flag(PortFlag::ConnectToPortError));
                                continue;
                            }
                        }
                    }
                    if let Some((write, reader)) = &mut conn {
                        if write.write_all(&bytes).await.is_err() {
                            reader.abort();
                            conn = None;
                        }
                    }
                }
                Some(WorkInput::Flag(PortFlag::DisconnectToPort)) => {
                    if let Some((_, reader)) = conn.take() {
                        reader.abort();
                    }
                    // Reads the old reader queued before it stopped are stale from here.
                    generation += 1;
                    // What the closed connection said and the session has not taken yet is
                    // gone with it; the session drops what it holds up to this mark.
                    outbox.retain(|item| !matches!(item, WorkOutput::Data(_)));
                    outbox.push_back(WorkOutput::Disconnected);
                }
                Some(_) => {}
            },
            Some(event) = events.recv(), if outbox.len() < 4 => match event {
                Internal::Read(g, bytes) if g == generation => outbox.push_back(WorkOutput::Data(bytes)),
                Internal::ReadEnd(g) if g == generation => {
                    conn = None;
                    if stdio {
                        outbox.push_back(WorkOutput::Ended(Ending::Finished));
                    }
                }
                _ => {}
            },
        }
    }
}

/// The smux server: the pump of [`smux_tcp`] with a dial per stream the client opens.
async fn run_mux(
    target: Target,
    keep_alive: bool,
    mut input: mpsc::Receiver<WorkInput>,
    output: mpsc::Sender<WorkOutput>,
) {
    let config = SessionConfig {
        keep_alive: keep_alive.then(KeepAlive::default),
        ..SessionConfig::default()
    };
    let mut pump = Pump::new(Side::Server, config, Arc::new(Traffic::default()));
    let target = Arc::new(target);
    let (dialed_tx, mut dialed) = mpsc::channel::<(StreamId, std::io::Result<TcpStream>)>(16);
    // Output waiting for room in the session's queue. The loop never blocks on that queue: it
    // keeps taking the client's bytes meanwhile, or both ends could wait on each other.
    let mut outbox: VecDeque<WorkOutput> = VecDeque::new();
    loop {
        if outbox.is_empty() {
            outbox.extend(pump.poll_transmit(CHUNK).map(WorkOutput::Data));
        }
        tokio::select! {
            permit = output.reserve(), if !outbox.is_empty() => match (permit, outbox.pop_front()) {
                (Ok(permit), Some(item)) => permit.send(item),
                _ => return,
            },
            item = input.recv(), if pump.wants_bytes() => match item {
                None => return,
                Some(WorkInput::Data(bytes)) => pump.give_bytes(bytes),
                Some(_) => {}
            },
            Some((id, result)) = dialed.recv() => match result {
                Ok(stream) => pump.attach(id, stream),
                Err(_) => {
                    outbox.push_back(WorkOutput::Flag(PortFlag::ConnectToPortError));
                    pump.refuse(id);
                }
            },
            () = pump.wait() => {}
        }
        pump.progress();
        while let Some(event) = pump.poll_event() {
            match event {
                PumpEvent::Opened(id) => {
                    let target = target.clone();
                    let dialed = dialed_tx.clone();
                    tokio::spawn(async move {
                        let result = dial(&target).await;
                        let _ = dialed.send((id, result)).await;
                    });
                }
                PumpEvent::Ended(reason) => {
                    let _ =
                        output.send(WorkOutput::Ended(Ending::Failed(reason.to_string()))).await;
                    return;
                }
                PumpEvent::Closed(_) | PumpEvent::Refused(_) => {}
            }
        }
    }
}
