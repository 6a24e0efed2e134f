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

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use ssm_protocol::handshake::{gates, AgentNegotiated, Version};
use ssm_protocol::payload::PortFlag;
use ssm_protocol::smux::{self, KeepAlive, SessionConfig, Side, StreamId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use super::{agent_supports_mux, AgentSpec, Ending, WorkInput, WorkOutput};

/// Bytes a stream may have read from its destination and not yet handed to smux.
const STREAM_CREDIT: usize = 64 * 1024;
/// One TCP read.
const READ_SIZE: usize = 16 * 1024;
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
    let property = |name: &str| spec.properties.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let port = property("portNumber")
        .ok_or("the document gives no portNumber")?
        .parse::<u16>()
        .map_err(|_| "portNumber is not a port number".to_string())?;
    let target = Target { host: property("host").filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into()), port };
    if let Some(address) = denied_address(&target) {
        return Err(format!("Forwarding to IP address {address} is forbidden."));
    }
    let forwarding = property("type").as_deref() == Some(ssm_protocol::handshake::LOCAL_PORT_FORWARDING);
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
const DENIED_ADDRESSES: [&str; 9] =
    ["169.254.169.254", "fd00:ec2::254", "169.254.169.253", "fd00:ec2::253", "169.254.169.123", "fd00:ec2::123", "169.254.169.250", "169.254.169.251", "fd00:ec2::240"];

fn denied_address(target: &Target) -> Option<std::net::IpAddr> {
    use std::net::ToSocketAddrs;
    let addresses = (target.host.as_str(), target.port).to_socket_addrs().ok()?;
    addresses.map(|a| a.ip()).find(|ip| DENIED_ADDRESSES.iter().any(|d| d.parse::<std::net::IpAddr>().ok() == Some(*ip)))
}

async fn dial(target: &Target) -> std::io::Result<TcpStream> {
    TcpStream::connect((target.host.as_str(), target.port)).await
}

/// What the connection tasks report.
enum Internal {
    Read(StreamId, Vec<u8>),
    ReadEnd(StreamId),
    Dialed(StreamId, std::io::Result<TcpStream>),
    /// A destination's writer made room in its queue: wakes a loop that holds client bytes it
    /// could not hand over (it has no other reason to wake when the destination only reads).
    Wrote,
}

/// Basic and stdio: one connection at a time.
async fn run_single(target: Target, stdio: bool, mut input: mpsc::Receiver<WorkInput>, output: mpsc::Sender<WorkOutput>) {
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
                        if events.send(Internal::Read(StreamId(generation), buf[..n].to_vec())).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = events.send(Internal::ReadEnd(StreamId(generation))).await;
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
                }
                Some(_) => {}
            },
            Some(event) = events.recv(), if outbox.len() < 4 => match event {
                Internal::Read(StreamId(g), bytes) if g == generation => outbox.push_back(WorkOutput::Data(bytes)),
                Internal::ReadEnd(StreamId(g)) if g == generation => {
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

struct StreamConn {
    writer: mpsc::Sender<Vec<u8>>,
    reader: JoinHandle<()>,
    credit: Arc<Semaphore>,
    /// Read from the destination, not yet taken by smux.
    pending: VecDeque<u8>,
    /// The destination closed; the stream closes once `pending` is taken.
    read_ended: bool,
}

/// The smux server.
async fn run_mux(target: Target, keep_alive: bool, mut input: mpsc::Receiver<WorkInput>, output: mpsc::Sender<WorkOutput>) {
    let config = SessionConfig { keep_alive: keep_alive.then(KeepAlive::default), ..SessionConfig::default() };
    let mut session = smux::Session::new(Side::Server, config, Instant::now());
    let target = Arc::new(target);
    let (events_tx, mut events) = mpsc::channel::<Internal>(64);
    let mut streams: HashMap<StreamId, StreamConn> = HashMap::new();
    // Client bytes smux could not take yet (its receive buffer is full).
    let mut inbox: Vec<u8> = Vec::new();
    // Output waiting for room in the session's queue. The loop never blocks on that queue: it
    // keeps taking the client's bytes meanwhile, or both ends could wait on each other.
    let mut outbox: VecDeque<WorkOutput> = VecDeque::new();
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        if outbox.is_empty() {
            outbox.extend(session.poll_transmit(CHUNK).map(WorkOutput::Data));
        }
        let timer = session.poll_timeout();
        tokio::select! {
            permit = output.reserve(), if !outbox.is_empty() => match (permit, outbox.pop_front()) {
                (Ok(permit), Some(item)) => permit.send(item),
                _ => return,
            },
            item = input.recv(), if inbox.is_empty() => match item {
                None => return,
                Some(WorkInput::Data(bytes)) => inbox = bytes,
                Some(_) => {}
            },
            Some(event) = events.recv() => match event {
                Internal::Dialed(id, Ok(stream)) => {
                    if !session.stream_ids().any(|s| s == id) {
                        continue;
                    }
                    let (mut read, mut write) = stream.into_split();
                    let credit = Arc::new(Semaphore::new(STREAM_CREDIT));
                    let (writer, mut writes) = mpsc::channel::<Vec<u8>>(16);
                    let wrote = events_tx.clone();
                    tokio::spawn(async move {
                        while let Some(bytes) = writes.recv().await {
                            if write.write_all(&bytes).await.is_err() {
                                break;
                            }
                            // A full event queue means the loop is awake anyway.
                            let _ = wrote.try_send(Internal::Wrote);
                        }
                    });
                    let events = events_tx.clone();
                    let reader_credit = credit.clone();
                    let reader = tokio::spawn(async move {
                        let mut buf = vec![0u8; READ_SIZE];
                        loop {
                            let Ok(permit) = reader_credit.acquire_many(READ_SIZE as u32).await else { break };
                            permit.forget();
                            match read.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    reader_credit.add_permits(READ_SIZE - n);
                                    if events.send(Internal::Read(id, buf[..n].to_vec())).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                        let _ = events.send(Internal::ReadEnd(id)).await;
                    });
                    streams.insert(id, StreamConn { writer, reader, credit, pending: VecDeque::new(), read_ended: false });
                }
                Internal::Dialed(id, Err(_)) => {
                    outbox.push_back(WorkOutput::Flag(PortFlag::ConnectToPortError));
                    let _ = session.close_stream(id);
                }
                Internal::Read(id, bytes) => {
                    if let Some(conn) = streams.get_mut(&id) {
                        conn.pending.extend(bytes);
                    }
                }
                Internal::ReadEnd(id) => {
                    // The destination closed: the stream closes (with the connection) once what
                    // was read from it is in smux.
                    if let Some(conn) = streams.get_mut(&id) {
                        conn.read_ended = true;
                    }
                }
                Internal::Wrote => {}
            },
            () = sleep_until(timer), if timer.is_some() => session.handle_timeout(Instant::now()),
        }
        // Feed smux, move data both ways, react to its events, until nothing changes.
        loop {
            let mut progressed = false;
            if !inbox.is_empty() {
                let consumed = session.handle_bytes(Instant::now(), &inbox);
                inbox.drain(..consumed);
                progressed |= consumed > 0;
            }
            let mut ended = Vec::new();
            for (id, conn) in streams.iter_mut() {
                if !conn.pending.is_empty() {
                    let (front, _) = conn.pending.as_slices();
                    let accepted = session.write(*id, front).unwrap_or(0);
                    conn.pending.drain(..accepted);
                    conn.credit.add_permits(accepted);
                    progressed |= accepted > 0;
                }
                let readable = session.readable_len(*id);
                if readable > 0 {
                    if let Ok(permit) = conn.writer.try_reserve() {
                        let n = session.read(*id, &mut buf).unwrap_or(0);
                        permit.send(buf[..n].to_vec());
                        progressed |= n > 0;
                    }
                }
                if conn.read_ended && conn.pending.is_empty() {
                    ended.push(*id);
                }
            }
            for id in ended {
                close(&mut session, &mut streams, id);
                progressed = true;
            }
            while let Some(event) = session.poll_event() {
                progressed = true;
                match event {
                    smux::Event::Opened(id) => {
                        let target = target.clone();
                        let events = events_tx.clone();
                        tokio::spawn(async move {
                            let result = dial(&target).await;
                            let _ = events.send(Internal::Dialed(id, result)).await;
                        });
                    }
                    smux::Event::Finished(id) => close(&mut session, &mut streams, id),
                    smux::Event::Closed(reason) => {
                        let _ = output.send(WorkOutput::Ended(Ending::Failed(reason.to_string()))).await;
                        return;
                    }
                    smux::Event::Readable(_) | smux::Event::Writable(_) => {}
                }
            }
            if !progressed {
                break;
            }
        }
    }
}

/// Closes a stream and its connection, as the agent does when either copy loop ends.
fn close(session: &mut smux::Session, streams: &mut HashMap<StreamId, StreamConn>, id: StreamId) {
    if let Some(conn) = streams.remove(&id) {
        conn.reader.abort();
        // Dropping the writer's sender lets it finish what it has, then drop the connection.
    }
    let _ = session.close_stream(id);
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
