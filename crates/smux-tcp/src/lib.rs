//! TCP connections carried as the streams of one smux session ([`ssm_protocol::smux`]), with
//! tokio: the loop around the sans-IO session that both ends of a multiplexed tunnel run.
//! Airlock's tunnel is the client (a stream per accepted local connection); the emulator's
//! agent is the server (a stream per `SYN`, dialled onwards).
//!
//! A [`Pump`] owns the session and the connections. Each connection has a reader task, with a
//! credit of bytes it may read ahead of what smux has taken (so one busy connection cannot
//! starve the others or grow memory), and a writer task with a short queue. Closing is smux's
//! and the agent's: when either direction of a connection ends (the connection's end of file
//! or error, the peer's `FIN`, a write that fails because the connection is gone), the stream
//! and the connection close both ways, and whatever still arrives for the stream is dropped
//! by the session, so it never holds the receive buffer the other streams share.
//!
//! # Driving it
//! The owner's loop `select!`s on its own sources and on [`Pump::wait`]; it hands the data
//! channel's bytes to [`Pump::give_bytes`] when [`Pump::wants_bytes`], sends what
//! [`Pump::poll_transmit`] returns, and after every wake-up calls [`Pump::progress`] and takes
//! [`Pump::poll_event`] until `None`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ssm_protocol::smux::{self, CloseReason, SessionConfig, Side, StreamError, StreamId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

/// Bytes a connection may read ahead of what smux has taken.
pub const CONNECTION_CREDIT: usize = 64 * 1024;
/// One read from a connection, and the most bytes handed to a writer at once.
pub const READ_SIZE: usize = 16 * 1024;
/// Chunks a connection's writer holds before the pump waits for it.
const WRITER_QUEUE: usize = 16;

/// Bytes moved between the connections and the session, counted as they move.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Read from the connections (into the session).
    pub from_connections: AtomicU64,
    /// Written to the connections (out of the session).
    pub to_connections: AtomicU64,
}

/// What the pump tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PumpEvent {
    /// The peer opened a stream (server side): [`Pump::attach`] a connection to it, or
    /// [`Pump::refuse`] it.
    Opened(StreamId),
    /// A stream and its connection are closed.
    Closed(StreamId),
    /// The peer opened a stream this end does not take (a client takes none); it was closed.
    Refused(StreamId),
    /// The smux session ended; nothing follows.
    Ended(CloseReason),
}

enum Internal {
    Read(StreamId, Vec<u8>),
    ReadEnd(StreamId),
    /// A writer made room in its queue. The pump may hold output for that connection it could
    /// not hand over; this wakes it (it has no other reason to wake when a connection only
    /// receives).
    Wrote,
}

struct Connection {
    writer: mpsc::Sender<Vec<u8>>,
    reader: JoinHandle<()>,
    credit: Arc<Semaphore>,
    /// Read from the connection, not yet taken by smux.
    pending: VecDeque<u8>,
    read_ended: bool,
}

/// The session and its connections; see the crate documentation.
pub struct Pump {
    mux: smux::Session,
    connections: HashMap<StreamId, Connection>,
    internal_tx: mpsc::Sender<Internal>,
    internal: mpsc::Receiver<Internal>,
    /// Bytes from the data channel not yet taken by smux (it takes them as its buffer allows).
    inbox: Vec<u8>,
    buf: Vec<u8>,
    traffic: Arc<Traffic>,
    events: VecDeque<PumpEvent>,
    ended: bool,
}

impl std::fmt::Debug for Pump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pump")
            .field("side", &self.mux.side())
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl Pump {
    /// A pump for one end of a session, counting bytes into `traffic`.
    pub fn new(side: Side, config: SessionConfig, traffic: Arc<Traffic>) -> Pump {
        let (internal_tx, internal) = mpsc::channel(64);
        Pump {
            mux: smux::Session::new(side, config, Instant::now()),
            connections: HashMap::new(),
            internal_tx,
            internal,
            inbox: Vec::new(),
            buf: vec![0; READ_SIZE],
            traffic,
            events: VecDeque::new(),
            ended: false,
        }
    }

    /// Opens a stream for `stream` (client side); its `SYN` goes with the next transmit.
    pub fn open(&mut self, stream: TcpStream) -> Result<StreamId, StreamError> {
        let id = self.mux.open_stream()?;
        self.attach(id, stream);
        Ok(id)
    }

    /// Carries `stream` on the stream `id` the peer opened (server side, once dialled).
    pub fn attach(&mut self, id: StreamId, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let connection =
            spawn_connection(id, stream, self.internal_tx.clone(), self.traffic.clone());
        self.connections.insert(id, connection);
    }

    /// Closes a stream the peer opened that gets no connection (its destination refused).
    pub fn refuse(&mut self, id: StreamId) {
        let _ = self.mux.close_stream(id);
    }

    /// Connections carried now.
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Whether the pump takes more bytes from the data channel: the last ones are all in smux.
    pub fn wants_bytes(&self) -> bool {
        self.inbox.is_empty() && !self.ended
    }

    /// Bytes that arrived on the data channel, to be taken by smux as its buffer allows.
    pub fn give_bytes(&mut self, bytes: Vec<u8>) {
        if self.inbox.is_empty() {
            self.inbox = bytes;
        } else {
            self.inbox.extend(bytes);
        }
    }

    /// Up to `max` bytes for the data channel.
    pub fn poll_transmit(&mut self, max: usize) -> Option<Vec<u8>> {
        self.mux.poll_transmit(max)
    }

    /// Waits for something to move: a connection read, a connection's end, room in a writer,
    /// or an smux timer. Cancel-safe; call [`Pump::progress`] after it (or after any other
    /// wake-up of the owner's loop).
    pub async fn wait(&mut self) {
        match self.mux.poll_timeout() {
            Some(at) => tokio::select! {
                Some(event) = self.internal.recv() => self.handle(event),
                () = tokio::time::sleep_until(at.into()) => self.mux.handle_timeout(Instant::now()),
            },
            // The pump holds a sender itself, so the queue never closes while it waits.
            None => {
                if let Some(event) = self.internal.recv().await {
                    self.handle(event);
                }
            }
        }
    }

    fn handle(&mut self, event: Internal) {
        match event {
            Internal::Read(id, bytes) => {
                if let Some(conn) = self.connections.get_mut(&id) {
                    conn.pending.extend(bytes);
                }
            }
            Internal::ReadEnd(id) => {
                if let Some(conn) = self.connections.get_mut(&id) {
                    conn.read_ended = true;
                }
            }
            Internal::Wrote => {}
        }
    }

    /// Moves everything that can move: data-channel bytes into smux, connection reads into
    /// their streams, stream data to the writers; closes what ended. Events follow in
    /// [`Pump::poll_event`].
    pub fn progress(&mut self) {
        // Reads that arrived meanwhile, without waiting.
        while let Ok(event) = self.internal.try_recv() {
            self.handle(event);
        }
        loop {
            let mut progressed = false;
            if !self.inbox.is_empty() {
                let consumed = self.mux.handle_bytes(Instant::now(), &self.inbox);
                self.inbox.drain(..consumed);
                progressed |= consumed > 0;
            }
            let mut finished = Vec::new();
            for (id, conn) in self.connections.iter_mut() {
                if !conn.pending.is_empty() {
                    let (front, _) = conn.pending.as_slices();
                    let accepted = self.mux.write(*id, front).unwrap_or(0);
                    conn.pending.drain(..accepted);
                    conn.credit.add_permits(accepted);
                    progressed |= accepted > 0;
                }
                if self.mux.readable_len(*id) > 0 {
                    match conn.writer.try_reserve() {
                        Ok(permit) => {
                            let n = self.mux.read(*id, &mut self.buf).unwrap_or(0);
                            permit.send(self.buf[..n].to_vec());
                            progressed |= n > 0;
                        }
                        Err(mpsc::error::TrySendError::Full(())) => {}
                        // The connection is gone: nobody will read this stream again.
                        Err(mpsc::error::TrySendError::Closed(())) => finished.push(*id),
                    }
                } else if conn.writer.is_closed() {
                    finished.push(*id);
                }
                if conn.read_ended && conn.pending.is_empty() {
                    finished.push(*id);
                }
            }
            for id in finished {
                self.close(id);
                progressed = true;
            }
            while let Some(event) = self.mux.poll_event() {
                progressed = true;
                match event {
                    smux::Event::Opened(id) => self.events.push_back(PumpEvent::Opened(id)),
                    smux::Event::Refused(id) => self.events.push_back(PumpEvent::Refused(id)),
                    smux::Event::Finished(id) => self.close(id),
                    smux::Event::Closed(reason) => {
                        self.end();
                        self.events.push_back(PumpEvent::Ended(reason));
                        return;
                    }
                    // Handled by the polling above.
                    smux::Event::Readable(_) | smux::Event::Writable(_) => {}
                }
            }
            if !progressed {
                break;
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<PumpEvent> {
        self.events.pop_front()
    }

    /// Closes a stream and its connection, as the agent and the plugin do when either copy
    /// loop ends: the writer delivers what it holds, then shuts the connection down.
    fn close(&mut self, id: StreamId) {
        if let Some(conn) = self.connections.remove(&id) {
            conn.reader.abort();
            self.events.push_back(PumpEvent::Closed(id));
        }
        let _ = self.mux.close_stream(id);
    }

    /// The data channel ended after delivering what it had: hands the connections everything
    /// the session holds for them (waiting for slow writers, at most `grace`), then ends.
    /// Nothing the session accepted is dropped because the end came right behind it.
    pub async fn drain(&mut self, grace: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            self.progress();
            let waiting = self.connections.keys().any(|id| self.mux.readable_len(*id) > 0);
            if !waiting
                || self.ended
                || tokio::time::timeout_at(deadline, self.wait()).await.is_err()
            {
                break;
            }
        }
        self.end();
    }

    /// Ends the session and every connection.
    pub fn end(&mut self) {
        self.ended = true;
        for (_, conn) in self.connections.drain() {
            conn.reader.abort();
        }
        self.mux.close();
        self.inbox.clear();
    }
}

impl Drop for Pump {
    fn drop(&mut self) {
        for (_, conn) in self.connections.drain() {
            conn.reader.abort();
        }
    }
}

fn spawn_connection(
    id: StreamId,
    stream: TcpStream,
    events: mpsc::Sender<Internal>,
    traffic: Arc<Traffic>,
) -> Connection {
    let (mut read, mut write) = stream.into_split();
    let credit = Arc::new(Semaphore::new(CONNECTION_CREDIT));
    let (writer, mut writes) = mpsc::channel::<Vec<u8>>(WRITER_QUEUE);
    let down = traffic.clone();
    let wrote = events.clone();
    tokio::spawn(async move {
        while let Some(bytes) = writes.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
            down.to_connections.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            // A full event queue means the pump is awake anyway.
            let _ = wrote.try_send(Internal::Wrote);
        }
        // Dropping `writes` here tells the pump the connection takes nothing more.
        drop(writes);
        let _ = write.shutdown().await;
        let _ = wrote.try_send(Internal::Wrote);
    });
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
                    traffic.from_connections.fetch_add(n as u64, Ordering::Relaxed);
                    if events.send(Internal::Read(id, buf[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
            }
        }
        let _ = events.send(Internal::ReadEnd(id)).await;
    });
    Connection { writer, reader, credit, pending: VecDeque::new(), read_ended: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A local connection and the pump's end of it.
    async fn connection_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        (client, accepted)
    }

    #[tokio::test]
    async fn what_the_session_accepted_reaches_the_connection_when_the_end_follows_at_once() {
        let mut pump =
            Pump::new(Side::Client, SessionConfig::default(), Arc::new(Traffic::default()));
        let (mut local, carried) = connection_pair().await;
        let id = pump.open(carried).unwrap();
        let mut agent = smux::Session::new(Side::Server, SessionConfig::default(), Instant::now());
        let syn = pump.poll_transmit(1024).unwrap();
        agent.handle_bytes(Instant::now(), &syn);
        // The agent's answer: 1 MiB on the stream, all of it in the data channel's last bytes.
        let size = 1 << 20;
        let mut wire = Vec::new();
        let mut written = 0;
        while written < size {
            written += agent.write(id, &vec![7u8; (size - written).min(60_000)]).unwrap();
            while let Some(bytes) = agent.poll_transmit(1024) {
                wire.extend(bytes);
            }
        }
        pump.give_bytes(wire);
        pump.progress();
        // The session ends now; the pump must still hand over the megabyte.
        let reader = tokio::spawn(async move {
            let mut received = Vec::new();
            local.read_to_end(&mut received).await.unwrap();
            received
        });
        pump.drain(std::time::Duration::from_secs(30)).await;
        drop(pump);
        let received = reader.await.unwrap();
        assert_eq!(received.len(), size, "every byte the session had accepted");
        assert!(received.iter().all(|&b| b == 7));
    }
}
